// `coffer hadoop check` against a real server's data directory, on the S3A interop suite's
// core-site.xml files (interop/hadoop-s3a/conf/, and files made by `coffer hadoop config`):
// each verdict — key found, enabled, the principal allowed kms:GenerateDataKey and kms:Decrypt —
// comes from the same decision KMS makes when S3 uses the key.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { keyPolicyWith, userFactory } from '../helpers/sse-principals.js';
import { CofferView } from '../../src/hadoop/coffer-view.js';
import { checkCoreSite, type BucketReport, type CheckReport } from '../../src/hadoop/check.js';
import { ROOT_ENV, coffer, fillTemplate, hadoopConfig } from './s3a-conf.js';

let srv: TestServer;
let work: string;
let bucket: string;
let otherBucket: string;
const keys: Record<string, string> = {};
const creds: Record<string, { accessKeyId: string; secretAccessKey: string; arn: string }> = {};

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-hadoop-check-'));
  bucket = uniqueBucket('hadoop-check');
  otherBucket = uniqueBucket('hadoop-other');
  for (const b of [bucket, otherBucket]) await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  const key = async (d: string) => (await srv.kms.send(new CreateKeyCommand({ Description: d }))).KeyMetadata!.Arn!;
  keys.main = await key('hadoop check: main');
  keys.other = await key('hadoop check: other');
  keys.disabled = await key('hadoop check: disabled');
  keys.org = await key('hadoop check: organization default');
  await srv.kms.send(new DisableKeyCommand({ KeyId: keys.disabled }));
  await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/hadoop-org', TargetKeyId: keys.org }));
  const users = userFactory(srv);
  const s3 = { Effect: 'Allow', Action: 's3:*', Resource: '*' };
  const allowed = await users.create('hadoop-allowed', { s3: [s3], kms: [{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' }] });
  const noDecrypt = await users.create('hadoop-writer', { s3: [s3], kms: [{ Effect: 'Allow', Action: ['kms:GenerateDataKey'], Resource: '*' }] });
  creds.allowed = { ...allowed.credentials, arn: allowed.arn };
  creds.noDecrypt = { ...noDecrypt.credentials, arn: noDecrypt.arn };
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function template(name: string, values: Record<string, string>, who: { accessKeyId: string; secretAccessKey: string } = creds.allowed!): Promise<string> {
  const out = path.join(work, `${path.basename(name, '.xml')}-${Object.values(values).join('').length}-${Math.random().toString(36).slice(2, 8)}.xml`);
  return fillTemplate(name, { ENDPOINT: srv.url, REGION: 'us-east-1', BUCKET: bucket, ACCESS_KEY: who.accessKeyId, SECRET_KEY: who.secretAccessKey, ...values }, out);
}

async function check(file: string, buckets: string[] = [bucket], defaultKmsKeyId?: string): Promise<CheckReport> {
  const view = await CofferView.open({ dataDir: srv.dataDir, env: { ...process.env, ...ROOT_ENV }, ...(defaultKmsKeyId ? { defaultKmsKeyId } : {}) });
  try {
    return await checkCoreSite(view, path.basename(file), await fs.readFile(file, 'utf8'), buckets);
  } finally {
    await view.close();
  }
}

const finding = (r: BucketReport, name: string) => r.findings.find((f) => f.check === name);
const show = (r: BucketReport) => JSON.stringify(r.findings, null, 1);

test('an allowed user with the interop suite\'s per-bucket file: OK, key and both KMS actions allowed, exit 0', async () => {
  const file = await template('per-bucket-key.xml', { KEY: keys.other!, OTHER_KEY: keys.main! });
  const r = (await check(file)).buckets[0]!;
  assert.ok(r.ok, show(r));
  assert.equal(r.principal, creds.allowed!.arn);
  assert.equal(finding(r, 'kms:GenerateDataKey')?.status, 'ok');
  assert.equal(finding(r, 'kms:Decrypt')?.status, 'ok');
  assert.equal(finding(r, 's3:PutObject')?.status, 'ok');
  const cli = await coffer(['hadoop', 'check', file, '--bucket', bucket, '--data-dir', srv.dataDir], ROOT_ENV);
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /=> OK/);
  assert.ok(!cli.stdout.includes(creds.allowed!.secretAccessKey), 'the secret key is never printed');
});

test('per-bucket override beats the base: the bucket gets OTHER_KEY, the base configuration KEY', async () => {
  const file = await template('per-bucket-key.xml', { KEY: keys.other!, OTHER_KEY: keys.main! });
  const report = await check(file, []);
  assert.deepEqual(report.buckets.map((b) => b.bucket), [bucket, null], 'no --bucket: every bucket with overrides, then the base');
  const [perBucket, base] = report.buckets as [BucketReport, BucketReport];
  assert.equal(perBucket.key?.arn, keys.main);
  assert.deepEqual(perBucket.settings.find((s) => s.setting === 'key'), { setting: 'key', value: keys.main, from: `fs.s3a.bucket.${bucket}.encryption.key` });
  assert.equal(base.key?.arn, keys.other);
  assert.deepEqual(base.settings.find((s) => s.setting === 'key'), { setting: 'key', value: keys.other, from: 'fs.s3a.encryption.key' });
});

test('legacy and current names: the later definition wins (legacy-and-current-names.xml)', async () => {
  const file = await template('legacy-and-current-names.xml', { KEY: keys.other!, OTHER_KEY: keys.main! });
  const r = (await check(file)).buckets[0]!;
  assert.equal(r.key?.arn, keys.main);
  assert.deepEqual(r.settings.find((s) => s.setting === 'key'), { setting: 'key', value: keys.main, from: 'fs.s3a.server-side-encryption.key' });
});

test('a user without kms:Decrypt: the denial names kms:Decrypt with KMS\'s reason; writes are fine; exit 1 and JSON', async () => {
  const file = await template('per-bucket-key.xml', { KEY: keys.main!, OTHER_KEY: keys.main! }, creds.noDecrypt!);
  const r = (await check(file)).buckets[0]!;
  assert.equal(r.ok, false);
  assert.equal(finding(r, 'kms:GenerateDataKey')?.status, 'ok', show(r));
  const d = finding(r, 'kms:Decrypt')!;
  assert.equal(d.status, 'problem');
  assert.ok(d.message.includes(`User: ${creds.noDecrypt!.arn} is not authorized to perform: kms:Decrypt on resource: ${keys.main} because no identity-based policy allows the kms:Decrypt action`), d.message);
  const cli = await coffer(['hadoop', 'check', file, '--bucket', bucket, '--json', '--data-dir', srv.dataDir], ROOT_ENV);
  assert.equal(cli.code, 1, cli.stderr);
  const json = JSON.parse(cli.stdout) as CheckReport;
  assert.equal(json.ok, false);
  assert.equal(json.buckets[0]!.findings.find((f) => f.check === 'kms:Decrypt')?.status, 'problem');
});

test('a disabled key: says disabled and fails', async () => {
  const file = await template('encryption-context.xml', { KEY: keys.disabled! });
  const r = (await check(file)).buckets[0]!;
  assert.equal(r.ok, false);
  assert.equal(r.key?.state, 'Disabled');
  assert.match(finding(r, 'key')!.message, /is disabled/);
});

test("AWS's AllowOnlySymmetricAlgorithm Deny in the key policy: both KMS actions still allowed, as S3's calls present kms:EncryptionAlgorithm", async () => {
  const acct = srv.coffer.root.accountId;
  const Policy = keyPolicyWith(acct, {
    Sid: 'AllowOnlySymmetricAlgorithm', Effect: 'Deny', Principal: { AWS: '*' }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'], Resource: '*',
    Condition: { StringNotEquals: { 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' } },
  });
  const key = (await srv.kms.send(new CreateKeyCommand({ Description: 'hadoop check: symmetric only', Policy }))).KeyMetadata!.Arn!;
  const r = (await check(await template('encryption-context.xml', { KEY: key }))).buckets[0]!;
  assert.equal(finding(r, 'kms:GenerateDataKey')?.status, 'ok', show(r));
  assert.equal(finding(r, 'kms:Decrypt')?.status, 'ok', show(r));
});

test('a key that may make data keys only by its alias: the check presents the alias S3A names (kms:RequestAlias), as S3 does', async () => {
  const acct = srv.coffer.root.accountId;
  const alias = `alias/hadoop-by-alias-${Date.now()}`;
  const Policy = keyPolicyWith(acct, {
    Sid: 'Data keys only by alias', Effect: 'Deny', Principal: { AWS: creds.allowed!.arn }, Action: 'kms:GenerateDataKey', Resource: '*',
    Condition: { StringNotEquals: { 'kms:RequestAlias': alias } },
  });
  const key = (await srv.kms.send(new CreateKeyCommand({ Description: 'hadoop check: by alias', Policy }))).KeyMetadata!.Arn!;
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key }));
  const byAlias = (await check(await template('encryption-context.xml', { KEY: alias }))).buckets[0]!;
  assert.equal(finding(byAlias, 'kms:GenerateDataKey')?.status, 'ok', show(byAlias));
  assert.equal(finding(byAlias, 'kms:Decrypt')?.status, 'ok', show(byAlias));
  const byArn = (await check(await template('encryption-context.xml', { KEY: key }))).buckets[0]!;
  assert.equal(finding(byArn, 'kms:GenerateDataKey')?.status, 'problem', show(byArn));
});

test('an unset key means aws/s3 — or the organization default when the server has one', async () => {
  const out = path.join(work, 'default-key.xml');
  await hadoopConfig(srv.dataDir, ['--bucket', bucket, '--endpoint', srv.url, '--access-key-id', creds.allowed!.accessKeyId], out, { AWS_SECRET_ACCESS_KEY: creds.allowed!.secretAccessKey });
  const r = (await check(out)).buckets[0]!;
  assert.ok(r.ok, show(r));
  assert.equal(r.key?.configured, null);
  assert.match(r.key!.meaning, /aws\/s3/);
  // The AWS managed key allows any principal of the account through S3: no KMS permission needed.
  assert.equal(finding(r, 'kms:Decrypt')?.status, 'ok');
  const org = (await check(out, [bucket], 'alias/hadoop-org')).buckets[0]!;
  assert.match(org.key!.meaning, /organization default key alias\/hadoop-org/);
  assert.equal(org.key?.arn, keys.org);
  const cli = await coffer(['hadoop', 'check', out, '--bucket', bucket, '--data-dir', srv.dataDir], { ...ROOT_ENV, COFFER_DEFAULT_KMS_KEY_ID: 'alias/hadoop-org' });
  assert.match(cli.stdout, /organization default key alias\/hadoop-org/);
});

test('jceks: the credential provider is reported as not readable, and the principal as unknown', async () => {
  const file = await template('jceks.xml', { KEY: keys.main! });
  const r = (await check(file)).buckets[0]!;
  const p = finding(r, 'credential-provider')!;
  assert.equal(p.status, 'warn');
  assert.match(p.message, /jceks:\/\/file\/etc\/hadoop\/s3a\.jceks is not readable by coffer.*checking as unknown principal/);
  assert.equal(finding(r, 'kms:Decrypt')?.status, 'warn');
  assert.match(finding(r, 'kms:Decrypt')!.message, /principal is unknown/);
  assert.equal(r.principal, null);
});

test('wrong secret, unknown access key, missing bucket, unknown key: each a problem', async () => {
  const wrong = (await check(await template('per-bucket-key.xml', { KEY: keys.main!, OTHER_KEY: keys.main! }, { accessKeyId: creds.allowed!.accessKeyId, secretAccessKey: 'not-the-secret' }))).buckets[0]!;
  assert.match(finding(wrong, 'principal')!.message, /secret key does not match/);
  const unknown = (await check(await template('sse-s3.xml', {}, { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' }))).buckets[0]!;
  assert.match(finding(unknown, 'principal')!.message, /does not exist/);
  const noBucket = (await check(await template('sse-s3.xml', {}), ['no-such-bucket-hadoop'])).buckets[0]!;
  assert.match(finding(noBucket, 'bucket')!.message, /does not exist/);
  const noKey = (await check(await template('cse-kms.xml', { KEY: 'alias/no-such-key' }))).buckets[0]!;
  assert.equal(noKey.ok, false);
  assert.match(finding(noKey, 'key')!.message, /NotFoundException: Alias .*alias\/no-such-key is not found/);
});

test('a bucket policy that denies SSE-KMS uploads is reported with S3\'s wording', async () => {
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: otherBucket,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${otherBucket}/*`, Condition: { StringEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } }] }),
  }));
  const file = await template('per-bucket-key.xml', { KEY: keys.main!, OTHER_KEY: keys.main! });
  const r = (await check(file, [otherBucket])).buckets[0]!;
  assert.equal(finding(r, 's3:PutObject')?.status, 'problem');
  assert.match(finding(r, 's3:PutObject')!.message, /s3:PutObject .* with an explicit deny in a resource-based policy/);
  assert.equal(finding(r, 's3:GetObject')?.status, 'ok');
});

test('a bucket that takes only SigV4 (a deny of any other s3:signatureversion) is checked as S3A signs: allowed', async () => {
  const v4only = uniqueBucket('hadoop-sigv4');
  await srv.s3.send(new CreateBucketCommand({ Bucket: v4only }));
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: v4only,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${v4only}`, `arn:aws:s3:::${v4only}/*`],
      Condition: { StringNotEquals: { 's3:signatureversion': 'AWS4-HMAC-SHA256' } },
    }] }),
  }));
  const out = path.join(work, 'sigv4-only.xml');
  await hadoopConfig(srv.dataDir, ['--bucket', v4only, '--endpoint', srv.url, '--algorithm', 'none', '--access-key-id', creds.allowed!.accessKeyId], out, { AWS_SECRET_ACCESS_KEY: creds.allowed!.secretAccessKey });
  const r = (await check(out, [v4only])).buckets[0]!;
  assert.equal(finding(r, 's3:PutObject')?.status, 'ok', show(r));
  assert.equal(finding(r, 's3:GetObject')?.status, 'ok', show(r));
});

test('no algorithm in the file: the bucket\'s default encryption applies, and an aws:kms default is checked like a configured key', async () => {
  const kmsDefault = uniqueBucket('hadoop-default-kms');
  await srv.s3.send(new CreateBucketCommand({ Bucket: kmsDefault }));
  await srv.s3.send(new PutBucketEncryptionCommand({
    Bucket: kmsDefault,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keys.main } }] },
  }));
  const out = path.join(work, 'no-algorithm.xml');
  await hadoopConfig(srv.dataDir, ['--bucket', kmsDefault, '--endpoint', srv.url, '--algorithm', 'none', '--access-key-id', creds.noDecrypt!.accessKeyId], out, { AWS_SECRET_ACCESS_KEY: creds.noDecrypt!.secretAccessKey });
  const r = (await check(out, [kmsDefault])).buckets[0]!;
  assert.equal(r.algorithm, 'NONE');
  assert.match(finding(r, 'algorithm')!.message, new RegExp(`bucket default applies \\(aws:kms with ${keys.main}\\)`));
  assert.equal(r.key?.arn, keys.main);
  assert.equal(finding(r, 'kms:Decrypt')?.status, 'problem', show(r));
  // A bucket without a default: SSE-S3, nothing to check in KMS.
  const plain = (await check(out, [bucket])).buckets[0]!;
  assert.ok(plain.ok, show(plain));
  assert.match(finding(plain, 'algorithm')!.message, /SSE-S3 on a bucket without one/);
});

test('a credentials provider that ignores fs.s3a.access.key, and ${variables}: warnings, since the principal checked may not be S3A\'s', async () => {
  const file = await template('per-bucket-key.xml', { KEY: keys.main!, OTHER_KEY: '${env.HADOOP_KMS_KEY}' });
  const text = (await fs.readFile(file, 'utf8')).replace('org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider', 'software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider');
  await fs.writeFile(file, text);
  const r = (await check(file)).buckets[0]!;
  assert.match(finding(r, 'aws-credentials-provider')!.message, /EnvironmentVariableCredentialsProvider, none of which reads fs\.s3a\.access\.key/);
  assert.match(finding(r, 'variables')!.message, new RegExp(`fs\\.s3a\\.bucket\\.${bucket}\\.encryption\\.key uses Hadoop variable substitution`));
});

test('an SSE-C customer key is never printed: text, --json and the report show its size only; KMS key references stay visible', async () => {
  const customerKey = randomBytes(32).toString('base64');
  const file = await template('sse-c.xml', { SSEC_KEY: customerKey });
  const r = (await check(file)).buckets[0]!;
  assert.equal(finding(r, 'algorithm')?.status, 'ok', show(r));
  assert.deepEqual(r.settings.find((s) => s.setting === 'key'), { setting: 'key', value: '(set, 32 bytes)', from: 'fs.s3a.encryption.key' });
  assert.ok(!JSON.stringify(r).includes(customerKey), 'not in the report');
  for (const args of [[], ['--json']]) {
    const cli = await coffer(['hadoop', 'check', file, '--bucket', bucket, ...args, '--data-dir', srv.dataDir], ROOT_ENV);
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /\(set, 32 bytes\)/);
    for (const out of [cli.stdout, cli.stderr]) assert.ok(!out.includes(customerKey) && !out.includes(customerKey.slice(0, 24)), `coffer hadoop check ${args.join(' ')} printed the customer key`);
  }
  // The same key under a per-bucket override, and with the algorithm misspelt or missing: still key material.
  const text = await fs.readFile(file, 'utf8');
  for (const algorithm of ['SSE-C ', 'SSEC', '']) {
    const variant = path.join(work, `sse-c-variant-${algorithm.trim() || 'none'}.xml`);
    await fs.writeFile(variant, text.replace('<value>SSE-C</value>', `<value>${algorithm}</value>`).replace(/fs\.s3a\.encryption\./g, `fs.s3a.bucket.${bucket}.encryption.`));
    const cli = await coffer(['hadoop', 'check', variant, '--json', '--data-dir', srv.dataDir], ROOT_ENV);
    // A crash with no output would print no key either: the check must have run (0: no
    // problem, 1: findings) and shown the key in its masked form.
    assert.ok(cli.code === 0 || cli.code === 1, `algorithm ${JSON.stringify(algorithm)}: exit ${cli.code}: ${cli.stdout}${cli.stderr}`);
    const report = JSON.parse(cli.stdout) as { buckets: { settings: { setting: string; value: string }[] }[] };
    assert.equal(report.buckets[0]?.settings.find((s) => s.setting === 'key')?.value, '(set, 32 bytes)', `algorithm ${JSON.stringify(algorithm)}: ${cli.stdout}`);
    assert.ok(!cli.stdout.includes(customerKey) && !cli.stderr.includes(customerKey), `algorithm ${JSON.stringify(algorithm)}: printed the customer key`);
  }
  // A KMS key is shown as written (an alias, an ARN): it names a key, it is not one.
  const kms = (await check(await template('cse-kms.xml', { KEY: 'alias/hadoop-org' }))).buckets[0]!;
  assert.equal(kms.settings.find((s) => s.setting === 'key')?.value, 'alias/hadoop-org');
});

test('coffer hadoop config refuses a customer key given as --key without repeating it', async () => {
  const customerKey = randomBytes(32).toString('base64');
  const cli = await coffer(['hadoop', 'config', '--data-dir', srv.dataDir, '--bucket', bucket, '--endpoint', srv.url, '--no-credentials', '--key', customerKey], ROOT_ENV);
  assert.notEqual(cli.code, 0, cli.stdout);
  assert.match(cli.stderr, /customer key \(SSE-C\), not a KMS key/);
  assert.ok(!cli.stdout.includes(customerKey) && !cli.stderr.includes(customerKey), 'coffer hadoop config printed the customer key');
});
