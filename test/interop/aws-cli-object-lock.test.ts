// S3 Object Lock with the real AWS CLI (v1), as a script uses it: `create-bucket
// --object-lock-enabled-for-bucket`, `put-/get-object-lock-configuration`, `put-object
// --object-lock-mode/--object-lock-retain-until-date/--object-lock-legal-hold-status`,
// `put-/get-object-retention`, `put-/get-object-legal-hold`, and `delete-object` /
// `delete-objects` refused (non-zero exit, AccessDenied on stderr or in Errors) or let through
// with `--bypass-governance-retention`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv, writeAwsConfig } from './aws-cli-runner.js';

const PROTECTED = 'Access Denied because object protected by object lock.';
let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;
const bucket = uniqueBucket('cli-lock');

const { json, fails } = awsCli(() => ({ endpoint: srv.url, env, cwd: work, output: 'json' }));

async function refused(args: string[], code: string, message?: string): Promise<void> {
  const r = await fails(code, ...args);
  if (message) assert.ok(r.stderr.includes(message), r.stderr);
}

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-lock-'));
  env = awsCliEnv(work, { configFile: await writeAwsConfig(work) });
  await fs.writeFile(path.join(work, 'body.txt'), 'locked bytes');
  await json('s3api', 'create-bucket', '--bucket', bucket, '--object-lock-enabled-for-bucket');
});
after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('create-bucket --object-lock-enabled-for-bucket; put/get-object-lock-configuration with a default retention', async () => {
  assert.deepEqual(await json('s3api', 'get-object-lock-configuration', '--bucket', bucket), { ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } });
  await json('s3api', 'put-object-lock-configuration', '--bucket', bucket,
    '--object-lock-configuration', JSON.stringify({ ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } }));
  assert.deepEqual(await json('s3api', 'get-object-lock-configuration', '--bucket', bucket), {
    ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } },
  });
  const v = (await json('s3api', 'put-object', '--bucket', bucket, '--key', 'default', '--body', 'body.txt')).VersionId as string;
  const ret = (await json('s3api', 'get-object-retention', '--bucket', bucket, '--key', 'default', '--version-id', v)) as { Retention: { Mode: string } };
  assert.equal(ret.Retention.Mode, 'GOVERNANCE');
  await refused(['s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Suspended'], 'InvalidBucketState');
});

test('put-object with lock options; head-object shows them; COMPLIANCE refuses delete-object and shortening, even with --bypass-governance-retention', async () => {
  const until = inDays(2);
  const v = (await json('s3api', 'put-object', '--bucket', bucket, '--key', 'c', '--body', 'body.txt',
    '--object-lock-mode', 'COMPLIANCE', '--object-lock-retain-until-date', until, '--object-lock-legal-hold-status', 'ON')).VersionId as string;
  const head = (await json('s3api', 'head-object', '--bucket', bucket, '--key', 'c')) as Record<string, string>;
  assert.equal(head.ObjectLockMode, 'COMPLIANCE');
  assert.equal(Date.parse(head.ObjectLockRetainUntilDate!), Date.parse(until));
  assert.equal(head.ObjectLockLegalHoldStatus, 'ON');
  assert.deepEqual(await json('s3api', 'get-object-legal-hold', '--bucket', bucket, '--key', 'c', '--version-id', v), { LegalHold: { Status: 'ON' } });
  await json('s3api', 'put-object-legal-hold', '--bucket', bucket, '--key', 'c', '--version-id', v, '--legal-hold', 'Status=OFF');
  await refused(['s3api', 'delete-object', '--bucket', bucket, '--key', 'c', '--version-id', v, '--bypass-governance-retention'], 'AccessDenied', PROTECTED);
  await refused(['s3api', 'put-object-retention', '--bucket', bucket, '--key', 'c', '--version-id', v, '--bypass-governance-retention',
    '--retention', `Mode=COMPLIANCE,RetainUntilDate=${inDays(1)}`], 'AccessDenied', PROTECTED);
  await json('s3api', 'put-object-retention', '--bucket', bucket, '--key', 'c', '--version-id', v, '--retention', `Mode=COMPLIANCE,RetainUntilDate=${inDays(3)}`);
  const multi = (await json('s3api', 'delete-objects', '--bucket', bucket, '--bypass-governance-retention',
    '--delete', JSON.stringify({ Objects: [{ Key: 'c', VersionId: v }] }))) as { Errors?: { Code: string; Message: string; VersionId: string }[] };
  assert.deepEqual(multi.Errors?.map((e) => [e.Code, e.Message, e.VersionId]), [['AccessDenied', PROTECTED, v]]);
});

test('GOVERNANCE: delete-object by version id is refused without --bypass-governance-retention and done with it; so is shortening', async () => {
  const v = (await json('s3api', 'put-object', '--bucket', bucket, '--key', 'g', '--body', 'body.txt',
    '--object-lock-mode', 'GOVERNANCE', '--object-lock-retain-until-date', inDays(5))).VersionId as string;
  await refused(['s3api', 'delete-object', '--bucket', bucket, '--key', 'g', '--version-id', v], 'AccessDenied', PROTECTED);
  await refused(['s3api', 'put-object-retention', '--bucket', bucket, '--key', 'g', '--version-id', v,
    '--retention', `Mode=GOVERNANCE,RetainUntilDate=${inDays(1)}`], 'AccessDenied', PROTECTED);
  await json('s3api', 'put-object-retention', '--bucket', bucket, '--key', 'g', '--version-id', v, '--bypass-governance-retention',
    '--retention', `Mode=GOVERNANCE,RetainUntilDate=${inDays(1)}`);
  const deleted = (await json('s3api', 'delete-object', '--bucket', bucket, '--key', 'g', '--version-id', v, '--bypass-governance-retention')) as { VersionId: string };
  assert.equal(deleted.VersionId, v);
  await refused(['s3api', 'head-object', '--bucket', bucket, '--key', 'g', '--version-id', v], '404');
});
