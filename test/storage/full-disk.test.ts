// Issue 12 §4, a full disk: running out of space answers a clear error that clients do not
// retry (507; S3 InsufficientStorage, KMS KMSInternalException, IAM ServiceFailure), never
// S3's 500 InternalError, and IAM no longer reports a failed write as EntityAlreadyExists.
// The data directory sits on a small tmpfs that a filler file fills to the last page.
// Mounting needs root: elsewhere the tests skip with the reason, except in CI (CI set),
// where they must run.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSServiceException } from '@aws-sdk/client-kms';
import { CreateUserCommand, IAMClient, IAMServiceException } from '@aws-sdk/client-iam';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';
import { fillDisk, mountTmpfs } from '../helpers/tmpfs.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const probe = mountTmpfs(MiB);
const SKIP: string | false = typeof probe === 'string' && !process.env['CI'] ? probe : false;
if (typeof probe !== 'string') probe.unmount();

/** Repeats `attempt` until it throws (at most `limit` times) and returns what it threw. */
async function firstFailure(limit: number, attempt: (i: number) => Promise<unknown>): Promise<unknown> {
  for (let i = 0; i < limit; i++) {
    try {
      await attempt(i);
    } catch (e) {
      return e;
    }
  }
  assert.fail(`no failure in ${limit} writes on a full disk`);
}

describe('a full disk', { skip: SKIP }, () => {
  let mount: { dir: string; unmount(): void };
  let srv: TestServer;
  let iam: IAMClient;
  const filler = () => path.join(mount.dir, 'filler');

  before(async () => {
    const m = mountTmpfs(16 * MiB);
    assert.ok(typeof m !== 'string', `the full-disk tests must run in CI: ${String(m)}`);
    mount = m;
    srv = await startTestServer({}, { dataDir: path.join(mount.dir, 'data') });
    iam = new IAMClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    await srv.s3.send(new CreateBucketCommand({ Bucket: 'full' }));
    fillDisk(filler());
  });

  after(async () => {
    iam?.destroy();
    try {
      unlinkSync(filler());
    } catch {
      // not filled
    }
    await srv?.stop();
    mount?.unmount();
  });

  it('S3: a PUT of a file-backed object answers 507 InsufficientStorage, once (not retried)', async () => {
    const e = await firstFailure(1, () => srv.s3.send(new PutObjectCommand({ Bucket: 'full', Key: 'big', Body: Buffer.alloc(MiB, 2) })));
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.name, 'InsufficientStorage');
    assert.equal(e.$metadata.httpStatusCode, 507);
    assert.equal(e.$metadata.attempts, 1);
    assert.match(e.message, /not enough free space/);
  });

  it('S3: small (inline) objects fail the same way once the metadata database cannot grow', async () => {
    const e = await firstFailure(400, (i) => srv.s3.send(new PutObjectCommand({ Bucket: 'full', Key: `small-${i}`, Body: Buffer.alloc(60 * KiB, i) })));
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.name, 'InsufficientStorage');
    assert.equal(e.$metadata.httpStatusCode, 507);
  });

  it('KMS: CreateKey answers 507 KMSInternalException saying the key store is full', async () => {
    const e = await firstFailure(400, () => srv.kms.send(new CreateKeyCommand({ Description: 'x'.repeat(8000) })));
    assert.ok(e instanceof KMSServiceException, String(e));
    assert.equal(e.name, 'KMSInternalException');
    assert.equal(e.$metadata.httpStatusCode, 507);
    assert.match(e.message, /no space left/);
  });

  it('IAM: CreateUser answers 507 ServiceFailure, not EntityAlreadyExists', async () => {
    const e = await firstFailure(400, (i) => iam.send(new CreateUserCommand({ UserName: `full-${i}`, Tags: Array.from({ length: 50 }, (_, t) => ({ Key: `k${t}`, Value: 'v'.repeat(250) })) })));
    assert.ok(e instanceof IAMServiceException, String(e));
    assert.equal(e.name, 'ServiceFailureException');
    assert.equal(e.$metadata.httpStatusCode, 507);
  });
});
