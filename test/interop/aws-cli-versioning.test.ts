// Versioning with the real AWS CLI (v1): `aws s3api put-bucket-versioning`,
// `get-bucket-versioning`, `list-object-versions` (versions and delete markers),
// `get-object --version-id` into a file, `delete-object --version-id`, and the MFA delete
// refusal a script sees (AccessDenied, non-zero exit).

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
const bucket = uniqueBucket('cli-ver');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function aws(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile('aws', [...args, '--endpoint-url', srv.url, '--output', 'json'], { env, cwd: work, timeout: 60_000 }, (err, stdout, stderr) => {
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

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-ver-'));
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
  });
  await ok('s3api', 'create-bucket', '--bucket', bucket);
});
after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('put-bucket-versioning Enabled, then get-bucket-versioning answers it; MFA delete is refused', async () => {
  assert.deepEqual(await ok('s3api', 'get-bucket-versioning', '--bucket', bucket), {});
  await ok('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled');
  assert.deepEqual(await ok('s3api', 'get-bucket-versioning', '--bucket', bucket), { Status: 'Enabled' });
  const mfa = await aws('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled,MFADelete=Enabled',
    '--mfa', 'arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456');
  assert.notEqual(mfa.code, 0);
  assert.match(mfa.stderr, /\(AccessDenied\).*Mfa Authentication must be used for this request/);
});

test('list-object-versions, get-object --version-id and delete-object --version-id', async () => {
  await fs.writeFile(path.join(work, 'one.txt'), 'first body');
  await fs.writeFile(path.join(work, 'two.txt'), 'second');
  const v1 = (await ok('s3api', 'put-object', '--bucket', bucket, '--key', 'k', '--body', 'one.txt')).VersionId as string;
  const v2 = (await ok('s3api', 'put-object', '--bucket', bucket, '--key', 'k', '--body', 'two.txt')).VersionId as string;
  const marker = (await ok('s3api', 'delete-object', '--bucket', bucket, '--key', 'k')) as { DeleteMarker: boolean; VersionId: string };
  assert.equal(marker.DeleteMarker, true);
  const listed = (await ok('s3api', 'list-object-versions', '--bucket', bucket)) as {
    Versions: { Key: string; VersionId: string; IsLatest: boolean; Size: number }[];
    DeleteMarkers: { Key: string; VersionId: string; IsLatest: boolean }[];
  };
  assert.deepEqual(listed.Versions.map((v) => [v.VersionId, v.IsLatest, v.Size]), [[v2, false, 6], [v1, false, 10]]);
  assert.deepEqual(listed.DeleteMarkers.map((m) => [m.Key, m.VersionId, m.IsLatest]), [['k', marker.VersionId, true]]);
  const got = await ok('s3api', 'get-object', '--bucket', bucket, '--key', 'k', '--version-id', v1, path.join(work, 'out.txt'));
  assert.equal(got.VersionId, v1);
  assert.equal(await fs.readFile(path.join(work, 'out.txt'), 'utf8'), 'first body');
  const missing = await aws('s3api', 'get-object', '--bucket', bucket, '--key', 'k', path.join(work, 'none.txt'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /\(NoSuchKey\)/);
  await ok('s3api', 'delete-object', '--bucket', bucket, '--key', 'k', '--version-id', marker.VersionId);
  const back = await ok('s3api', 'get-object', '--bucket', bucket, '--key', 'k', path.join(work, 'back.txt'));
  assert.equal(back.VersionId, v2);
  assert.equal(await fs.readFile(path.join(work, 'back.txt'), 'utf8'), 'second');
});
