// `coffer hadoop config` against a real server's data directory: the snippet is a valid
// Hadoop configuration with the endpoint, path-style, region, TLS and SSE-KMS properties
// in both naming schemes; a user's credentials are a new access key that works; doubts
// (missing bucket, unknown or disabled key, missing permissions) are warnings on stderr.
// The S3A interop suite runs the real connector on files made by this command.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory } from '../helpers/sse-principals.js';
import { parseCoreSite } from '../../src/hadoop/core-site.js';
import { s3aSettings } from '../../src/hadoop/s3a-settings.js';
import { ROOT_ENV, coffer } from './s3a-conf.js';

let srv: TestServer;
let bucket: string;
let keyArn: string;
let keyId: string;
let disabledArn: string;

before(async () => {
  srv = await startTestServer();
  bucket = uniqueBucket('hadoop-config');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const md = (await srv.kms.send(new CreateKeyCommand({ Description: 'hadoop config' }))).KeyMetadata!;
  keyArn = md.Arn!;
  keyId = md.KeyId!;
  await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/hadoop-config', TargetKeyId: keyId }));
  disabledArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'hadoop config: disabled' }))).KeyMetadata!.Arn!;
  await srv.kms.send(new DisableKeyCommand({ KeyId: disabledArn }));
  const users = userFactory(srv);
  await users.create('hadoop-etl', { s3: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }], kms: [{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn }] });
  await users.create('hadoop-nokms', { s3: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
});

after(async () => {
  await srv?.stop();
});

const config = (...args: string[]) => coffer(['hadoop', 'config', '--data-dir', srv.dataDir, '--endpoint', srv.url, ...args], ROOT_ENV);

/** name -> value of every <property>, after checking the document is well-formed XML with one <configuration>. */
function properties(xml: string): Record<string, string> {
  const doc = new XMLParser({ isArray: (n) => n === 'property', parseTagValue: false }).parse(xml, true) as { configuration: { property: { name: string; value: string }[] } };
  return Object.fromEntries(doc.configuration.property.map((p) => [p.name, p.value]));
}

test('current names: endpoint, path-style, region, TLS off for http, SSE-KMS with the alias; a new access key for the user that works', async () => {
  const r = await config('--bucket', bucket, '--key', 'alias/hadoop-config', '--user', 'hadoop-etl');
  assert.equal(r.code, 0, r.stderr);
  const p = properties(r.stdout);
  assert.equal(p['fs.s3a.endpoint'], srv.url);
  assert.equal(p['fs.s3a.path.style.access'], 'true');
  assert.equal(p['fs.s3a.endpoint.region'], 'us-east-1');
  assert.equal(p['fs.s3a.connection.ssl.enabled'], 'false');
  assert.equal(p['fs.s3a.encryption.algorithm'], 'SSE-KMS');
  assert.equal(p['fs.s3a.encryption.key'], 'alias/hadoop-config');
  assert.equal(p['fs.s3a.server-side-encryption-algorithm'], undefined);
  assert.match(r.stdout, new RegExp(`KMS key alias/hadoop-config: now ${keyArn}`), 'a comment names the key behind the alias');
  const accessKeyId = p['fs.s3a.access.key']!;
  const keysOfUser = await srv.coffer.iam.listAccessKeys('hadoop-etl');
  assert.equal(keysOfUser.length, 2, 'a new key besides the one the user had');
  assert.ok(keysOfUser.some((k) => k.accessKeyId === accessKeyId));
  assert.match(r.stderr, new RegExp(`created access key ${accessKeyId} for user hadoop-etl`));
  assert.ok(!r.stderr.includes(p['fs.s3a.secret.key']!), 'the secret is only in the snippet');
  assert.ok(!/warning/.test(r.stderr), `no doubts about this one: ${r.stderr}`);
  // The credentials work: an SSE-KMS upload as that user, under the key the snippet names.
  const s3 = new S3Client({ endpoint: srv.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey: p['fs.s3a.secret.key']! } });
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'from-snippet', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: p['fs.s3a.encryption.key'] }));
  assert.equal((await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'from-snippet' }))).SSEKMSKeyId, keyArn);
  s3.destroy();
  // Hadoop reads what it says.
  const s = s3aSettings(parseCoreSite(r.stdout), bucket);
  assert.equal(s.method, 'SSE-KMS');
  assert.equal(s.key?.value, 'alias/hadoop-config');
});

test('--legacy-names: the seed\'s property names; a bare key id becomes its ARN', async () => {
  const r = await config('--bucket', bucket, '--key', keyId, '--legacy-names', '--no-credentials');
  assert.equal(r.code, 0, r.stderr);
  const p = properties(r.stdout);
  assert.equal(p['fs.s3a.server-side-encryption-algorithm'], 'SSE-KMS');
  assert.equal(p['fs.s3a.server-side-encryption.key'], keyArn);
  assert.equal(p['fs.s3a.encryption.algorithm'], undefined);
  assert.equal(p['fs.s3a.encryption.key'], undefined);
});

