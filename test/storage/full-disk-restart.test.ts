// Issue 12, a completely full disk: a server killed on a disk filled to the last page starts
// again on that disk (start-up cleanup that cannot write is skipped with a warning; the
// data directory's reserve gives SQLite room to open), serves reads, and deletes work —
// DeleteObject, DeleteObjects, AbortMultipartUpload, DeleteBucket — so space is reclaimed
// through the API and a later PUT succeeds. The real `coffer server` runs as a child
// process on a small tmpfs; mounting needs root (skipped elsewhere, never in CI).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import {
  AbortMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand,
  DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { ROOT_KEY_ID, ROOT_SECRET, patternBytes, startChildServer, waitFor, type ChildServer } from '../interop/support.js';
import { fillDisk, mountTmpfs, tmpfsSkipReason, type Tmpfs } from '../helpers/tmpfs.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = 'full';

const SKIP = tmpfsSkipReason();

describe('a server on a completely full disk', { skip: SKIP }, () => {
  let mount: Tmpfs;
  let server: ChildServer | undefined;
  let s3: S3Client | undefined;
  const dataDir = () => path.join(mount.dir, 'data');
  const small = patternBytes(3 * KiB, 1);
  const big = patternBytes(2 * MiB, 2);
  let uploadId = '';
  let filled: string[] = [];

  async function start(): Promise<void> {
    server = await startChildServer(dataDir());
    s3 = new S3Client({
      endpoint: server.url, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    });
  }

  async function stop(how: 'kill' | 'stop'): Promise<void> {
    s3?.destroy();
    await (how === 'kill' ? server?.kill() : server?.stop());
    server = undefined;
    s3 = undefined;
  }

  const client = (): S3Client => {
    assert.ok(s3, 'server is running');
    return s3;
  };

  async function get(key: string): Promise<Buffer> {
    const r = await client().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  before(async () => {
    const m = mountTmpfs(24 * MiB);
    assert.ok(typeof m !== 'string', `the full-disk tests must run in CI: ${String(m)}`);
    mount = m;
    await start();
    // The scenario is a server holding its reserve when the disk fills; without it a start on
    // a full disk is refused by design (the hint says what to free).
    assert.ok(await waitFor(async () => existsSync(path.join(dataDir(), 'reserve')), 10_000, 100), 'the server holds data/reserve after its first start');
    await client().send(new CreateBucketCommand({ Bucket: BUCKET }));
    await client().send(new CreateBucketCommand({ Bucket: 'empty' }));
    await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'small', Body: small }));
    await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big', Body: big }));
    uploadId = (await client().send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp' }))).UploadId!;
    await client().send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp', UploadId: uploadId, PartNumber: 1, Body: patternBytes(MiB, 3) }));
    // Objects until the server answers 507, then a filler to the last page.
    for (let i = 0; ; i++) {
      assert.ok(i < 100, 'no 507 after 100 MiB on a 24 MiB disk');
      try {
        await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: `fill-${i}`, Body: patternBytes(MiB, 10 + i) }));
        filled.push(`fill-${i}`);
      } catch (e) {
        assert.equal((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 507, String(e));
        break;
      }
    }
    fillDisk(path.join(mount.dir, 'filler'));
    // The 507s spent nothing of it (a failed PUT's garbage bookkeeping once did: full-disk-reserve.test.ts).
    assert.ok(existsSync(path.join(dataDir(), 'reserve')), 'the server still holds data/reserve after the 507s');
  });

  after(async () => {
    await stop('kill');
    mount?.unmount();
  });

  it('killed (SIGKILL) on the full disk, it starts again on it and serves reads', async () => {
    await stop('kill');
    await start();
    assert.deepEqual(await get('small'), small);
    assert.deepEqual(await get('big'), big);
  });

  it('DeleteObject, DeleteObjects, AbortMultipartUpload and DeleteBucket work on the full disk', async () => {
    await client().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'big' }));
    const r = await client().send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: filled.slice(0, 3).map((Key) => ({ Key })) } }));
    assert.deepEqual(r.Errors ?? [], []);
    assert.equal(r.Deleted?.length, 3);
    filled = filled.slice(3);
    await client().send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp', UploadId: uploadId }));
    await client().send(new DeleteBucketCommand({ Bucket: 'empty' }));
    await assert.rejects(client().send(new GetObjectCommand({ Bucket: BUCKET, Key: 'big' })), { name: 'NoSuchKey' });
  });

  it('the space the deletes gave back takes a new object', async () => {
    const fresh = patternBytes(MiB, 99);
    await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'after', Body: fresh }));
    assert.deepEqual(await get('after'), fresh);
  });

  it('stopped cleanly (SIGTERM) on a full disk, it starts again on it', async () => {
    // The reserve is taken again in the background once the deletes gave room for it.
    assert.ok(await waitFor(async () => existsSync(path.join(dataDir(), 'reserve')), 20_000, 200), 'the reserve is taken again');
    fillDisk(path.join(mount.dir, 'filler-2'));
    await stop('stop');
    await start();
    assert.deepEqual(await get('small'), small);
    unlinkSync(path.join(mount.dir, 'filler-2'));
  });

  it('a running server whose disk fills to the last page still deletes (the reserve gives SQLite room)', async () => {
    assert.ok(await waitFor(async () => existsSync(path.join(dataDir(), 'reserve')), 20_000, 200), 'the reserve is taken again');
    fillDisk(path.join(mount.dir, 'filler-3'));
    for (const Key of filled.splice(0, 4)) await client().send(new DeleteObjectCommand({ Bucket: BUCKET, Key }));
    const fresh = patternBytes(MiB, 98);
    await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'after-2', Body: fresh }));
    assert.deepEqual(await get('after-2'), fresh);
  });
});
