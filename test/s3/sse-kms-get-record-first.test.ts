// An SSE-KMS GET reads and opens the body while its KMS Decrypt's audit record is being
// synced (s3/ops/get-object.ts, openObjectForRead), but answers nothing before that record is
// durable. Shown where the difference is visible: the audit directory is a small tmpfs,
// filled while the server runs, so the record of some GET is the first one that cannot be
// written. Every GET is then either answered in full — and its Decrypt is already in
// kms.log, read while the disk is still full — or refused with 507 and no body; for every
// body path (empty, inline, one 1 MiB file read, a streamed read, a range, multipart, DSSE).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';
import { fillDisk, mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;
let base = '';
let auditDir = '';
let tmpfs: Tmpfs | undefined;
let coffer: RunningCoffer | undefined;
let skip: string | false = false;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'coffer-record-first-'));
  await mkdir(join(base, 'data'), { recursive: true });
  const m = mountTmpfs(3 * MiB);
  if (typeof m === 'string') {
    if (process.env.CI) throw new Error(`cannot mount a small file system for the audit directory: ${m}`);
    skip = m;
    return;
  }
  tmpfs = m;
  // The data directory's audit/ is the small file system.
  auditDir = join(base, 'data', 'audit');
  await symlink(m.dir, auditDir);
});
after(async () => {
  await coffer?.close();
  tmpfs?.unmount();
  await rm(base, { recursive: true, force: true });
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Read {
  name: string;
  key: string;
  range?: string;
  expect: Buffer;
}

describe('an SSE-KMS GET answers only after its Decrypt is durable', () => {
  it('with the audit disk filling up, every GET answered has its record on disk; the others are 507 without a body', async (t) => {
    if (skip) return t.skip(skip);
    const config = loadConfig({ port: 0, dataDir: join(base, 'data'), fsync: true }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET });
    coffer = await startCoffer(config, pino({ level: 'silent' }));
    const credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
    const kms = new KMSClient({ endpoint: coffer.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    const s3 = new S3Client({ endpoint: coffer.url, region: 'us-east-1', credentials, forcePathStyle: true, maxAttempts: 1 });
    try {
      const keyId = (await kms.send(new CreateKeyCommand({ Description: 'record first' }))).KeyMetadata!.KeyId!;
      const Bucket = 'record-first';
      await s3.send(new CreateBucketCommand({ Bucket }));
      const kmsPut = (alg: ServerSideEncryption = 'aws:kms') => ({ ServerSideEncryption: alg, SSEKMSKeyId: keyId });
      const bodies = { zero: Buffer.alloc(0), small: randomBytes(4096), mib: randomBytes(MiB), big: randomBytes(6 * MiB), dsse: randomBytes(MiB) };
      for (const name of ['zero', 'small', 'mib', 'big'] as const) await s3.send(new PutObjectCommand({ Bucket, Key: name, Body: bodies[name], ...kmsPut() }));
      await s3.send(new PutObjectCommand({ Bucket, Key: 'dsse', Body: bodies.dsse, ...kmsPut('aws:kms:dsse') }));
      const parts = [randomBytes(5 * MiB), randomBytes(MiB + 17)];
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multi', ...kmsPut() }));
      const done = [];
      for (const [i, p] of parts.entries()) done.push({ PartNumber: i + 1, ETag: (await s3.send(new UploadPartCommand({ Bucket, Key: 'multi', UploadId, PartNumber: i + 1, Body: p }))).ETag });
      await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'multi', UploadId, MultipartUpload: { Parts: done } }));
      const reads: Read[] = [
        { name: 'empty', key: 'zero', expect: bodies.zero },
        { name: 'inline 4 KiB', key: 'small', expect: bodies.small },
        { name: '1 MiB', key: 'mib', expect: bodies.mib },
        { name: '6 MiB streamed', key: 'big', expect: bodies.big },
        { name: 'a range', key: 'big', range: 'bytes=1000-3000000', expect: bodies.big.subarray(1000, 3000001) },
        { name: 'multipart', key: 'multi', expect: Buffer.concat(parts) },
        { name: 'DSSE-KMS', key: 'dsse', expect: bodies.dsse },
      ];
      // Every read works before the disk fills.
      for (const r of reads) {
        const got = await s3.send(new GetObjectCommand({ Bucket, Key: r.key, Range: r.range }));
        assert.equal(sha(await got.Body!.transformToByteArray()), sha(r.expect), r.name);
      }

      fillDisk(join(auditDir, 'filler'));
      const answered: { name: string; requestId: string }[] = [];
      const refused: string[] = [];
      for (let round = 0, after = -1; after < 3; round++) {
        assert.ok(round < 5_000, 'the disk full, the audit log was still writable after 5,000 rounds of GETs');
        const results = await Promise.allSettled(reads.map(async (r) => {
          const got = await s3.send(new GetObjectCommand({ Bucket, Key: r.key, Range: r.range }));
          const bytes = await got.Body!.transformToByteArray();
          assert.equal(sha(bytes), sha(r.expect), `${r.name}: the body answered is the object's`);
          return got.$metadata.requestId!;
        }));
        for (const [i, res] of results.entries()) {
          if (res.status === 'fulfilled') answered.push({ name: reads[i]!.name, requestId: res.value });
          else {
            const e = res.reason as Error & { $metadata?: { httpStatusCode?: number } };
            assert.equal(e.name, 'InsufficientStorage', `${reads[i]!.name}: ${String(e)}`);
            assert.equal(e.$metadata?.httpStatusCode, 507);
            refused.push(reads[i]!.name);
          }
        }
        if (refused.length > 0) after++;
      }
      assert.ok(answered.length > 0 && refused.length > 0, `answered ${answered.length}, refused ${refused.length}`);

      // Read while the disk is still full: what is in kms.log now was durable when it was read.
      const onDisk = new Set((await readAudit(auditDir, { eventName: 'Decrypt' })).filter((e) => !e.errorCode).map((e) => e.requestID));
      const missing = answered.filter((a) => !onDisk.has(a.requestId));
      assert.deepEqual(missing, [], 'every GET answered had its Decrypt on disk');
      await unlink(join(auditDir, 'filler'));
    } finally {
      kms.destroy();
      s3.destroy();
    }
  });
});
