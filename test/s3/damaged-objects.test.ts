// A GET of an object whose stored bytes are missing or damaged answers 500 InternalError
// before any header is sent whenever the damage is detectable up front (an inline blob, the
// file of a larger one, the first segment the range touches), and the server log names the
// bucket and key. Before, such a GET could send 200 and its headers and then cut the
// connection, which clients read as a network error and retry.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { readdir, truncate, unlink, open } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let meta: SqliteMetadataStore;
let bucket: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  const log = pino({ level: 'info' }, { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) });
  srv = await startTestServer({}, { log });
  bucket = uniqueBucket('damaged');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  meta = SqliteMetadataStore.open(join(srv.dataDir, 'metadata.sqlite'));
});

after(async () => {
  await meta?.close();
  await srv?.stop();
});

interface RawAnswer {
  status: number;
  body: string;
  /** The response ended normally (not cut after its headers). */
  complete: boolean;
}

/** A presigned GET over a raw socket: exactly which status line arrived, and whether the body completed. */
async function rawGet(key: string, range?: string): Promise<RawAnswer> {
  const url = await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: range ? { range } : {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let complete = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (complete = res.complete));
      res.on('close', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), complete: complete && res.complete }));
      res.on('error', () => undefined);
    });
    req.on('error', reject);
  });
}

async function put(key: string, body: Buffer): Promise<string> {
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const rec = await meta.getObject(bucket, key);
  assert.ok(rec, 'the object is recorded');
  assert.equal(rec.parts.length, 1);
  return rec.parts[0]!.blobId;
}

/** The file of a file-tier blob ("i" + hex, or plain hex: the file is named by the hex). */
async function blobFile(blobId: string): Promise<string> {
  const name = blobId.startsWith('i') ? blobId.slice(1) : blobId;
  const root = join(srv.dataDir, 'blobs');
  for (const dir of await readdir(root)) {
    if (dir === 'tmp') continue;
    if ((await readdir(join(root, dir))).includes(name)) return join(root, dir, name);
  }
  throw new Error(`no file for blob ${blobId}`);
}

async function flipByte(file: string, offset: number): Promise<void> {
  const h = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await h.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x01;
    await h.write(b, 0, 1, offset);
  } finally {
    await h.close();
  }
}

/** The GET answers 500 InternalError before any header (raw and through the SDK) and the log names the object. */
async function assertFailsUpFront(key: string, range?: string): Promise<void> {
  const logged = logLines.length;
  const raw = await rawGet(key, range);
  assert.equal(raw.status, 500, `a 500 status line, not ${raw.status} followed by a cut connection`);
  assert.ok(raw.complete, 'the error response is complete');
  assert.match(raw.body, /<Code>InternalError<\/Code>/);
  const named = logLines.slice(logged).filter((l) => l.bucket === bucket && l.key === key && (l.level as number) >= 50);
  assert.ok(named.length > 0, `an error log line names bucket and key: ${JSON.stringify(logLines.slice(logged))}`);
  assert.ok(typeof named[0]!.requestId === 'string' && named[0]!.msg, 'with the request id and what failed');
  await assert.rejects(
    srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range })),
    (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e.name === 'InternalError' && e.$metadata?.httpStatusCode === 500,
  );
}

test('a small object whose inline blob is gone answers 500 before any header', async () => {
  const blobId = await put('small-missing', randomBytes(1000));
  assert.ok(meta.inlineBlobs.getNow!(blobId), 'the blob is inline');
  assert.equal(await meta.inlineBlobs.delete(blobId), true);
  await assertFailsUpFront('small-missing');
});

test('a small object whose inline bytes were altered answers 500 before any header', async () => {
  const blobId = await put('small-altered', randomBytes(1000));
  const data = Buffer.from(meta.inlineBlobs.getNow!(blobId)!);
  data[20] = data[20]! ^ 0x01;
  await meta.inlineBlobs.delete(blobId);
  await meta.inlineBlobs.putPending(blobId, data);
  await assertFailsUpFront('small-altered');
});

test('a large object whose blob file is gone answers 500 before any header', async () => {
  const blobId = await put('large-missing', randomBytes(3 * 1024 * 1024));
  await unlink(await blobFile(blobId));
  await assertFailsUpFront('large-missing');
});

test('a large object whose blob file was truncated inside its first segment answers 500 before any header', async () => {
  const blobId = await put('large-truncated', randomBytes(3 * 1024 * 1024));
  await truncate(await blobFile(blobId), 1000);
  await assertFailsUpFront('large-truncated');
});

test('a large object whose first segment was altered answers 500 before any header', async () => {
  const blobId = await put('large-flipped', randomBytes(3 * 1024 * 1024));
  await flipByte(await blobFile(blobId), 10);
  await assertFailsUpFront('large-flipped');
});

test('a ranged GET whose first segment was altered answers 500 before any header', async () => {
  const blobId = await put('large-range-flipped', randomBytes(3 * 1024 * 1024));
  // Segment 2 of the stored blob (64 KiB of ciphertext and a 16-byte tag per segment).
  await flipByte(await blobFile(blobId), 2 * (64 * 1024 + 16) + 100);
  await assertFailsUpFront('large-range-flipped', 'bytes=140000-200000');
  // The undamaged segments before it still read.
  const ok = await rawGet('large-range-flipped', 'bytes=0-1000');
  assert.equal(ok.status, 206);
  assert.ok(ok.complete);
});

test('a multipart object whose first part blob is gone answers 500 before any header', async () => {
  const key = 'multipart-missing';
  const parts = [randomBytes(5 * 1024 * 1024), randomBytes(1024 * 1024)];
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const done = [];
  for (const [i, body] of parts.entries()) {
    const r = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  await srv.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }));
  const rec = (await meta.getObject(bucket, key))!;
  await unlink(await blobFile(rec.parts[0]!.blobId));
  await assertFailsUpFront(key);
});

test('an undamaged large object still streams whole and ranged, byte for byte (the opened first chunk is not lost or sent twice)', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 123);
  await put('large-intact', data);
  const whole = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'large-intact' }));
  assert.deepEqual(Buffer.from(await whole.Body!.transformToByteArray()), data);
  const ranged = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'large-intact', Range: 'bytes=70000-2000000' }));
  assert.deepEqual(Buffer.from(await ranged.Body!.transformToByteArray()), data.subarray(70000, 2000001));
});
