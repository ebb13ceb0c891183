// Issue 17, the access log: one JSON line per request on the server's stdout (a child
// `coffer server`, stdout a pipe), with who did what to which bucket, key or KMS key, the
// outcome, bytes and time — and never a presigned URL's signature, credential or token,
// an Authorization header or an SSE-C key. COFFER_LOG_LEVEL and COFFER_ACCESS_LOG work.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ROOT_KEY_ID, ROOT_SECRET, startChildServer, waitFor, type ChildServer } from '../interop/support.js';

let dataDir: string;
let server: ChildServer | undefined;

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-access-log-'));
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
  await fs.rm(dataDir, { recursive: true, force: true });
});

const clients = (url: string) => ({
  s3: new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } }),
  kms: new KMSClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } }),
});

type Line = Record<string, unknown>;
const accessLines = (out: string): Line[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line).filter((l) => l.access === true);

describe('the access log', () => {
  it('writes one JSON line per request with its facts, and no secret', async () => {
    server = await startChildServer(dataDir, { COFFER_LOG_LEVEL: 'info' });
    const { s3, kms } = clients(server.url);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'logged' }));
      await s3.send(new PutObjectCommand({ Bucket: 'logged', Key: 'dir/a.txt', Body: 'hello world' }));
      const presigned = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'logged', Key: 'dir/a.txt' }), { expiresIn: 300 });
      const signature = new URL(presigned).searchParams.get('X-Amz-Signature')!;
      const viaUrl = await fetch(presigned);
      assert.equal(await viaUrl.text(), 'hello world');
      const ssecKey = randomBytes(32);
      const ssec = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: ssecKey.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(ssecKey).digest('base64') };
      await s3.send(new PutObjectCommand({ Bucket: 'logged', Key: 'secret', Body: 'x', ...ssec }));
      await s3.send(new GetObjectCommand({ Bucket: 'logged', Key: 'missing' })).catch(() => {});
      const key = await kms.send(new CreateKeyCommand({}));
      assert.ok(await waitFor(async () => accessLines(server!.stdout()).length >= 6, 10_000), server.stdout());
      const lines = accessLines(server.stdout());
      const put = lines.find((l) => l.operation === 'PutObject' && l.key === 'dir/a.txt');
      assert.ok(put, JSON.stringify(lines));
      assert.equal(put.service, 's3');
      assert.equal(put.bucket, 'logged');
      assert.equal(put.status, 200);
      assert.equal(put.bytesIn, 11);
      assert.match(String(put.principal), /^arn:aws:iam::\d{12}:root$/);
      assert.match(String(put.requestId), /^[0-9A-F]{16}$/);
      assert.equal(typeof put.durationMs, 'number');
      assert.match(String(put.remote), /127\.0\.0\.1/);
      assert.equal(put.level, 30);
      const got = lines.find((l) => l.operation === 'GetObject' && l.key === 'dir/a.txt');
      assert.ok(got);
      assert.equal(got.bytesOut, 11);
      assert.doesNotMatch(String(got.url), /X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token/i);
      assert.match(String(got.url), /X-Amz-Expires=300/, 'other query parameters stay');
      const missing = lines.find((l) => l.key === 'missing');
      assert.equal(missing?.status, 404);
      assert.equal(missing?.errorCode, 'NoSuchKey');
      const kmsLine = lines.find((l) => l.service === 'kms');
      assert.equal(kmsLine?.operation, 'CreateKey');
      assert.equal(kmsLine?.status, 200);
      assert.ok(key.KeyMetadata?.KeyId);
      // Nothing secret anywhere in the output.
      const all = server.stdout() + server.stderr();
      assert.ok(!all.includes(signature), 'the presigned signature is not logged');
      assert.ok(!all.includes(ROOT_SECRET), 'the secret key is not logged');
      assert.ok(!all.includes(ssec.SSECustomerKey), 'the SSE-C key is not logged');
      assert.ok(!all.includes(ROOT_KEY_ID + '%2F'), 'no credential scope from a URL');
      assert.doesNotMatch(all, /AWS4-HMAC-SHA256 Credential=/, 'no Authorization header');
    } finally {
      s3.destroy();
      kms.destroy();
    }
  });

  it('COFFER_LOG_LEVEL=warn hides the access log (info); COFFER_ACCESS_LOG=off turns it off at info', async () => {
    for (const env of [{ COFFER_LOG_LEVEL: 'warn' }, { COFFER_LOG_LEVEL: 'info', COFFER_ACCESS_LOG: 'off' }] as Record<string, string>[]) {
      server = await startChildServer(dataDir, env);
      const { s3, kms } = clients(server.url);
      try {
        await s3.send(new CreateBucketCommand({ Bucket: `b${Date.now()}` }));
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(accessLines(server.stdout()), [], JSON.stringify(env));
      } finally {
        s3.destroy();
        kms.destroy();
        await server.kill();
        server = undefined;
      }
    }
  });

  it('--log-level debug shows health probes, which info leaves out', async () => {
    server = await startChildServer(dataDir, { COFFER_LOG_LEVEL: 'info' });
    await fetch(`${server.url}/health/live`);
    await fetch(`${server.url}/health/nothing`).catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(accessLines(server.stdout()).filter((l) => l.url === '/health/live').length, 0);
    await server.kill();
    server = await startChildServer(dataDir, {}, ['--log-level', 'debug']);
    await fetch(`${server.url}/health/live`);
    assert.ok(await waitFor(async () => accessLines(server!.stdout()).some((l) => l.url === '/health/live' && l.level === 20), 5000), server.stdout());
  });
});
