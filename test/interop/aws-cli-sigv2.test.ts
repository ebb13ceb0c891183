// The real AWS CLI v1 and Signature Version 2 against the real server. With no signature
// version configured, `aws s3 presign` makes SigV2 URLs (AWSAccessKeyId, Signature,
// Expires) for a custom endpoint: they must work from a plain client. Then the profile a
// SigV2 user writes (`aws configure set default.s3.signature_version s3`) must keep working
// for mb, cp (one PUT and multipart), ls, s3api sub-resources, rm and rb. (CLI 1.45 reads
// that setting but, through the endpoint rules' auth scheme, still signs these requests
// with SigV4, and then presigns with SigV4 too; boto3-sigv2.test.ts covers SigV2 requests.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { sha256hex } from './support.js';
import { awsCli, awsCliEnv } from './aws-cli-runner.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;
const bucket = uniqueBucket('cli-v2');

const { run, text } = awsCli(() => ({ endpoint: srv.url, env, timeoutMs: 90_000 }));

function configure(key: string, value: string): Promise<void> {
  return new Promise<void>((resolve, reject) => execFile('aws', ['configure', 'set', key, value], { env }, (err) => (err ? reject(err) : resolve())));
}

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-v2-'));
  env = awsCliEnv(work, { configFile: path.join(work, 'aws-config') });
  // Written by the CLI itself, as a user would.
  for (const [k, v] of [['default.s3.addressing_style', 'path'], ['default.s3.multipart_threshold', '8MB'], ['default.s3.multipart_chunksize', '8MB']]) await configure(k!, v!);
  await text('s3', 'mb', `s3://${bucket}`);
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('CLI v1 default presign: a SigV2 URL that plain fetch can GET, and that covers the key', async () => {
  await fs.writeFile(path.join(work, 'small file.txt'), 'signed with signature version 2\n'.repeat(40));
  await text('s3', 'cp', path.join(work, 'small file.txt'), `s3://${bucket}/v2/small file.txt`);
  const url = (await text('s3', 'presign', `s3://${bucket}/v2/small file.txt`, '--expires-in', '300')).trim();
  assert.match(url, /AWSAccessKeyId=/);
  assert.match(url, /Signature=/);
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'signed with signature version 2\n'.repeat(40));
  const tampered = await fetch(url.replace('small%20file.txt', 'big.bin'));
  assert.equal(tampered.status, 403);
  assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
});

test('CLI v1 with s3.signature_version = s3: cp up (one PUT and multipart), ls, cp down round-trip byte for byte', async () => {
  await configure('default.s3.signature_version', 's3');
  assert.match(await fs.readFile(path.join(work, 'aws-config'), 'utf8'), /signature_version = s3\b/);
  const small = path.join(work, 'small file.txt');
  await fs.writeFile(small, 'signed with signature version 2\n'.repeat(40));
  const big = path.join(work, 'big.bin');
  const bytes = randomBytes(20 * 1024 * 1024 + 5);
  await fs.writeFile(big, bytes);
  await text('s3', 'cp', small, `s3://${bucket}/v2/small file.txt`);
  await text('s3', 'cp', big, `s3://${bucket}/v2/big.bin`);
  const ls = await text('s3', 'ls', `s3://${bucket}/v2/`);
  assert.match(ls, /big\.bin/);
  assert.match(ls, /small file\.txt/);
  const head = JSON.parse(await text('s3api', 'head-object', '--bucket', bucket, '--key', 'v2/big.bin', '--output', 'json')) as { ETag: string };
  assert.match(head.ETag, /-3"$/, 'three 8 MB parts');
  const back = path.join(work, 'big.back');
  await text('s3', 'cp', `s3://${bucket}/v2/big.bin`, back);
  assert.equal(sha256hex(await fs.readFile(back)), sha256hex(bytes));
});

test('CLI v1 with s3.signature_version = s3: s3api calls with signed sub-resources (tagging, acl, versioning)', async () => {
  await text('s3api', 'put-object-tagging', '--bucket', bucket, '--key', 'v2/small file.txt', '--tagging', 'TagSet=[{Key=a,Value=b c}]');
  const tags = JSON.parse(await text('s3api', 'get-object-tagging', '--bucket', bucket, '--key', 'v2/small file.txt', '--output', 'json')) as { TagSet: unknown[] };
  assert.deepEqual(tags.TagSet, [{ Key: 'a', Value: 'b c' }]);
  await text('s3api', 'get-bucket-acl', '--bucket', bucket);
  await text('s3api', 'get-bucket-versioning', '--bucket', bucket);
});

test('CLI v1 with s3.signature_version = s3: rm --recursive and rb empty and remove the bucket', async () => {
  await text('s3', 'rm', `s3://${bucket}`, '--recursive');
  await text('s3', 'rb', `s3://${bucket}`);
  const r = await run('s3', 'ls', `s3://${bucket}`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NoSuchBucket/);
});
