// Bucket CORS, bucket tagging and lifecycle rules with the real AWS CLI (v1) against the real server:
// `aws s3api put-/get-/delete-bucket-cors`, `put-/get-/delete-bucket-tagging` and
// `put-bucket-lifecycle-configuration`, `get-bucket-lifecycle-configuration`, `delete-bucket-lifecycle`, their
// JSON output, and the errors scripts see (NoSuchCORSConfiguration, NoSuchTagSet,
// InvalidRequest, InvalidTag) with a non-zero exit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './support.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;
const bucket = uniqueBucket('cli-cfg');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function aws(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile('aws', [...args, '--endpoint-url', srv.url, '--output', 'json'], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<Record<string, unknown>> {
  const r = await aws(...args);
  assert.equal(r.code, 0, `aws ${args.join(' ')} exited ${r.code}\nstderr: ${r.stderr}`);
  return r.stdout.trim() === '' ? {} : (JSON.parse(r.stdout) as Record<string, unknown>);
}

async function fails(code: string, ...args: string[]): Promise<string> {
  const r = await aws(...args);
  assert.notEqual(r.code, 0, `aws ${args.join(' ')} should fail`);
  assert.match(r.stderr, new RegExp(`\\(${code}\\)`), r.stderr);
  return r.stderr;
}

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-cfg-'));
  const config = path.join(work, 'aws-config');
  await fs.writeFile(config, ['[default]', 'region = us-east-1', 's3 =', '    addressing_style = path', ''].join('\n'));
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: ROOT_KEY_ID,
    AWS_SECRET_ACCESS_KEY: ROOT_SECRET,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  });
  await ok('s3api', 'create-bucket', '--bucket', bucket);
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('aws s3api put-bucket-cors, get-bucket-cors, delete-bucket-cors', async () => {
  await fails('NoSuchCORSConfiguration', 's3api', 'get-bucket-cors', '--bucket', bucket);
  const rules = { CORSRules: [{ AllowedHeaders: ['*'], AllowedMethods: ['GET', 'PUT'], AllowedOrigins: ['https://app.example.com'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 }] };
  await ok('s3api', 'put-bucket-cors', '--bucket', bucket, '--cors-configuration', JSON.stringify(rules));
  assert.deepEqual(await ok('s3api', 'get-bucket-cors', '--bucket', bucket), rules);
  const bad = await fails('InvalidRequest', 's3api', 'put-bucket-cors', '--bucket', bucket, '--cors-configuration', JSON.stringify({ CORSRules: [{ AllowedMethods: ['PATCH'], AllowedOrigins: ['*'] }] }));
  assert.match(bad, /Found unsupported HTTP method in CORS config\. Unsupported method is PATCH/);
  await ok('s3api', 'delete-bucket-cors', '--bucket', bucket);
  await fails('NoSuchCORSConfiguration', 's3api', 'get-bucket-cors', '--bucket', bucket);
});

test('aws s3api put-bucket-tagging, get-bucket-tagging, delete-bucket-tagging', async () => {
  await fails('NoSuchTagSet', 's3api', 'get-bucket-tagging', '--bucket', bucket);
  const tagging = { TagSet: [{ Key: 'team', Value: 'storage' }, { Key: 'cost-center', Value: '42' }] };
  await ok('s3api', 'put-bucket-tagging', '--bucket', bucket, '--tagging', JSON.stringify(tagging));
  assert.deepEqual(await ok('s3api', 'get-bucket-tagging', '--bucket', bucket), tagging);
  const sys = await fails('InvalidTag', 's3api', 'put-bucket-tagging', '--bucket', bucket, '--tagging', JSON.stringify({ TagSet: [{ Key: 'aws:x', Value: 'y' }] }));
  assert.match(sys, /System tags cannot be added\/updated by requester/);
  await ok('s3api', 'delete-bucket-tagging', '--bucket', bucket);
  await fails('NoSuchTagSet', 's3api', 'get-bucket-tagging', '--bucket', bucket);
});

test('aws s3api put-bucket-lifecycle-configuration, get-bucket-lifecycle-configuration, delete-bucket-lifecycle', async () => {
  await fails('NoSuchLifecycleConfiguration', 's3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket);
  const config = {
    Rules: [
      { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
      { ID: 'old-versions', Status: 'Enabled', Filter: { And: { Prefix: 'data/', Tags: [{ Key: 'tier', Value: 'cold' }] } }, NoncurrentVersionExpiration: { NoncurrentDays: 10, NewerNoncurrentVersions: 2 } },
    ],
  };
  await ok('s3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration', JSON.stringify(config));
  const got = await ok('s3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket);
  assert.deepEqual(got.Rules, config.Rules);
  assert.equal(got.TransitionDefaultMinimumObjectSize, 'all_storage_classes_128K');
  const put = await ok('s3api', 'put-object', '--bucket', bucket, '--key', 'logs/today', '--body', path.join(work, 'aws-config'));
  assert.match(String(put.Expiration), /^expiry-date="[^"]+ 00:00:00 GMT", rule-id="logs"$/);
  const days = await fails('InvalidArgument', 's3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration',
    JSON.stringify({ Rules: [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 0 } }] }));
  assert.match(days, /'Days' for Expiration action must be a positive integer/);
  await fails('InvalidStorageClass', 's3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration',
    JSON.stringify({ Rules: [{ ID: 'x', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }] }));
  await ok('s3api', 'delete-bucket-lifecycle', '--bucket', bucket);
  await fails('NoSuchLifecycleConfiguration', 's3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket);
});
