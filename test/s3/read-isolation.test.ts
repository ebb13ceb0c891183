// Reads are isolated from concurrent writers: a GET that has sent its headers finishes with
// the bytes of the object it started reading, even when the object is overwritten or
// deleted mid-download and garbage collection runs meanwhile. The blobs it still needs are
// reclaimed once it ends. Driven with the AWS SDK v3 against the real server; the client
// reads one chunk, stops reading (backpressure stalls the server's stream well before the
// later parts are opened), lets the write and its collection happen, then reads the rest.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
/** Four 5 MiB parts: far more than the socket buffers and the reader's buffer hold, so parts 3 and 4 are opened only after the write. */
const PARTS = 4;
const PART_SIZE = 5 * MiB;

let srv: TestServer;
let s3: S3Client;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  bucket = uniqueBucket('isolation');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

/** Committed blob files (the file tier; small blobs live in metadata.sqlite). */
async function blobFiles(): Promise<number> {
  const root = join(srv.dataDir, 'blobs');
  let n = 0;
  for (const dir of await readdir(root)) {
    if (dir !== 'tmp') n += (await readdir(join(root, dir))).length;
  }
  return n;
}

async function putMultipart(key: string): Promise<Buffer> {
  const parts = Array.from({ length: PARTS }, () => randomBytes(PART_SIZE));
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const done = [];
  for (let i = 0; i < PARTS; i++) {
    const r = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: parts[i] }));
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }));
  return Buffer.concat(parts);
}

/** Starts a GET, reads its first chunk, runs `meanwhile`, then reads the rest (whatever arrives before the stream ends or fails). */
async function readAround(key: string, meanwhile: () => Promise<void>): Promise<{ length: number | undefined; bytes: Buffer }> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = r.Body as Readable;
  await once(body, 'readable');
  const chunks: Buffer[] = [body.read() as Buffer];
  await meanwhile();
  try {
    for await (const c of body) chunks.push(c as Buffer);
  } catch {
    // A response cut short: the comparison below says what was lost.
  }
  return { length: r.ContentLength, bytes: Buffer.concat(chunks) };
}

/** Waits until the collection that follows a write has had time to run (it is not awaited by the request). */
const collectionRuns = () => sleep(300);

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`${what} did not happen within 5 s`);
}

test('a GET of a multipart object deleted mid-download finishes with all the original bytes; the parts are reclaimed after it', async () => {
  const before = await blobFiles();
  const original = await putMultipart('mp-delete');
  assert.equal(await blobFiles(), before + PARTS);
  const got = await readAround('mp-delete', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'mp-delete' }));
    await collectionRuns();
    assert.equal(await blobFiles(), before + PARTS, 'the parts an open GET still reads are not deleted yet');
  });
  assert.equal(got.length, original.length);
  assert.equal(got.bytes.length, original.length, 'the response was cut short');
  assert.ok(got.bytes.equals(original), 'the bytes are the original object');
  await eventually('reclaiming the deleted parts after the GET ended', async () => (await blobFiles()) === before);
});

test('a GET of a multipart object overwritten mid-download finishes with the original bytes, not the new ones', async () => {
  const before = await blobFiles();
  const original = await putMultipart('mp-overwrite');
  const got = await readAround('mp-overwrite', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'mp-overwrite', Body: Buffer.from('replaced') }));
    await collectionRuns();
  });
  assert.equal(got.bytes.length, original.length, 'the response was cut short');
  assert.ok(got.bytes.equals(original));
  await eventually('reclaiming the replaced parts after the GET ended', async () => (await blobFiles()) === before);
});

test('a GET of a single-part object overwritten mid-download finishes with the original bytes', async () => {
  const before = await blobFiles();
  const original = randomBytes(PARTS * PART_SIZE);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: original }));
  const got = await readAround('single', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: randomBytes(PART_SIZE) }));
    await collectionRuns();
  });
  assert.equal(got.bytes.length, original.length, 'the response was cut short');
  assert.ok(got.bytes.equals(original));
  await eventually('reclaiming the replaced blob after the GET ended', async () => (await blobFiles()) === before + 1);
});

test('a GET abandoned by its client releases the blobs it held', async () => {
  const before = await blobFiles();
  await putMultipart('abandoned');
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'abandoned' }));
  const body = r.Body as Readable;
  await once(body, 'readable');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'abandoned' }));
  body.destroy();
  await eventually('reclaiming the parts after the client went away', async () => (await blobFiles()) === before);
});
