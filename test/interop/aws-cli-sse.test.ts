// Server-side encryption with the real AWS CLI (v1) against the real server: `aws s3 cp`
// with --sse aws:kms and --sse-kms-key-id alias/..., up and down, single-part and
// multipart; `aws s3api head-object` shows aws:kms and the full key ARN;
// put-/get-bucket-encryption and uploads that follow the bucket default; --sse AES256;
// --sse-c with a binary customer key (and a download without it refused); an S3-to-S3
// copy re-encrypted under another key; and an IAM user without kms:Decrypt whose
// download fails with AccessDenied while `aws s3 ls` works.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertKmsCalls, auditEvents, kmsOn, s3On, userFactory } from '../helpers/sse-principals.js';
import { sha256hex } from './support.js';
import { awsCli, awsCliEnv, writeAwsConfig } from './aws-cli-runner.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let work: string;
let env: NodeJS.ProcessEnv;
let keyArn: string;
let otherKeyArn: string;
const alias = `alias/cli-sse-${process.pid}`;
const bucket = uniqueBucket('cli-sse');

const { run, text, json, withEnv } = awsCli(() => ({ endpoint: srv.url, env, timeoutMs: 90_000 }));
/** The runner with other credentials than root's. */
const as = (creds: { accessKeyId: string; secretAccessKey: string }) => withEnv({ AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey });

interface Head {
  ServerSideEncryption?: string;
  SSEKMSKeyId?: string;
  BucketKeyEnabled?: boolean;
  ETag: string;
  ContentLength: number;
  SSECustomerAlgorithm?: string;
  SSECustomerKeyMD5?: string;
}
const head = (key: string, ...extra: string[]) => json<Head>('s3api', 'head-object', '--bucket', bucket, '--key', key, ...extra);

async function file(name: string, bytes: Buffer): Promise<string> {
  const p = path.join(work, name);
  await fs.writeFile(p, bytes);
  return p;
}

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-sse-'));
  const config = await writeAwsConfig(work, { max_concurrent_requests: '4', multipart_threshold: '8MB', multipart_chunksize: '8MB', signature_version: 's3v4' });
  env = awsCliEnv(work, { configFile: config });
  keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'aws cli sse' }))).KeyMetadata!.Arn!;
  otherKeyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'aws cli sse, copy target' }))).KeyMetadata!.Arn!;
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyArn }));
  await text('s3', 'mb', `s3://${bucket}`);
});