test('--no-credentials: placeholders, and no access key is created', async () => {
  const before = (await srv.coffer.iam.listAccessKeys('hadoop-nokms')).length;
  const r = await config('--bucket', bucket, '--user', 'hadoop-nokms', '--no-credentials');
  assert.equal(r.code, 0, r.stderr);
  const p = properties(r.stdout);
  assert.equal(p['fs.s3a.access.key'], 'ACCESS_KEY_ID');
  assert.equal(p['fs.s3a.secret.key'], 'SECRET_ACCESS_KEY');
  assert.equal((await srv.coffer.iam.listAccessKeys('hadoop-nokms')).length, before);
  assert.match(r.stdout, /fs\.s3a\.encryption\.key is unset: the AWS managed key aws\/s3/, 'says what the unset key means');
});

test('--per-bucket: fs.s3a.bucket.<bucket>.* names, which S3A (and check) apply to that bucket only', async () => {
  const r = await config('--bucket', bucket, '--key', keyArn, '--per-bucket', '--no-credentials');
  const p = properties(r.stdout);
  assert.equal(p[`fs.s3a.bucket.${bucket}.endpoint`], srv.url);
  assert.equal(p[`fs.s3a.bucket.${bucket}.encryption.key`], keyArn);
  assert.equal(p['fs.s3a.endpoint'], undefined);
  const site = parseCoreSite(r.stdout);
  assert.equal(s3aSettings(site, bucket).key?.value, keyArn);
  assert.equal(s3aSettings(site, 'another-bucket').key, undefined);
});

test('doubts are warnings: a missing bucket, an unknown key, a disabled key, a user without KMS permissions', async () => {
  const missing = await config('--bucket', 'no-such-bucket-hadoop', '--key', 'alias/nope', '--no-credentials');
  assert.equal(missing.code, 0);
  assert.match(missing.stderr, /coffer: warning: bucket no-such-bucket-hadoop does not exist yet/);
  assert.match(missing.stderr, /coffer: warning: key alias\/nope does not resolve in this Coffer \(NotFoundException: Alias .* is not found\.\)/);
  const disabled = await config('--bucket', bucket, '--key', disabledArn, '--no-credentials');
  assert.match(disabled.stderr, new RegExp(`coffer: warning: key ${disabledArn} is Disabled`));
  const noKms = await config('--bucket', bucket, '--key', keyArn, '--user', 'hadoop-nokms');
  assert.equal(noKms.code, 0);
  assert.match(noKms.stderr, /coffer: warning: kms:Decrypt denied, so reads, renames \(S3A copies each object\) and multipart uploads \(files over fs\.s3a\.multipart\.threshold\) fail with 403 AccessDenied: User: \S+:user\/hadoop-nokms is not authorized to perform: kms:Decrypt/);
});

test('--access-key-id: an existing key, its secret from AWS_SECRET_ACCESS_KEY, verified; errors exit 2 with a hint', async () => {
  const users = userFactory(srv);
  const u = await users.create('hadoop-existing', { s3: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
  const ok = await coffer(['hadoop', 'config', '--data-dir', srv.dataDir, '--bucket', bucket, '--access-key-id', u.credentials.accessKeyId], { ...ROOT_ENV, AWS_SECRET_ACCESS_KEY: u.credentials.secretAccessKey });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(properties(ok.stdout)['fs.s3a.access.key'], u.credentials.accessKeyId);
  assert.equal(properties(ok.stdout)['fs.s3a.endpoint'], 'http://127.0.0.1:9000', 'without --endpoint: the server\'s configured address and port');
  const wrong = await coffer(['hadoop', 'config', '--data-dir', srv.dataDir, '--bucket', bucket, '--access-key-id', u.credentials.accessKeyId], { ...ROOT_ENV, AWS_SECRET_ACCESS_KEY: 'wrong' });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /coffer: error: the secret key does not match access key/);
  const noSecret = await coffer(['hadoop', 'config', '--data-dir', srv.dataDir, '--bucket', bucket, '--access-key-id', u.credentials.accessKeyId], ROOT_ENV);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.stderr, /coffer: hint: put it in AWS_SECRET_ACCESS_KEY/);
  const noUser = await config('--bucket', bucket, '--user', 'nobody-here');
  assert.equal(noUser.code, 2);
  assert.match(noUser.stderr, /coffer: error: no user named nobody-here/);
});

test('https endpoint: TLS on', async () => {
  const r = await config('--bucket', bucket, '--no-credentials', '--endpoint', 'https://s3.example.test:9443');
  const p = properties(r.stdout);
  assert.equal(p['fs.s3a.endpoint'], 'https://s3.example.test:9443');
  assert.equal(p['fs.s3a.connection.ssl.enabled'], 'true');
});

test('the snippet is a file `coffer hadoop check` accepts for the user it was made for', async () => {
  await userFactory(srv).create('hadoop-etl-2', { s3: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }], kms: [{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn }] });
  const r = await config('--bucket', bucket, '--key', keyArn, '--user', 'hadoop-etl-2');
  assert.equal(r.code, 0, r.stderr);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-hadoop-config-'));
  try {
    const file = path.join(dir, 'core-site.xml');
    await fs.writeFile(file, r.stdout);
    const c = await coffer(['hadoop', 'check', file, '--bucket', bucket, '--data-dir', srv.dataDir], ROOT_ENV);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /kms:GenerateDataKey allowed/);
    assert.match(c.stdout, /kms:Decrypt allowed/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  // Its two access keys are used up now: a third is refused with a way out.
  const again = await config('--bucket', bucket, '--user', 'hadoop-etl-2');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /user hadoop-etl-2 already has the most access keys allowed \(2\)\ncoffer: hint: remove one .* or pass --access-key-id ID/);
});
