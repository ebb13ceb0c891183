// Copies are isolated from concurrent writers as GETs are (storage/blob-readers.ts): a
// CopyObject or UploadPartCopy of a large multipart source that is deleted or overwritten
// while the copy runs still produces a complete, correct copy — never a truncated object or
// a failure. The copy opens each source part only when it reaches it, so without a claim a
// delete committed meanwhile lets garbage collection remove the later parts first.
// No test hooks: each round starts the copy, deletes (or overwrites) the source after a
// different short delay, and the rounds must include some where the write finished while
// the copy was still running.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, CopyObjectCommand, DeleteObjectCommand,
  GetObjectCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const PARTS = 3;
const PART_SIZE = 5 * MiB;
/** When the write starts, as shares of an undisturbed copy's duration (measured first, so the rounds fit this machine's speed). */
const SHARES = [0.2, 0.35, 0.5, 0.6, 0.7, 0.8];

let srv: TestServer;
let s3: S3Client;
let bucket: string;

before(async () => {
  srv = await startTestServer();
  // One attempt: an SDK retry would hide a failed copy behind a second one made after the write.
  s3 = srv.client({ maxAttempts: 1 });
  bucket = uniqueBucket('copy-isolation');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

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

async function getBytes(key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/**
 * Runs `copy` and, after `delay` ms, `write` on the source. Answers 'first' when the write
 * landed before the copy read the source (the copy answers NoSuchKey, or copies what the
 * write left), else whether the write finished while the copy was still running. Any
 * other failure of the copy fails the test.
 */
async function race(copy: () => Promise<unknown>, write: () => Promise<unknown>, delay: number): Promise<'first' | boolean> {
  let copied = false;
  const copying = copy().then(
    () => {
      copied = true;
      return 'ok' as const;
    },
    (e: unknown) => {
      copied = true;
      if ((e as Error).name === 'NoSuchKey') return 'first' as const;
      throw e;
    },
  );
  await sleep(delay);
  await write();
  const raced = !copied;
  return (await copying) === 'first' ? 'first' : raced;
}

/** How long an undisturbed `copy` takes (the slowest of two), in ms. */
async function duration(copy: () => Promise<unknown>): Promise<number> {
  let slowest = 0;
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    await copy();
    slowest = Math.max(slowest, performance.now() - t);
  }
  return slowest;
}

describe('copies keep their source blobs while they read them', () => {
  it('CopyObject of a 3 × 5 MiB source deleted or overwritten mid-copy: the copy equals the original', async () => {
    let raced = 0;
    await putMultipart('timing');
    const ms = await duration(() => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'timing-copy', CopySource: `${bucket}/timing` })));
    for (const [i, share] of SHARES.entries()) {
      const delay = share * ms;
      const original = await putMultipart(`src-${i}`);
      const write = i % 2 === 0
        ? () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `src-${i}` }))
        : () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `src-${i}`, Body: Buffer.from('replaced') }));
      const r = await race(() => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `dst-${i}`, CopySource: `${bucket}/src-${i}` })), write, delay);
      if (r === 'first') continue;
      const copy = await getBytes(`dst-${i}`);
      if (copy.equals(Buffer.from('replaced'))) continue; // the overwrite came first
      if (r) raced++;
      assert.equal(copy.length, original.length, `round ${i}: the copy has every byte`);
      assert.ok(copy.equals(original), `round ${i}: the copy equals the original`);
    }
    assert.ok(raced >= 1, `the source was written while a copy ran in ${raced} of ${SHARES.length} rounds`);
  });

  it('UploadPartCopy of a 3 × 5 MiB source deleted mid-copy: the part equals the original', async () => {
    let raced = 0;
    await putMultipart('ptiming');
    const { UploadId: timingUpload } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'ptiming-copy' }));
    const ms = await duration(() => s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'ptiming-copy', UploadId: timingUpload, PartNumber: 1, CopySource: `${bucket}/ptiming` })));
    for (const [i, share] of SHARES.entries()) {
      const delay = share * ms;
      const original = await putMultipart(`psrc-${i}`);
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `pdst-${i}` }));
      let etag: string | undefined;
      const copy = async () => {
        etag = (await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: `pdst-${i}`, UploadId, PartNumber: 1, CopySource: `${bucket}/psrc-${i}` }))).CopyPartResult?.ETag;
      };
      const r = await race(copy, () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `psrc-${i}` })), delay);
      if (r === 'first') continue;
      if (r) raced++;
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: `pdst-${i}`, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etag }] } }));
      const copied = await getBytes(`pdst-${i}`);
      assert.equal(copied.length, original.length, `round ${i}: the part has every byte`);
      assert.ok(copied.equals(original), `round ${i}: the part equals the original`);
    }
    assert.ok(raced >= 1, `the source was deleted while a copy ran in ${raced} of ${SHARES.length} rounds`);
  });
});
