// `coffer rekey` reads AWS profiles (cli/aws-profile.ts): AWS_PROFILE / --profile in the
// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) and the config file
// (AWS_CONFIG_FILE or ~/.aws/config: region, endpoint_url), with flags first, then
// environment variables, then the profile. And a start that fails (no such bucket, an
// unreachable endpoint, refused credentials) leaves no checkpoint file behind.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { CLI_MAIN } from '../interop/support.js';
import { parseIni } from '../../src/cli/aws-profile.js';

let srv: TestServer;
let work: string;
let keyA: string;
let keyB: string;
const bucket = uniqueBucket('rekey-profile');

function cli(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, 'rekey', ...args], { env: { PATH: process.env.PATH ?? '', HOME: work, ...env }, cwd: work, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-rekey-profile-'));
  keyA = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  keyB = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const k of ['one', 'two']) await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
  await fs.mkdir(path.join(work, '.aws'));
  await fs.mkdir(path.join(work, 'elsewhere'));
  // ~/.aws: a default profile with wrong keys, the "coffer" profile with the root's keys and the server's endpoint.
  await fs.writeFile(path.join(work, '.aws', 'credentials'), [
    '[default]', 'aws_access_key_id = AKIANOTACOFFERKEY000', 'aws_secret_access_key = wrong', '',
    '# the test server', '[coffer]', `aws_access_key_id = ${ROOT_KEY_ID}`, `aws_secret_access_key=${ROOT_SECRET}`, '',
  ].join('\n'));
  await fs.writeFile(path.join(work, '.aws', 'config'), [
    '[default]', 'region = us-east-1', `endpoint_url = ${srv.url}`, '',
    '[profile coffer]', 'region = us-east-1', 's3 =', '  addressing_style = path', `endpoint_url = ${srv.url} ; the test server`, '',
  ].join('\n'));
  // Files elsewhere, named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE.
  await fs.writeFile(path.join(work, 'elsewhere', 'creds'), `[ops]\naws_access_key_id = ${ROOT_KEY_ID}\naws_secret_access_key = ${ROOT_SECRET}\n`);
  await fs.writeFile(path.join(work, 'elsewhere', 'config'), `[profile ops]\nendpoint_url = ${srv.url}\n`);
});

after(async () => {
  await srv.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const keyOf = async (k: string) => (await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k }))).SSEKMSKeyId;

test('parseIni: sections, comments, "profile NAME" headers and nested sub-sections', () => {
  const ini = parseIni('; top\n[profile  a]\nregion = eu-west-1 # here\ns3 =\n  region = nested\nAWS_Access_Key_Id=AK\n\n[b]\nx = 1 = 2\n');
  assert.deepEqual(Object.fromEntries(ini.get('profile a')!), { region: 'eu-west-1', aws_access_key_id: 'AK' });
  assert.deepEqual(Object.fromEntries(ini.get('b')!), { x: '1 = 2' });
});

test('AWS_PROFILE names a profile of ~/.aws/credentials and ~/.aws/config: its keys and endpoint_url are used', async () => {
  const r = await cli({ AWS_PROFILE: 'coffer' }, '--bucket', bucket, '--to-key', keyB, '--json', '--progress', 'off');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { objects: { rewrapped: number } }).objects.rewrapped, 2);
  assert.equal(await keyOf('one'), keyB);
});

test('AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE replace ~/.aws, and --profile names the profile', async () => {
  const env = { AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'elsewhere', 'creds'), AWS_CONFIG_FILE: path.join(work, 'elsewhere', 'config'), AWS_PROFILE: 'coffer' };
  const r = await cli(env, '--profile', 'ops', '--bucket', bucket, '--to-key', keyA, '--json', '--progress', 'off');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await keyOf('two'), keyA);
});

test('precedence: environment keys over the profile, flags over both', async () => {
  // The default profile's keys are wrong; the environment's are right.
  const envKeys = await cli({ AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET }, '--bucket', bucket, '--to-key', keyB, '--json', '--progress', 'off');
  assert.equal(envKeys.code, 0, envKeys.stderr);
  // The environment's keys are wrong, the profile's right: the environment wins, and is refused.
  const wrongEnv = await cli({ AWS_PROFILE: 'coffer', AWS_ACCESS_KEY_ID: 'AKIANOTACOFFERKEY000', AWS_SECRET_ACCESS_KEY: 'wrong' }, '--bucket', bucket, '--to-key', keyB, '--progress', 'off');
  assert.notEqual(wrongEnv.code, 0);
  assert.match(wrongEnv.stderr, /refused the credentials: (InvalidAccessKeyId|InvalidClientTokenId|UnrecognizedClientException)/);
  // --endpoint over the profile's endpoint_url, --profile over the environment's keys.
  const flags = await cli({ AWS_ACCESS_KEY_ID: 'AKIANOTACOFFERKEY000', AWS_SECRET_ACCESS_KEY: 'wrong', COFFER_ENDPOINT: 'http://127.0.0.1:1' }, '--profile', 'coffer', '--endpoint', srv.url, '--bucket', bucket, '--to-key', keyB, '--json', '--progress', 'off');
  assert.equal(flags.code, 0, flags.stderr);
});

test('a profile named by AWS_PROFILE that neither file has is an error naming it', async () => {
  const r = await cli({ AWS_PROFILE: 'nosuch' }, '--bucket', bucket, '--to-key', keyB);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /the AWS profile "nosuch" \(AWS_PROFILE\) is in neither/);
});

test('a start that fails leaves no checkpoint file: no such bucket, an unreachable endpoint, refused credentials', async () => {
  const root = { AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET };
  const cases: Array<[string, Record<string, string>, string[]]> = [
    ['no-bucket', root, ['--endpoint', srv.url, '--bucket', uniqueBucket('rekey-missing')]],
    ['unreachable', root, ['--endpoint', 'http://127.0.0.1:1', '--bucket', bucket]],
    ['refused', { AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: 'wrong' }, ['--endpoint', srv.url, '--bucket', bucket]],
  ];
  for (const [name, env, args] of cases) {
    const stateFile = path.join(work, `${name}.json`);
    const r = await cli(env, ...args, '--to-key', keyB, '--state-file', stateFile, '--progress', 'off');
    assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
    assert.ok(!existsSync(stateFile), `${name}: no checkpoint file after a failed start (${r.stderr.trim()})`);
  }
});
