// Bucket CORS, bucket tagging and lifecycle rules with the real AWS CLI (v1) against the real server:
// `aws s3api put-/get-/delete-bucket-cors`, `put-/get-/delete-bucket-tagging` and
// `put-bucket-lifecycle-configuration`, `get-bucket-lifecycle-configuration`, `delete-bucket-lifecycle`, their
// JSON output, and the errors scripts see (NoSuchCORSConfiguration, NoSuchTagSet,
// InvalidRequest, InvalidTag) with a non-zero exit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv, writeAwsConfig } from './aws-cli-runner.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;
const bucket = uniqueBucket('cli-cfg');

const { json, fails } = awsCli(() => ({ endpoint: srv.url, env, output: 'json' }));

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-cfg-'));
  env = awsCliEnv(work, { configFile: await writeAwsConfig(work) });
  await json('s3api', 'create-bucket', '--bucket', bucket);
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('aws s3api put-bucket-cors, get-bucket-cors, delete-bucket-cors', async () => {
  await fails('NoSuchCORSConfiguration', 's3api', 'get-bucket-cors', '--bucket', bucket);
  const rules = { CORSRules: [{ AllowedHeaders: ['*'], AllowedMethods: ['GET', 'PUT'], AllowedOrigins: ['https://app.example.com'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 }] };
  await json('s3api', 'put-bucket-cors', '--bucket', bucket, '--cors-configuration', JSON.stringify(rules));
  assert.deepEqual(await json('s3api', 'get-bucket-cors', '--bucket', bucket), rules);
  const bad = await fails('InvalidRequest', 's3api', 'put-bucket-cors', '--bucket', bucket, '--cors-configuration', JSON.stringify({ CORSRules: [{ AllowedMethods: ['PATCH'], AllowedOrigins: ['*'] }] }));
  assert.match(bad.stderr, /Found unsupported HTTP method in CORS config\. Unsupported method is PATCH/);
  await json('s3api', 'delete-bucket-cors', '--bucket', bucket);
  await fails('NoSuchCORSConfiguration', 's3api', 'get-bucket-cors', '--bucket', bucket);
});

test('aws s3api put-bucket-tagging, get-bucket-tagging, delete-bucket-tagging', async () => {
  await fails('NoSuchTagSet', 's3api', 'get-bucket-tagging', '--bucket', bucket);
  const tagging = { TagSet: [{ Key: 'team', Value: 'storage' }, { Key: 'cost-center', Value: '42' }] };
  await json('s3api', 'put-bucket-tagging', '--bucket', bucket, '--tagging', JSON.stringify(tagging));
  assert.deepEqual(await json('s3api', 'get-bucket-tagging', '--bucket', bucket), tagging);
  const sys = await fails('InvalidTag', 's3api', 'put-bucket-tagging', '--bucket', bucket, '--tagging', JSON.stringify({ TagSet: [{ Key: 'aws:x', Value: 'y' }] }));
  assert.match(sys.stderr, /System tags cannot be added\/updated by requester/);
  await json('s3api', 'delete-bucket-tagging', '--bucket', bucket);
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
  await json('s3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration', JSON.stringify(config));
  const got = await json('s3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket);
  assert.deepEqual(got.Rules, config.Rules);
  assert.equal(got.TransitionDefaultMinimumObjectSize, 'all_storage_classes_128K');
  const put = await json('s3api', 'put-object', '--bucket', bucket, '--key', 'logs/today', '--body', path.join(work, 'aws-config'));
  assert.match(String(put.Expiration), /^expiry-date="[^"]+ 00:00:00 GMT", rule-id="logs"$/);
  const days = await fails('InvalidArgument', 's3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration',
    JSON.stringify({ Rules: [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 0 } }] }));
  assert.match(days.stderr, /'Days' for Expiration action must be a positive integer/);
  await fails('InvalidStorageClass', 's3api', 'put-bucket-lifecycle-configuration', '--bucket', bucket, '--lifecycle-configuration',
    JSON.stringify({ Rules: [{ ID: 'x', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }] }));
  await json('s3api', 'delete-bucket-lifecycle', '--bucket', bucket);
  await fails('NoSuchLifecycleConfiguration', 's3api', 'get-bucket-lifecycle-configuration', '--bucket', bucket);
});
