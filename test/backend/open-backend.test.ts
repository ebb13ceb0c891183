// The backend module: openBackend builds every store of a data directory and recovers
// storage before the server uses it; openStoresBesideServer opens only the stores an
// admin command names and recovers nothing (a server may be writing at the same time).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend, openStoresBesideServer, type BackendConfig } from '../../src/backend/open-backend.js';
import { readAll, writeBlob } from '../storage/blob-store.contract.js';
import { objectRec, bucketRec } from '../storage/metadata-store.contract.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function config(): Promise<BackendConfig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-backend-'));
  dirs.push(dataDir);
  return { dataDir, fsync: false, region: 'us-east-1', auditMaxFileBytes: 1024 * 1024, auditMaxFiles: 3 };
}

test('openBackend lays out the data directory and every store works through its interface', async () => {
  const c = await config();
  const b = await openBackend(c);
  try {
    assert.deepEqual(b.recovered, { removedBlobs: 0 });
    await b.meta.createBucket(bucketRec('b1'));
    const w = await writeBlob(b.blobs, Buffer.from('small object'));
    await b.meta.putObject(objectRec('b1', 'k', [w.blobId]));
    assert.ok((await b.meta.inlineBlobs.get(w.blobId))?.equals(Buffer.from('small object')), 'a small blob lives in the metadata store');
    assert.deepEqual(await b.kms.listKeys(undefined, 10), []);
    assert.deepEqual(await b.iam.listUsers(), []);
    assert.deepEqual(await b.usage.totals(0, Date.now()), { requests: 0, errors: 0, avoided: 0 });
    assert.deepEqual((await b.audit.query({ limit: 1 })).events, []);
  } finally {
    await b.close();
  }
  assert.deepEqual((await readdir(c.dataDir)).filter((n) => !/-(wal|shm)$/.test(n)).sort(), ['audit', 'blobs', 'iam.sqlite', 'kms.sqlite', 'metadata.sqlite', 'reserve', 'usage.sqlite']);
  assert.deepEqual(await readdir(join(c.dataDir, 'audit')), ['kms.log', 'reserve']);
});

test('openBackend recovers storage: a blob left pending by an interrupted write is deleted, published ones stay', async () => {
  const c = await config();
  const first = await openBackend(c);
  await first.meta.createBucket(bucketRec('b1'));
  const kept = await writeBlob(first.blobs, Buffer.from('kept'));
  await first.meta.putObject(objectRec('b1', 'k', [kept.blobId]));
  const interrupted = await writeBlob(first.blobs, Buffer.from('never published'));
  await first.close();

  const beside = openStoresBesideServer(c.dataDir, ['meta']);
  try {
    assert.ok(await beside.meta.inlineBlobs.get(interrupted.blobId), 'a store opened beside a server recovers nothing');
  } finally {
    await beside.close();
  }

  const again = await openBackend(c);
  try {
    assert.deepEqual(again.recovered, { removedBlobs: 1 });
    assert.equal(await again.meta.inlineBlobs.get(interrupted.blobId), undefined);
    assert.equal((await readAll(again.blobs.read(kept.blobId))).toString(), 'kept');
  } finally {
    await again.close();
  }
});

test('openStoresBesideServer opens only the stores it is asked for', async () => {
  const c = await config();
  const stores = openStoresBesideServer(c.dataDir, ['iam', 'usage']);
  try {
    assert.deepEqual(await stores.iam.listUsers(), []);
    assert.deepEqual(await stores.usage.keyHoursBy(0, Date.now()), []);
    assert.deepEqual(Object.keys(stores).sort(), ['close', 'iam', 'usage']);
  } finally {
    await stores.close();
  }
  assert.deepEqual((await readdir(c.dataDir)).filter((n) => !/-(wal|shm)$/.test(n)).sort(), ['iam.sqlite', 'usage.sqlite']);
});

test('with fsync on every SQLite store commits with synchronous=FULL (KMS keys, IAM users and usage counts survive a power loss too); with it off, NORMAL', async () => {
  for (const fsync of [true, false]) {
    const c = { ...(await config()), fsync };
    const b = await openBackend(c);
    try {
      const level = (s: unknown) => (s as { synchronous: 'NORMAL' | 'FULL' }).synchronous;
      const want = fsync ? 'FULL' : 'NORMAL';
      assert.deepEqual([b.meta, b.kms, b.iam, b.usage].map(level), [want, want, want, want], `fsync ${fsync}`);
    } finally {
      await b.close();
    }
  }
});
