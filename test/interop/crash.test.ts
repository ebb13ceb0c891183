// The atomicity requirement, end to end: "an overwrite interrupted at any point (process
// killed) leaves either the old or the new object, never a mix or a torn one; leftovers
// of interrupted writes are cleaned up on start". The real `coffer server` runs as a
// child process; it is SIGKILLed mid-request and restarted on the same data directory.

import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand,
  PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  ROOT_KEY_ID, ROOT_SECRET, committedBlobs, openRequest, patternBytes, sha256hex, sleep, startChildServer, tmpBlobs, waitFor,
  type ChildServer,
} from './support.js';

const MiB = 1024 * 1024;
const BUCKET = 'crash-bucket';

let dataDir: string;
let server: ChildServer | undefined;
let s3: S3Client | undefined;

async function start(): Promise<void> {
  server = await startChildServer(dataDir);
  s3 = new S3Client({
    endpoint: server.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    maxAttempts: 1,
  });
}

async function killServer(): Promise<void> {
  await server?.kill();
  s3?.destroy();
  server = undefined;
  s3 = undefined;
}

async function restart(): Promise<void> {
  await killServer();
  await start();
}

function client(): S3Client {
  assert.ok(s3, 'server is running');
  return s3;
}

async function getBytes(key: string): Promise<Buffer | 'NoSuchKey'> {
  try {
    const r = await client().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    if ((e as Error).name === 'NoSuchKey') return 'NoSuchKey';
    throw e;
  }
}

async function listKeys(): Promise<{ key: string; size: number }[]> {
  const r = await client().send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (r.Contents ?? []).map((c) => ({ key: c.Key!, size: c.Size! }));
}

/** Total bytes in the server's temporary blob area. */
async function tmpBytes(): Promise<number> {
  let n = 0;
  for (const f of await tmpBlobs(dataDir)) n += (await fs.stat(path.join(dataDir, 'blobs', 'tmp', f)).catch(() => ({ size: 0 }))).size;
  return n;
}

interface SlowPut {
  /** Settles when the request fails or answers (after the kill it fails). */
  done: Promise<{ status?: number; error?: Error }>;
  /** Writes the rest of the body; resolves once the last byte is handed to the socket. */
  finish(): Promise<void>;
}

/**
 * A signed PUT announcing `body.length` bytes that sends only the first `sendFirst` bytes,
 * then waits (holding the server mid-write) until finish() is called.
 */
async function slowPut(pathAndKey: string, query: Record<string, string>, body: Buffer, sendFirst: number): Promise<SlowPut> {
  assert.ok(server);
  const req: http.ClientRequest = await openRequest({
    method: 'PUT', url: server.url, path: pathAndKey, query,
    headers: { 'content-length': String(body.length), 'content-type': 'application/octet-stream' },
  });
  const done = new Promise<{ status?: number; error?: Error }>((resolve) => {
    req.on('error', (error) => resolve({ error }));
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
      res.on('error', (error) => resolve({ error }));
    });
  });
  let off = 0;
  const pump = async (limit: number): Promise<void> => {
    while (off < limit && !req.destroyed) {
      const end = Math.min(limit, off + 256 * 1024);
      const more = req.write(body.subarray(off, end));
      off = end;
      if (!more) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            req.off('drain', go);
            req.off('close', go);
            resolve();
          };
          req.on('drain', go);
          req.on('close', go);
        });
      }
    }
  };
  await pump(sendFirst);
  return {
    done,
    async finish() {
      await pump(body.length);
      if (!req.destroyed) await new Promise<void>((r) => req.end(() => r()));
    },
  };
}

/**
 * Holds the write lock of the server's metadata database (BEGIN IMMEDIATE on a connection of
 * the test's own): the server can still write and commit a blob, but not the record that
 * publishes it, so it cannot acknowledge a PUT while the lock is held, however fast the
 * machine. Released (and closed) before the server starts again.
 */