after(async () => {
  users?.destroy();
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('aws s3 cp --sse aws:kms --sse-kms-key-id alias/... uploads; head-object shows aws:kms and the key ARN; cp down returns the bytes', async () => {
  const body = Buffer.from('encrypted by the aws cli under an alias\n'.repeat(40));
  const src = await file('kms-small.txt', body);
  const up = await text('s3', 'cp', src, `s3://${bucket}/kms/small.txt`, '--sse', 'aws:kms', '--sse-kms-key-id', alias);
  assert.match(up, /upload: .* to s3:\/\//);
  const h = await head('kms/small.txt');
  assert.equal(h.ServerSideEncryption, 'aws:kms');
  assert.equal(h.SSEKMSKeyId, keyArn, 'the full key ARN, not the alias');
  assert.equal(h.ContentLength, body.length);
  assert.notEqual(h.ETag, `"${createHash('md5').update(body).digest('hex')}"`, 'an SSE-KMS ETag is not the MD5');
  const dst = path.join(work, 'kms-small.back');
  await text('s3', 'cp', `s3://${bucket}/kms/small.txt`, dst);
  assert.ok((await fs.readFile(dst)).equals(body));
});

test('aws s3 cp --sse aws:kms of a 20 MiB file goes multipart under the key and comes back intact', async () => {
  const body = randomBytes(20 * 1024 * 1024 + 4321);
  const src = await file('kms-big.bin', body);
  await text('s3', 'cp', src, `s3://${bucket}/kms/big.bin`, '--sse', 'aws:kms', '--sse-kms-key-id', alias);
  const h = await head('kms/big.bin');
  assert.equal(h.ServerSideEncryption, 'aws:kms');
  assert.equal(h.SSEKMSKeyId, keyArn);
  assert.match(h.ETag, /^"[0-9a-f]{32}-3"$/, 'three 8 MiB parts');
  const dst = path.join(work, 'kms-big.back');
  await text('s3', 'cp', `s3://${bucket}/kms/big.bin`, dst);
  assert.equal(sha256hex(await fs.readFile(dst)), sha256hex(body));
});

test('aws s3 cp --sse aws:kms without a key id uses the AWS managed aws/s3 key', async () => {
  const src = await file('kms-default.txt', Buffer.from('default key'));
  await text('s3', 'cp', src, `s3://${bucket}/kms/default.txt`, '--sse', 'aws:kms');
  const h = await head('kms/default.txt');
  assert.equal(h.ServerSideEncryption, 'aws:kms');
  const md = await json<{ KeyMetadata: { Arn: string; KeyManager: string } }>('kms', 'describe-key', '--key-id', 'alias/aws/s3');
  assert.equal(md.KeyMetadata.KeyManager, 'AWS');
  assert.equal(h.SSEKMSKeyId, md.KeyMetadata.Arn);
});

test('aws s3api put-bucket-encryption / get-bucket-encryption round-trip, and aws s3 cp without --sse follows the bucket default', async () => {
  const b = uniqueBucket('cli-sse-default');
  await text('s3', 'mb', `s3://${b}`);
  const fresh = await json<{ ServerSideEncryptionConfiguration: { Rules: { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: string } }[] } }>(
    's3api', 'get-bucket-encryption', '--bucket', b,
  );
  assert.equal(fresh.ServerSideEncryptionConfiguration.Rules[0]!.ApplyServerSideEncryptionByDefault.SSEAlgorithm, 'AES256', 'a new bucket encrypts with SSE-S3');
  const cfg = { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true }] };
  await text('s3api', 'put-bucket-encryption', '--bucket', b, '--server-side-encryption-configuration', JSON.stringify(cfg));
  const got = await json<{ ServerSideEncryptionConfiguration: unknown }>('s3api', 'get-bucket-encryption', '--bucket', b);
  assert.deepEqual(got.ServerSideEncryptionConfiguration, cfg);

  const body = Buffer.from('follows the bucket default');
  await text('s3', 'cp', await file('default-enc.txt', body), `s3://${b}/d.txt`);
  const h = await json<Head>('s3api', 'head-object', '--bucket', b, '--key', 'd.txt');
  assert.equal(h.ServerSideEncryption, 'aws:kms');
  assert.equal(h.SSEKMSKeyId, keyArn);
  assert.equal(h.BucketKeyEnabled, true);
  const dst = path.join(work, 'default-enc.back');
  await text('s3', 'cp', `s3://${b}/d.txt`, dst);
  assert.ok((await fs.readFile(dst)).equals(body));

  const bad = await run('s3api', 'put-bucket-encryption', '--bucket', b, '--server-side-encryption-configuration',
    JSON.stringify({ Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256', KMSMasterKeyID: keyArn } }] }));
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /InvalidArgument/);
  await text('s3api', 'delete-bucket-encryption', '--bucket', b);
  const after = await json<{ ServerSideEncryptionConfiguration: { Rules: { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: string } }[] } }>(
    's3api', 'get-bucket-encryption', '--bucket', b,
  );
  assert.equal(after.ServerSideEncryptionConfiguration.Rules[0]!.ApplyServerSideEncryptionByDefault.SSEAlgorithm, 'AES256');
});

test('aws s3 cp --sse AES256 stores an SSE-S3 object whose ETag is the MD5', async () => {
  const body = Buffer.from('sse-s3 from the cli');
  await text('s3', 'cp', await file('aes.txt', body), `s3://${bucket}/aes/a.txt`, '--sse', 'AES256');
  const h = await head('aes/a.txt');
  assert.equal(h.ServerSideEncryption, 'AES256');
  assert.equal(h.SSEKMSKeyId, undefined);
  assert.equal(h.ETag, `"${createHash('md5').update(body).digest('hex')}"`);
  const dst = path.join(work, 'aes.back');
  await text('s3', 'cp', `s3://${bucket}/aes/a.txt`, dst);
  assert.ok((await fs.readFile(dst)).equals(body));
});

test('aws s3 cp --sse-c with a binary customer key: up, head and down need the key; without it or with another key the read is refused', async () => {
  const key = randomBytes(32);
  const keyFile = await file('customer.key', key);
  const wrongFile = await file('wrong.key', randomBytes(32));
  const body = randomBytes(9 * 1024 * 1024 + 17); // multipart: UploadPart carries the key too
  await text('s3', 'cp', await file('ssec.bin', body), `s3://${bucket}/ssec/a.bin`, '--sse-c', 'AES256', '--sse-c-key', `fileb://${keyFile}`);
  const md5 = createHash('md5').update(key).digest('base64');
  const h = await head('ssec/a.bin', '--sse-customer-algorithm', 'AES256', '--sse-customer-key', `fileb://${keyFile}`);
  assert.equal(h.SSECustomerAlgorithm, 'AES256');
  assert.equal(h.SSECustomerKeyMD5, md5);
  assert.equal(h.ContentLength, body.length);
  const dst = path.join(work, 'ssec.back');
  await text('s3', 'cp', `s3://${bucket}/ssec/a.bin`, dst, '--sse-c', 'AES256', '--sse-c-key', `fileb://${keyFile}`);
  assert.equal(sha256hex(await fs.readFile(dst)), sha256hex(body));

  const noKey = await run('s3api', 'head-object', '--bucket', bucket, '--key', 'ssec/a.bin');
  assert.notEqual(noKey.code, 0);
  assert.match(noKey.stderr, /\(400\)/, noKey.stderr);
  const wrong = await run('s3', 'cp', `s3://${bucket}/ssec/a.bin`, path.join(work, 'ssec.wrong'), '--sse-c', 'AES256', '--sse-c-key', `fileb://${wrongFile}`);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /403|Forbidden|AccessDenied/, wrong.stderr);
});

