// Bodies announced at 1–4 MiB are hashed on the digest worker pool (checksum/offloaded-digest.ts,
// OFFLOAD_MIN_BYTES): through the real server and the AWS SDK v3, each such PUT gets the
// ETag and checksums an inline hash gives (header and aws-chunked trailer checksums, the
// default CRC64NVME, SSE-S3 / SSE-KMS / SSE-C where the ETag is no MD5), a wrong Content-MD5
// or checksum is BadDigest, and no upload — finished, refused, aborted by the client
// mid-body, or failed in the blob store — leaves its job on the pool (a job left there
// keeps the pool's workers ref'd, so the process never exits).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type ChecksumAlgorithm as SdkAlgorithm, type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { BodyDigest, OFFLOAD_MIN_BYTES, pooledDigestJobs } from '../../src/checksum/index.js';
import type { ChecksumAlgorithm } from '../../src/checksum/algorithm.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { customerKey, md5b64, md5hex, ssec } from '../helpers/sse.js';

const MiB = 1024 * 1024;
let srv: TestServer;
let bucket: string;

before(async () => {
  srv = await startTestServer();
  bucket = uniqueBucket('mid-digest');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  await srv.stop();
});

/** What an inline hash gives for this body: the MD5 and each checksum, base64. */
function inline(body: Buffer, algorithm: ChecksumAlgorithm): { md5: string; checksum: string } {
  const d = new BodyDigest({ md5: true, checksum: algorithm });
  d.update(body);
  const r = d.finish();
  return { md5: r.md5!.toString('hex'), checksum: r.checksum!.toString('base64') };
}

const checksumField = { CRC32: 'ChecksumCRC32', CRC32C: 'ChecksumCRC32C', SHA1: 'ChecksumSHA1', SHA256: 'ChecksumSHA256', CRC64NVME: 'ChecksumCRC64NVME' } as const;

/** Polls until the pool has no job left (a cancel reaches it once the server saw the abort). */
async function poolDrained(): Promise<number> {
  for (let i = 0; i < 250 && pooledDigestJobs() > 0; i++) await sleep(20);
  return pooledDigestJobs();
}

/** A body that sends `head` bytes and then stalls until the request is aborted. */
function stalling(head: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(head);
      }
    },
  });
}

