// Versioning with the real AWS CLI (v1): `aws s3api put-bucket-versioning`,
// `get-bucket-versioning`, `list-object-versions` (versions and delete markers),
// `get-object --version-id` into a file, `delete-object --version-id`, and the MFA delete
// refusal a script sees (AccessDenied, non-zero exit).

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
const bucket = uniqueBucket('cli-ver');

const { run, json } = awsCli(() => ({ endpoint: srv.url, env, cwd: work, output: 'json' }));

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-ver-'));
  env = awsCliEnv(work, { configFile: await writeAwsConfig(work) });
  await json('s3api', 'create-bucket', '--bucket', bucket);
});
after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('put-bucket-versioning Enabled, then get-bucket-versioning answers it; MFA delete is refused', async () => {
  assert.deepEqual(await json('s3api', 'get-bucket-versioning', '--bucket', bucket), {});
  await json('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled');
  assert.deepEqual(await json('s3api', 'get-bucket-versioning', '--bucket', bucket), { Status: 'Enabled' });
  const mfa = await run('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled,MFADelete=Enabled',
    '--mfa', 'arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456');
  assert.notEqual(mfa.code, 0);
  assert.match(mfa.stderr, /\(AccessDenied\).*Mfa Authentication must be used for this request/);
});

test('list-object-versions, get-object --version-id and delete-object --version-id', async () => {
  await fs.writeFile(path.join(work, 'one.txt'), 'first body');
  await fs.writeFile(path.join(work, 'two.txt'), 'second');
  const v1 = (await json('s3api', 'put-object', '--bucket', bucket, '--key', 'k', '--body', 'one.txt')).VersionId as string;
  const v2 = (await json('s3api', 'put-object', '--bucket', bucket, '--key', 'k', '--body', 'two.txt')).VersionId as string;
  const marker = (await json('s3api', 'delete-object', '--bucket', bucket, '--key', 'k')) as { DeleteMarker: boolean; VersionId: string };
  assert.equal(marker.DeleteMarker, true);
  const listed = (await json('s3api', 'list-object-versions', '--bucket', bucket)) as {
    Versions: { Key: string; VersionId: string; IsLatest: boolean; Size: number }[];
    DeleteMarkers: { Key: string; VersionId: string; IsLatest: boolean }[];
  };
  assert.deepEqual(listed.Versions.map((v) => [v.VersionId, v.IsLatest, v.Size]), [[v2, false, 6], [v1, false, 10]]);
  assert.deepEqual(listed.DeleteMarkers.map((m) => [m.Key, m.VersionId, m.IsLatest]), [['k', marker.VersionId, true]]);
  const got = await json('s3api', 'get-object', '--bucket', bucket, '--key', 'k', '--version-id', v1, path.join(work, 'out.txt'));
  assert.equal(got.VersionId, v1);
  assert.equal(await fs.readFile(path.join(work, 'out.txt'), 'utf8'), 'first body');
  const missing = await run('s3api', 'get-object', '--bucket', bucket, '--key', 'k', path.join(work, 'none.txt'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /\(NoSuchKey\)/);
  await json('s3api', 'delete-object', '--bucket', bucket, '--key', 'k', '--version-id', marker.VersionId);
  const back = await json('s3api', 'get-object', '--bucket', bucket, '--key', 'k', path.join(work, 'back.txt'));
  assert.equal(back.VersionId, v2);
  assert.equal(await fs.readFile(path.join(work, 'back.txt'), 'utf8'), 'second');
});
