// Small objects are as durable as the fsync option says: with fsync on, metadata.sqlite
// commits with synchronous=FULL (each commit fsyncs the WAL before it is visible), so an
// acknowledged inline blob and the commit that publishes it survive a power loss; with
// fsync off it stays NORMAL (a process crash loses nothing, a power loss may). Concurrent
// writers share one commit (group commit), so N concurrent small PUTs cost fewer than N
// fsyncs — seen here as WAL frames, since every commit appends the pages it changed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend } from '../../src/backend/open-backend.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { StorageConflictError } from '../../src/storage/types.js';
import { bucketRec, objectRec } from './metadata-store.contract.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'coffer-durability-'));
  dirs.push(d);
  return d;
}

for (const fsync of [true, false]) {
  test(`openBackend with fsync ${fsync ? 'on' : 'off'} commits metadata with synchronous=${fsync ? 'FULL' : 'NORMAL'}`, async () => {
    const b = await openBackend({ dataDir: await tempDir(), fsync, region: 'us-east-1', auditMaxFileBytes: 1024 * 1024, auditMaxFiles: 3 });
    try {
      assert.ok(b.meta instanceof SqliteMetadataStore);
      assert.equal(b.meta.synchronous, fsync ? 'FULL' : 'NORMAL');
    } finally {
      await b.close();
    }
  });
}

/** WAL frames a burst of `n` concurrent inline-blob + putObject writes appends (page size 4096; blobs small enough to share pages). */
async function framesFor(s: SqliteMetadataStore, file: string, n: number): Promise<number> {
  const before = (await stat(`${file}-wal`)).size;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const id = `i${String(i).padStart(32, '0')}`;
      await s.inlineBlobs.putPending(id, Buffer.alloc(64, i));
      await s.putObject(objectRec('g', `k${i}`, [id]));
    }),
  );
  return ((await stat(`${file}-wal`)).size - before) / (24 + 4096);
}

test('with synchronous=FULL, concurrent writers share commits: 64 small PUTs append far fewer than 64 commits of WAL', async () => {
  const file = join(await tempDir(), 'm.sqlite');
  const s = SqliteMetadataStore.open(file, { synchronous: 'FULL', backgroundCheckpoint: false });
  try {
    await s.createBucket(bucketRec('g'));
    const frames = await framesFor(s, file, 64);
    // One commit per write would append at least 128 frames (two commits per PUT, each
    // rewriting at least one page); a shared commit writes each changed page once.
    assert.ok(frames < 64, `64 concurrent PUTs appended ${frames} WAL frames`);
    for (let i = 0; i < 64; i++) assert.ok((await s.getObject('g', `k${i}`)) !== undefined);
    assert.deepEqual(await s.takeGarbage(true), [], 'every pending mark was cleared by its PUT');
  } finally {
    await s.close();
  }
});

test('a write that fails inside a shared commit fails alone; the others in the batch commit', async () => {
  const s = SqliteMetadataStore.open(join(await tempDir(), 'm.sqlite'), { synchronous: 'FULL', backgroundCheckpoint: false });
  try {
    await s.createBucket(bucketRec('g'));
    await s.putObject(objectRec('g', 'taken', ['i-old']));
    const results = await Promise.allSettled([
      s.putObject(objectRec('g', 'a', ['i-a'])),
      s.putObject(objectRec('g', 'taken', ['i-new']), { kind: 'ifNoneMatchStar' }),
      s.putObject(objectRec('nobucket', 'x', ['i-x'])),
      s.putObject(objectRec('g', 'b', ['i-b'])),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    assert.equal(((results[1] as PromiseRejectedResult).reason as StorageConflictError).kind, 'PreconditionFailed');
    assert.equal(((results[2] as PromiseRejectedResult).reason as StorageConflictError).kind, 'NoSuchBucket');
    assert.deepEqual((await s.getObject('g', 'taken'))!.parts.map((p) => p.blobId), ['i-old'], 'the failed overwrite left the old object');
    assert.ok((await s.getObject('g', 'a')) !== undefined);
    assert.ok((await s.getObject('g', 'b')) !== undefined);
    assert.deepEqual(await s.takeGarbage(false), [], 'the failed overwrite moved nothing to garbage');
  } finally {
    await s.close();
  }
});