test('16 concurrent 1–3 MiB PUTs with mixed checksums, SSE and client aborts: every object gets the ETag and checksum of an inline hash, and no job stays on the pool', async () => {
  assert.ok(OFFLOAD_MIN_BYTES <= MiB, 'these sizes take the pooled path');
  const algorithms: (ChecksumAlgorithm | undefined)[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME', undefined];
  const sse: ('AES256' | 'aws:kms' | 'C' | undefined)[] = [undefined, 'AES256', undefined, 'aws:kms', 'C', undefined, undefined, 'AES256'];
  const plainClient = srv.client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  const jobs = Array.from({ length: 16 }, (_, i) => {
    const size = MiB + Math.floor((i * 2 * MiB) / 15) + i * 17;
    return { i, key: `obj-${i}`, size, body: randomBytes(size), algorithm: algorithms[i % algorithms.length], sse: sse[i % sse.length], stream: i % 2 === 1, abort: i % 4 === 2, cKey: customerKey() };
  });
  const results = await Promise.allSettled(
    jobs.map(async (j) => {
      const input: PutObjectCommandInput = { Bucket: bucket, Key: j.key, ContentLength: j.size, Body: j.stream ? Readable.from([j.body.subarray(0, 700_000), j.body.subarray(700_000)]) : j.body };
      if (j.algorithm) input.ChecksumAlgorithm = j.algorithm as SdkAlgorithm;
      if (j.sse === 'C') Object.assign(input, ssec(j.cKey));
      else if (j.sse) input.ServerSideEncryption = j.sse;
      if (j.abort) {
        const ac = new AbortController();
        input.Body = stalling(j.body.subarray(0, 512 * 1024));
        const p = (j.algorithm ? srv.s3 : plainClient).send(new PutObjectCommand(input), { abortSignal: ac.signal });
        await sleep(300);
        ac.abort();
        return p;
      }
      // No algorithm named: a client that sends no checksum of its own, so the server's default (CRC64NVME) is the one.
      return (j.algorithm ? srv.s3 : plainClient).send(new PutObjectCommand(input));
    }),
  );
  for (const j of jobs) {
    const r = results[j.i]!;
    if (j.abort) {
      assert.equal(r.status, 'rejected', `${j.key}: aborted`);
      await assertFails(srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: j.key })), 404, 'NotFound');
      continue;
    }
    assert.equal(r.status, 'fulfilled', `${j.key}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
    const put = (r as PromiseFulfilledResult<unknown>).value as Record<string, unknown>;
    const want = inline(j.body, j.algorithm ?? 'CRC64NVME');
    // SSE-KMS and SSE-C ETags are not the MD5 (and the server computes none for them).
    if (j.sse === undefined || j.sse === 'AES256') assert.equal(put['ETag'], `"${want.md5}"`, `${j.key} ETag`);
    else assert.notEqual(put['ETag'], `"${want.md5}"`, `${j.key} ETag is not the MD5`);
    assert.equal(put[checksumField[j.algorithm ?? 'CRC64NVME']], want.checksum, `${j.key} ${j.algorithm ?? 'default CRC64NVME'}`);
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: j.key, ChecksumMode: 'ENABLED', ...(j.sse === 'C' ? ssec(j.cKey) : {}) }));
    assert.equal(got[checksumField[j.algorithm ?? 'CRC64NVME']], want.checksum, `${j.key} stored checksum`);
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(j.body), `${j.key} body`);
  }
  plainClient.destroy();
  assert.equal(await poolDrained(), 0, 'digest jobs left on the pool');
});

test('a 2 MiB PUT with a wrong Content-MD5 or a wrong checksum is BadDigest, stores nothing, and leaves no job on the pool', async () => {
  const body = randomBytes(2 * MiB + 5);
  const other = randomBytes(16);
  await assertFails(srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-md5', Body: body, ContentMD5: md5b64(other) })), 400, 'BadDigest');
  await assertFails(
    srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-crc', Body: body, ChecksumCRC32: inline(other, 'CRC32').checksum })),
    400,
    'BadDigest',
  );
  for (const k of ['bad-md5', 'bad-crc']) await assertFails(srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k })), 404, 'NotFound');
  // The right Content-MD5 on an SSE-KMS body (MD5 computed only to check it).
  const ok = await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'good-md5', Body: body, ContentMD5: md5b64(body), ServerSideEncryption: 'aws:kms' }));
  assert.ok(ok.ETag);
  assert.notEqual(ok.ETag, `"${md5hex(body)}"`);
  assert.equal(await poolDrained(), 0, 'digest jobs left on the pool');
});

test('a 2 MiB PUT whose blob cannot be written (a shared blob directory gone: the spill to a file fails) leaves no job on the pool', async () => {
  const shared = await mkdtemp(join(tmpdir(), 'coffer-mid-digest-blobs-'));
  const s = await startTestServer({ COFFER_BLOBS: `file://${shared}` });
  try {
    const b = uniqueBucket('mid-digest-gone');
    await s.s3.send(new CreateBucketCommand({ Bucket: b }));
    await s.s3.send(new PutObjectCommand({ Bucket: b, Key: 'before', Body: randomBytes(2 * MiB) }));
    assert.equal(await poolDrained(), 0);
    // The mount is gone: the body's spill out of the inline tier cannot create the blob's file.
    await rm(join(shared, 'tmp'), { recursive: true, force: true });
    const f = await s.s3.send(new PutObjectCommand({ Bucket: b, Key: 'after', Body: randomBytes(2 * MiB) })).then(
      () => undefined,
      (e: { name: string; $metadata?: { httpStatusCode?: number } }) => e,
    );
    assert.ok(f !== undefined, 'the PUT fails');
    assert.ok((f.$metadata?.httpStatusCode ?? 0) >= 500, `a server-side failure (${f.name})`);
    assert.equal(await poolDrained(), 0, 'digest jobs left on the pool');
  } finally {
    await s.stop();
    await rm(shared, { recursive: true, force: true });
  }
});