function holdMetadataLock(dir: string): { release(): void } {
  const db = new Database(path.join(dir, 'metadata.sqlite'), { timeout: 30_000 });
  db.exec('BEGIN IMMEDIATE');
  return {
    release() {
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

describe('a server killed mid-request', () => {
  // Each test has a data directory and server of its own: the blob counts it asserts are
  // its own, whatever ran before it.
  beforeEach(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-crash-interop-'));
    await start();
    await client().send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  afterEach(async () => {
    await killServer();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the old object when an overwrite is killed half-way through its body, and removes the partial blob on start', async () => {
    const v1 = patternBytes(1 * MiB, 1);
    await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: 'obj', Body: v1 }));
    const before = await committedBlobs(dataDir);
    assert.equal(before.length, 1, 'v1 is one blob');

    const v2 = patternBytes(64 * MiB, 2);
    const put = await slowPut(`/${BUCKET}/obj`, {}, v2, 32 * MiB);
    // The server really is mid-write: a temporary blob holds part of v2.
    assert.ok(await waitFor(async () => (await tmpBytes()) >= 16 * MiB, 10_000), `server never buffered v2 to disk; tmp=${await tmpBytes()}`);
    await killServer();
    const outcome = await put.done;
    assert.ok(outcome.error, 'the interrupted PUT did not succeed');
    assert.ok((await tmpBlobs(dataDir)).length > 0, 'the kill left a partial blob behind (so the clean-up below is observable)');

    await start();
    const got = await getBytes('obj');
    assert.ok(Buffer.isBuffer(got), 'the object still exists');
    assert.equal(sha256hex(got), sha256hex(v1), 'GET returns exactly v1');
    assert.deepEqual(await listKeys(), [{ key: 'obj', size: v1.length }]);
    assert.deepEqual(await committedBlobs(dataDir), before, 'only v1\'s blob remains');
    assert.deepEqual(await tmpBlobs(dataDir), [], 'tmp/ is emptied on start');
  });

  it('leaves the old or the new version, whole, when killed around the commit of an overwrite', async (t) => {
    // Each timed round overwrites with a new version and kills at a different moment after
    // the last byte was sent, i.e. somewhere in verify / blob commit / metadata commit / GC —
    // where the machine is fast enough, after the answer: those rounds sample what they can.
    // The held rounds below kill at the moment that matters most on any machine: the new
    // blob committed, its record not.
    // Calibrate: how long the server takes from the last byte to its answer here and now.
    let current = patternBytes(4 * MiB, 99);
    const probe = await slowPut(`/${BUCKET}/obj`, {}, current, current.length - 64 * 1024);
    await probe.finish();
    const t0 = performance.now();
    assert.equal((await probe.done).status, 200);
    const commitMs = performance.now() - t0;
    const outcomes: string[] = [];
    let raced = 0;
    const delays = [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.3].map((f) => Math.round(f * commitMs));
    for (const [i, delay] of delays.entries()) {
      const next = patternBytes(4 * MiB, 100 + i);
      const put = await slowPut(`/${BUCKET}/obj`, {}, next, next.length - 64 * 1024);
      await put.finish();
      await sleep(delay); // not the response: the kill must race the commit
      await killServer();
      const answered = (await put.done).status;
      if (answered !== 200) raced++;
      await start();
      const got = await getBytes('obj');
      assert.ok(Buffer.isBuffer(got), `round ${i}: the object exists`);
      const h = sha256hex(got);
      assert.ok(h === sha256hex(current) || h === sha256hex(next), `round ${i}: GET returned neither the old nor the new version (size ${got.length})`);
      if (answered === 200) assert.equal(h, sha256hex(next), `round ${i}: an acknowledged PUT was lost`);
      outcomes.push(`${h === sha256hex(next) ? 'new' : 'old'}${answered === 200 ? '' : ' (killed in flight)'}`);
      if (h === sha256hex(next)) current = next;
      assert.equal((await committedBlobs(dataDir)).length, 1, `round ${i}: exactly one blob remains`);
      assert.deepEqual(await tmpBlobs(dataDir), []);
    }
    t.diagnostic(`commit takes ~${commitMs.toFixed(1)} ms; kill delays ${delays.join(', ')} ms; outcomes: ${outcomes.join(', ')}; ${raced} of ${delays.length} timed kills before the answer`);

    // Held rounds: the test holds the metadata database's write lock from before the last
    // bytes until after the kill, and kills once the new blob is renamed into place.
    for (let i = 0; i < 2; i++) {
      const next = patternBytes(4 * MiB, 200 + i);
      const put = await slowPut(`/${BUCKET}/obj`, {}, next, next.length - 64 * 1024);
      assert.ok(await waitFor(async () => (await tmpBytes()) >= 1 * MiB, 30_000), `held round ${i}: the server writes the body`);
      const lock = holdMetadataLock(dataDir);
      try {
        await put.finish();
        assert.ok(await waitFor(async () => (await committedBlobs(dataDir)).length === 2, 30_000), `held round ${i}: the new blob is committed beside the old one`);
        await killServer();
      } finally {
        lock.release();
      }
      assert.notEqual((await put.done).status, 200, `held round ${i}: no answer while the record could not be written`);
      await start();
      const got = await getBytes('obj');
      assert.ok(Buffer.isBuffer(got), `held round ${i}: the object exists`);
      assert.equal(sha256hex(got), sha256hex(current), `held round ${i}: the old version, whole (the new one's record was never written)`);
      assert.equal((await committedBlobs(dataDir)).length, 1, `held round ${i}: the new version's committed blob is removed on start`);
      assert.deepEqual(await tmpBlobs(dataDir), []);
    }
  });

  it('keeps committed parts of a multipart upload killed mid-part; the upload can then be completed or aborted', async () => {
    const a1 = patternBytes(5 * MiB, 11);
    const a2 = patternBytes(2 * MiB + 3, 12);
    const b1 = patternBytes(5 * MiB, 21);
    const md5 = (b: Buffer) => `"${createHash('md5').update(b).digest('hex')}"`;
    const A = (await client().send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp-a' }))).UploadId!;
    const B = (await client().send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp-b' }))).UploadId!;
    const ea1 = (await client().send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp-a', UploadId: A, PartNumber: 1, Body: a1 }))).ETag!;
    const ea2 = (await client().send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp-a', UploadId: A, PartNumber: 2, Body: a2 }))).ETag!;
    const aBlobs = await committedBlobs(dataDir);
    assert.equal(aBlobs.length, 2);
    await client().send(new UploadPartCommand({ Bucket: BUCKET, Key: 'mp-b', UploadId: B, PartNumber: 1, Body: b1 }));
    const allParts = await committedBlobs(dataDir);
    assert.equal(allParts.length, 3);

    const a3 = patternBytes(32 * MiB, 13);
    const part3 = await slowPut(`/${BUCKET}/mp-a`, { partNumber: '3', uploadId: A }, a3, 16 * MiB);
    assert.ok(await waitFor(async () => (await tmpBytes()) >= 8 * MiB, 10_000), 'server is writing part 3');
    await killServer();
    assert.ok((await part3.done).error);

    await start();
    assert.deepEqual(await tmpBlobs(dataDir), [], 'tmp/ is emptied on start');
    assert.deepEqual(await committedBlobs(dataDir), allParts, 'committed parts survive; nothing of part 3 remains');
    const pa = await client().send(new ListPartsCommand({ Bucket: BUCKET, Key: 'mp-a', UploadId: A }));
    assert.deepEqual(pa.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, a1.length, md5(a1)], [2, a2.length, md5(a2)]]);
    const pb = await client().send(new ListPartsCommand({ Bucket: BUCKET, Key: 'mp-b', UploadId: B }));
    assert.deepEqual(pb.Parts?.map((p) => [p.PartNumber, p.Size]), [[1, b1.length]]);
    const uploads = await client().send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    assert.deepEqual(uploads.Uploads?.map((u) => u.Key).sort(), ['mp-a', 'mp-b']);

    await client().send(new CompleteMultipartUploadCommand({
      Bucket: BUCKET, Key: 'mp-a', UploadId: A,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: ea1 }, { PartNumber: 2, ETag: ea2 }] },
    }));
    const got = await getBytes('mp-a');
    assert.ok(Buffer.isBuffer(got));
    assert.equal(sha256hex(got), sha256hex(Buffer.concat([a1, a2])), 'the completed object is parts 1 and 2');

    await client().send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp-b', UploadId: B }));
    assert.ok(await waitFor(async () => (await committedBlobs(dataDir)).length === 2, 5000), 'abort deletes the aborted upload\'s part blob');
    assert.deepEqual(await committedBlobs(dataDir), aBlobs, 'what remains are exactly the completed object\'s parts');
    const left = await client().send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    assert.equal(left.Uploads?.length ?? 0, 0);
    await assert.rejects(client().send(new ListPartsCommand({ Bucket: BUCKET, Key: 'mp-b', UploadId: B })), { name: 'NoSuchUpload' });

    await client().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'mp-a' }));
    assert.ok(await waitFor(async () => (await committedBlobs(dataDir)).length === 0, 5000), 'deleting the object frees its part blobs');
  });

  it('a DELETE racing a kill is either done or not: the object is intact or absent, and no blob leaks', async (t) => {
    const outcomes: string[] = [];
    for (const [i, delay] of [0, 1, 2, 4, 8, 15].entries()) {
      const body = patternBytes(256 * 1024, 300 + i);
      const key = `del-${i}`;
      await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      const del = client().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })).then(() => 'acked', () => 'failed');
      await sleep(delay);
      await killServer();
      const acked = await del;
      await start();
      const got = await getBytes(key);
      if (got === 'NoSuchKey') {
        outcomes.push(`absent(${acked})`);
        assert.deepEqual(await committedBlobs(dataDir), [], `round ${i}: a deleted object leaves no blob after restart`);
      } else {
        assert.notEqual(acked, 'acked', `round ${i}: an acknowledged DELETE was lost`);
        outcomes.push('present');
        assert.equal(sha256hex(got), sha256hex(body), `round ${i}: a surviving object is intact`);
        assert.equal((await committedBlobs(dataDir)).length, 1);
        await client().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
        await restart();
      }
      assert.deepEqual(await tmpBlobs(dataDir), []);
    }
    t.diagnostic(`outcomes by round: ${outcomes.join(', ')}`);
  });
});
