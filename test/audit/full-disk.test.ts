// Fail closed on a full disk: the audit directory is a small tmpfs, filled with filler
// while the server runs, and the space kms.log preallocated is used up. Key changes and key uses are then refused (507 KMSInternalException,
// and 507 InsufficientStorage for an SSE-KMS PUT, as for any full disk), no success goes unrecorded, the server
// log says why, and once the filler is removed the server accepts requests again by itself.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CreateKeyCommand, GenerateRandomCommand, KMSClient, ListResourceTagsCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';

let base = '';
let auditDir = '';
let logPath = '';
let mounted = false;
let coffer: RunningCoffer | undefined;
let skip: string | false = false;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'coffer-full-disk-'));
  auditDir = join(base, 'data', 'audit');
  logPath = join(base, 'server.log');
  await mkdir(auditDir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', auditDir], { stdio: 'pipe' });
    mounted = true;
  } catch (e) {
    // CI must run this test, not skip it.
    if (process.env.CI) throw new Error(`cannot mount a tmpfs for the full-disk test: ${(e as Error).message}`);
    skip = 'mounting a tmpfs is not permitted here (run as root, or in CI)';
  }
});
after(async () => {
  await coffer?.close();
  if (mounted) execFileSync('umount', [auditDir]);
  await rm(base, { recursive: true, force: true });
});

/** Writes filler into the audit directory until the file system is full. */
async function fill(path: string): Promise<void> {
  const h = await open(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) await h.write(chunk);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    await h.close();
  }
}

describe('a full disk under the audit log', () => {
  it('refuses key uses and changes, records every success, and recovers when space returns', async (t) => {
    if (skip) return t.skip(skip);
    const config = loadConfig({ port: 0, dataDir: join(base, 'data'), fsync: true }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET });
    coffer = await startCoffer(config, pino({ level: 'warn' }, pino.destination({ dest: logPath, sync: true })));
    const credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
    const kms = new KMSClient({ endpoint: coffer.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    const s3 = new S3Client({ endpoint: coffer.url, region: 'us-east-1', credentials, forcePathStyle: true, maxAttempts: 1 });
    try {
      const keyId = (await kms.send(new CreateKeyCommand({ Description: 'full disk' }))).KeyMetadata!.KeyId!;
      await s3.send(new CreateBucketCommand({ Bucket: 'full-disk' }));
      await fill(join(auditDir, 'filler'));
      // kms.log holds zero bytes preallocated ahead of its events (up to 1 MiB): the log
      // takes events there until they are used up, then a write needs new space and fails.
      let used = 0;
      for (let refusedYet = false; !refusedYet; used += 32) {
        assert.ok(used < 20_000, 'the disk full, the log was still writable after 20,000 events');
        const batch = await Promise.allSettled(Array.from({ length: 32 }, () => kms.send(new GenerateRandomCommand({ NumberOfBytes: 16 }))));
        refusedYet = batch.some((r) => r.status === 'rejected');
      }

      const ok: string[] = [];
      const refused: string[] = [];
      for (let i = 0; i < 20; i++) {
        try {
          const r = await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: `t${i}`, TagValue: 'v' }] }));
          ok.push(`t${i}:${r.$metadata.requestId}`);
        } catch (e) {
          // A full disk is 507 in every service: the SDKs do not retry it into the full disk.
          assert.equal((e as Error).name, 'KMSInternalException', String(e));
          assert.equal((e as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, 507);
          assert.match((e as Error).message, /no space left/);
          refused.push(`t${i}`);
        }
      }
      assert.ok(refused.length >= 15, `refused ${refused.length} of 20 with the disk full`);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'full-disk', Key: 'o', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId })).catch((e: unknown) => e);
      assert.equal((put as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 507);
      assert.equal((put as Error).name, 'InsufficientStorage');
      assert.match(await readFile(logPath, 'utf8'), /audit log cannot be written/);

      // A refused change did not happen.
      await unlink(join(auditDir, 'filler'));
      let tags: string[] = [];
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          tags = ((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags ?? []).map((x) => x.TagKey!);
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.deepEqual(tags.sort(), ok.map((x) => x.split(':')[0]!).sort(), 'exactly the acknowledged changes took effect');

      // Recovered by itself, and every acknowledged change is in the log.
      await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'after', TagValue: 'v' }] }));
      const recorded = new Set((await readAudit(auditDir, { eventName: 'TagResource' })).filter((e) => !e.errorCode).map((e) => e.requestID));
      for (const x of ok) assert.ok(recorded.has(x.split(':')[1]!), `${x} has its record`);
      assert.match(await readFile(logPath, 'utf8'), /audit log writable again/);
    } finally {
      kms.destroy();
      s3.destroy();
    }
  });
});
