// The encrypted large-GET path where a decrypt worker reads the blob file itself
// (crypto/file-decrypt.ts via sse/body-cipher.ts): a client that goes away mid-GET leaves
// no blob file open and no worker job behind; a blob file that came up short answers 500
// before any header; a damaged segment past the first cuts the connection (never a hang,
// never unauthenticated bytes); multipart objects and part-number GETs come back whole.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { get, type IncomingMessage } from 'node:http';
import { open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { decryptPool } from '../../src/crypto/index.js';
import { FILE_DECRYPT_MIN_BYTES } from '../../src/s3/sse/body-cipher.js';
import { blobFilesOpen, cutAfter } from '../helpers/cut-get.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
let srv: TestServer;
const bucket = uniqueBucket('get-enc-stream');

before(async () => {
  srv = await startTestServer();
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  await srv?.stop();
});

async function signedGet(key: string, opts: { range?: string; partNumber?: number } = {}): Promise<IncomingMessage> {
  const url = await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: bucket, Key: key, PartNumber: opts.partNumber }), { expiresIn: 60 });
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: opts.range ? { range: opts.range } : {}, agent: false }, resolve);
    req.on('error', reject);
  });
}

const blobsOpen = (): Promise<string[]> => blobFilesOpen(srv.dataDir);

/** The blob file of exactly `size` stored bytes. */
async function blobFile(size: number): Promise<string> {
  const root = join(srv.dataDir, 'blobs');
  for (const dir of await readdir(root)) {
    if (dir === 'tmp') continue;
    for (const f of await readdir(join(root, dir)).catch(() => [])) {
      if ((await stat(join(root, dir, f))).size === size) return join(root, dir, f);
    }
  }
  throw new Error(`no blob file of ${size} bytes`);
}

const sealedSize = (n: number): number => n + 16 * Math.max(1, Math.ceil(n / 65536));

test('a client that disconnects mid-GET leaves no blob file open and no decrypt job, and the next GET is whole', async () => {
  const body = randomBytes(24 * MiB);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cut', Body: body }));
  for (let round = 0; round < 3; round++) {
    const res = await signedGet('cut');
    assert.equal(res.statusCode, 200);
    await cutAfter(res, 2 * MiB);
  }
  const deadline = Date.now() + 10_000;
  while (((await blobsOpen()).length > 0 || decryptPool().openJobs > 0) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await blobsOpen(), [], 'every blob file the cut GETs opened is closed');
  assert.equal(decryptPool().openJobs, 0, 'every decrypt job of the cut GETs is closed');

  const res = await signedGet('cut');
  const hash = createHash('sha256');
  for await (const c of res) hash.update(c as Buffer);
  assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
});

test('ranges at, below and above the worker threshold come back byte for byte', async () => {
  const body = randomBytes(3 * MiB + 777);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ranges', Body: body }));
  const t = FILE_DECRYPT_MIN_BYTES;
  const last = body.length - 1;
  for (const [start, end] of [[0, last], [5, 5 + t - 2], [5, 5 + t - 1], [65535, 65535 + t], [MiB - 7, last], [last - t, last]] as const) {
    const res = await signedGet('ranges', { range: `bytes=${start}-${end}` });
    assert.equal(res.statusCode, 206);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body.subarray(start, end + 1)), `range ${start}-${end}`);
  }
});

test('a multipart object comes back whole, and each part by partNumber', async () => {
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 3), randomBytes(300 * 1024)];
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: i + 1, Body: parts[i] }));
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  await srv.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp', UploadId, MultipartUpload: { Parts: done } }));
  const whole: Buffer[] = [];
  for await (const c of await signedGet('mp')) whole.push(c as Buffer);
  assert.ok(Buffer.concat(whole).equals(Buffer.concat(parts)));
  for (let i = 0; i < parts.length; i++) {
    const res = await signedGet('mp', { partNumber: i + 1 });
    assert.equal(res.statusCode, 206);
    const got: Buffer[] = [];
    for await (const c of res) got.push(c as Buffer);
    assert.ok(Buffer.concat(got).equals(parts[i]!), `part ${i + 1}`);
  }
});

test('a client that disconnects mid-GET of a multipart object leaves no blob file open and no decrypt job', async () => {
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB)];
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp-cut' }));
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp-cut', UploadId, PartNumber: i + 1, Body: parts[i] }));
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  await srv.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp-cut', UploadId, MultipartUpload: { Parts: done } }));
  for (const cutAt of [2 * MiB, 6 * MiB]) {
    const res = await signedGet('mp-cut');
    await cutAfter(res, cutAt);
  }
  const deadline = Date.now() + 10_000;
  while (((await blobsOpen()).length > 0 || decryptPool().openJobs > 0) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await blobsOpen(), []);
  assert.equal(decryptPool().openJobs, 0);
});

test('a blob file that came up short answers 500 before any header, not a short body', async () => {
  const body = randomBytes(3 * MiB);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'short', Body: body }));
  await truncate(await blobFile(sealedSize(body.length)), 1000);
  const res = await signedGet('short');
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  assert.equal(res.statusCode, 500);
  assert.match(Buffer.concat(chunks).toString(), /<Code>InternalError<\/Code>/);
});

test('a damaged segment past the first cuts the connection: no hang, and no byte of it is sent', async () => {
  const body = randomBytes(6 * MiB + 5);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'damaged', Body: body }));
  const file = await blobFile(sealedSize(body.length));
  const damagedSegment = 40; // past the first read batch (16 segments)
  const fh = await open(file, 'r+');
  try {
    const at = damagedSegment * 65552 + 1000;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0]! ^= 0x20;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
  const res = await signedGet('damaged');
  assert.equal(res.statusCode, 200);
  const got: Buffer[] = [];
  const cut = await new Promise<boolean>((resolve) => {
    res.on('data', (c: Buffer) => got.push(c));
    res.on('end', () => resolve(false));
    res.on('error', () => resolve(true));
    res.on('aborted', () => resolve(true));
  });
  assert.ok(cut, 'the connection is cut, not ended as if whole');
  const sent = Buffer.concat(got);
  assert.ok(sent.length <= damagedSegment * 65536, 'nothing of the damaged segment or after it');
  assert.ok(sent.equals(body.subarray(0, sent.length)), 'what was sent is the authenticated prefix');
  const deadline = Date.now() + 10_000;
  while (((await blobsOpen()).length > 0 || decryptPool().openJobs > 0) && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await blobsOpen(), []);
  assert.equal(decryptPool().openJobs, 0);
});
