// Review of bd7bb9f (forgetGarbage no longer spends data/reserve), end to end: deleting small
// (inline) objects — whose bytes live in metadata.sqlite, so their collection is SQLite
// writes too (the inline row's delete, then the garbage bookkeeping) — works on a disk
// filled to the last page while a reader pins the WAL (every commit needs new pages), the
// objects are gone, and nothing stays on the garbage list once the disk has room again.
// The real `coffer server` runs as a child process on a small tmpfs (root needed).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ROOT_KEY_ID, ROOT_SECRET, patternBytes, startChildServer, waitFor, type ChildServer } from '../interop/support.js';
import { fillDisk, mountTmpfs, tmpfsSkipReason, type Tmpfs } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;
const BUCKET = 'inline';
const SKIP = tmpfsSkipReason();

describe('deleting inline objects on a full disk', { skip: SKIP }, () => {
  let mount: Tmpfs;
  let server: ChildServer | undefined;
  let s3: S3Client;
  let reader: Database.Database | undefined;
  const dataDir = () => path.join(mount.dir, 'data');
  const db = () => path.join(dataDir(), 'metadata.sqlite');
  const keys = Array.from({ length: 12 }, (_, i) => `small-${i}`);

  before(async () => {
    const m = mountTmpfs(24 * MiB);
    assert.ok(typeof m !== 'string', `the full-disk tests must run in CI: ${String(m)}`);
    mount = m;
    server = await startChildServer(dataDir());
    s3 = new S3Client({ endpoint: server.url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    assert.ok(await waitFor(async () => existsSync(path.join(dataDir(), 'reserve')), 10_000, 100), 'the server holds data/reserve');
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const [i, Key] of keys.entries()) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: patternBytes(3000, i + 1) }));
    const look = new Database(db(), { readonly: true });
    try {
      assert.equal((look.prepare('SELECT count(*) AS n FROM inline_blobs').get() as { n: number }).n, keys.length, 'the objects are inline rows');
    } finally {
      look.close();
    }
    // A read transaction left open: no checkpoint can reset the WAL, so every commit needs new pages.
    reader = new Database(db(), { readonly: true });
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT count(*) FROM sqlite_master').get();
    fillDisk(path.join(mount.dir, 'filler'));
  });

  after(async () => {
    reader?.close();
    s3?.destroy();
    await server?.kill();
    mount?.unmount();
  });

  it('DeleteObject of each inline object succeeds on the full disk and the objects are gone', async () => {
    for (const Key of keys) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key }));
    for (const Key of keys) await assert.rejects(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key })), { name: 'NoSuchKey' });
    // The disk really was full: the deletes (which a client asked for) needed the reserve.
    assert.ok(!existsSync(path.join(dataDir(), 'reserve')), 'the deletes released the reserve');
  });

  it('once the disk has room, the next collection leaves no inline row and no garbage id behind', async () => {
    reader?.close();
    reader = undefined;
    unlinkSync(path.join(mount.dir, 'filler'));
    // A PUT commits and triggers a collection (of whatever a full disk left listed).
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'after', Body: patternBytes(3000, 99) }));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'after' }));
    const count = (sql: string) => {
      const look = new Database(db(), { readonly: true });
      try {
        return (look.prepare(sql).get() as { n: number }).n;
      } finally {
        look.close();
      }
    };
    assert.ok(await waitFor(async () => count('SELECT count(*) AS n FROM garbage_blobs') === 0, 10_000, 100), 'the garbage list empties');
    assert.equal(count('SELECT count(*) AS n FROM inline_blobs'), 0, 'no inline row is left');
  });
});