test('aws s3 cp from S3 to S3 with --sse aws:kms --sse-kms-key-id re-encrypts the copy under the other key', async () => {
  await text('s3', 'cp', `s3://${bucket}/kms/small.txt`, `s3://${bucket}/copied/small.txt`, '--sse', 'aws:kms', '--sse-kms-key-id', otherKeyArn);
  const h = await head('copied/small.txt');
  assert.equal(h.ServerSideEncryption, 'aws:kms');
  assert.equal(h.SSEKMSKeyId, otherKeyArn);
  const a = path.join(work, 'copy-src.back');
  const b = path.join(work, 'copy-dst.back');
  await text('s3', 'cp', `s3://${bucket}/kms/small.txt`, a);
  await text('s3', 'cp', `s3://${bucket}/copied/small.txt`, b);
  assert.ok((await fs.readFile(a)).equals(await fs.readFile(b)));
});

test('an IAM user without kms:Decrypt: aws s3 ls works, aws s3 cp down fails with AccessDenied naming kms:Decrypt and the key; with it, it works', async () => {
  const u = await users.create('cli-reader', { s3: [s3On(bucket)] });
  const reader = as(u.credentials);
  const ls = await reader.run('s3', 'ls', `s3://${bucket}/kms/`);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /small\.txt/);
  const h = await reader.run('s3api', 'head-object', '--bucket', bucket, '--key', 'kms/small.txt');
  assert.equal(h.code, 0, h.stderr);
  const dst = path.join(work, 'reader.back');
  const down = await reader.run('s3', 'cp', `s3://${bucket}/kms/small.txt`, dst);
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /AccessDenied|403|Forbidden/, down.stderr);
  const get = await reader.run('s3api', 'get-object', '--bucket', bucket, '--key', 'kms/small.txt', dst);
  assert.notEqual(get.code, 0);
  assert.ok(get.stderr.includes(`An error occurred (AccessDenied) when calling the GetObject operation: User: ${u.arn} is not authorized to perform: kms:Decrypt on resource: ${keyArn} because`), get.stderr);

  await u.put('kms', kmsOn('kms:Decrypt', keyArn));
  const again = await reader.run('s3api', 'get-object', '--bucket', bucket, '--key', 'kms/small.txt', dst);
  assert.equal(again.code, 0, again.stderr);
  const out = JSON.parse(again.stdout) as { SSEKMSKeyId: string; ServerSideEncryption: string };
  assert.equal(out.SSEKMSKeyId, keyArn);
  assert.equal(out.ServerSideEncryption, 'aws:kms');
  // The CLI's GET shows in the audit log under the user (the request id is in --debug output only; match by principal).
  const mine = (await auditEvents(srv)).filter((e) => e.userIdentity.arn === u.arn && e.eventName === 'Decrypt');
  assert.ok(mine.some((e) => e.errorCode) && mine.some((e) => !e.errorCode), 'the refused and the allowed Decrypt are both audited under the user');
  await assertKmsCalls(srv, mine.at(-1)!.requestID, u.arn, [{ eventName: 'Decrypt', keyArn, s3Arn: `arn:aws:s3:::${bucket}/kms/small.txt` }]);
});
