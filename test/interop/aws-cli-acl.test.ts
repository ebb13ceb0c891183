// The real AWS CLI's `aws s3api` commands for object ownership, ACLs and the public
// access block, against the real server: what users script, with AWS's error codes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './support.js';

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('aws', [...args, '--endpoint-url', srv.url, '--output', 'json'], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

async function ok<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const r = await aws(...args);
  assert.equal(r.code, 0, `aws ${args.join(' ')} exited ${r.code}\nstderr: ${r.stderr}`);
  return (r.stdout.trim() === '' ? {} : JSON.parse(r.stdout)) as T;
}

async function fails(code: RegExp, ...args: string[]): Promise<void> {
  const r = await aws(...args);
  assert.equal(r.code, 255, `aws ${args.join(' ')} should fail\nstdout: ${r.stdout}`);
  assert.match(r.stderr, code);
}

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-acl-'));
  const config = path.join(work, 'aws-config');
  await fs.writeFile(config, ['[default]', 'region = us-east-1', 's3 =', '    addressing_style = path', '    signature_version = s3v4', ''].join('\n'));
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-credentials'), AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '',
  });
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('s3api create-bucket --object-ownership, put/get/delete-bucket-ownership-controls', async () => {
  const b = uniqueBucket('cli-own');
  await ok('s3api', 'create-bucket', '--bucket', b, '--object-ownership', 'ObjectWriter');
  const got = await ok<{ OwnershipControls: { Rules: { ObjectOwnership: string }[] } }>('s3api', 'get-bucket-ownership-controls', '--bucket', b);
  assert.deepEqual(got.OwnershipControls.Rules, [{ ObjectOwnership: 'ObjectWriter' }]);
  await ok('s3api', 'put-bucket-ownership-controls', '--bucket', b, '--ownership-controls', 'Rules=[{ObjectOwnership=BucketOwnerPreferred}]');
  const again = await ok<{ OwnershipControls: { Rules: { ObjectOwnership: string }[] } }>('s3api', 'get-bucket-ownership-controls', '--bucket', b);
  assert.deepEqual(again.OwnershipControls.Rules, [{ ObjectOwnership: 'BucketOwnerPreferred' }]);
  await ok('s3api', 'delete-bucket-ownership-controls', '--bucket', b);
  await fails(/OwnershipControlsNotFoundError/, 's3api', 'get-bucket-ownership-controls', '--bucket', b);
});

test('s3api put/get/delete-public-access-block; get-bucket-policy-status', async () => {
  const b = uniqueBucket('cli-pab');
  await ok('s3api', 'create-bucket', '--bucket', b);
  const dflt = await ok<{ PublicAccessBlockConfiguration: Record<string, boolean> }>('s3api', 'get-public-access-block', '--bucket', b);
  assert.deepEqual(dflt.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] });
  await fails(/AccessDenied/, 's3api', 'put-bucket-policy', '--bucket', b, '--policy', policy);
  await ok('s3api', 'put-public-access-block', '--bucket', b, '--public-access-block-configuration',
    'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=false');
  const set = await ok<{ PublicAccessBlockConfiguration: Record<string, boolean> }>('s3api', 'get-public-access-block', '--bucket', b);
  assert.deepEqual(set.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false });
  await ok('s3api', 'put-bucket-policy', '--bucket', b, '--policy', policy);
  const status = await ok<{ PolicyStatus: { IsPublic: boolean } }>('s3api', 'get-bucket-policy-status', '--bucket', b);
  assert.equal(status.PolicyStatus.IsPublic, true);
  await ok('s3api', 'delete-public-access-block', '--bucket', b);
  await fails(/NoSuchPublicAccessBlockConfiguration/, 's3api', 'get-public-access-block', '--bucket', b);
});

test('s3api put-object --acl, put-object-acl --grant-read, get-object-acl, put-bucket-acl --access-control-policy, get-bucket-acl', async () => {
  const b = uniqueBucket('cli-acl');
  await ok('s3api', 'create-bucket', '--bucket', b, '--object-ownership', 'BucketOwnerPreferred');
  await ok('s3api', 'delete-public-access-block', '--bucket', b);
  const file = path.join(work, 'o.txt');
  await fs.writeFile(file, 'acl object');
  await ok('s3api', 'put-object', '--bucket', b, '--key', 'o', '--body', file, '--acl', 'public-read');
  type Acl = { Owner: { ID: string }; Grants: { Grantee: { Type: string; ID?: string; URI?: string }; Permission: string }[] };
  const acl = await ok<Acl>('s3api', 'get-object-acl', '--bucket', b, '--key', 'o');
  assert.deepEqual(acl.Grants.map((g) => [g.Grantee.Type, g.Grantee.URI ?? g.Grantee.ID, g.Permission]), [
    ['CanonicalUser', acl.Owner.ID, 'FULL_CONTROL'], ['Group', ALL_USERS, 'READ'],
  ]);
  const anonymous = await fetch(`${srv.url}/${b}/o`);
  assert.equal(anonymous.status, 200);
  assert.equal(await anonymous.text(), 'acl object');
  await ok('s3api', 'put-object-acl', '--bucket', b, '--key', 'o', '--grant-read', `id=${'b'.repeat(64)}`);
  const granted = await ok<Acl>('s3api', 'get-object-acl', '--bucket', b, '--key', 'o');
  assert.deepEqual(granted.Grants.map((g) => [g.Grantee.Type, g.Grantee.ID, g.Permission]), [['CanonicalUser', 'b'.repeat(64), 'READ']]);
  assert.equal((await fetch(`${srv.url}/${b}/o`)).status, 403);
  const policy = JSON.stringify({
    Owner: { ID: acl.Owner.ID },
    Grants: [{ Grantee: { Type: 'CanonicalUser', ID: acl.Owner.ID }, Permission: 'FULL_CONTROL' }, { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' }],
  });
  await ok('s3api', 'put-bucket-acl', '--bucket', b, '--access-control-policy', policy);
  const bucketAcl = await ok<Acl>('s3api', 'get-bucket-acl', '--bucket', b);
  assert.deepEqual(bucketAcl.Grants.map((g) => g.Permission), ['FULL_CONTROL', 'READ']);
  await fails(/UnresolvableGrantByEmailAddress/, 's3api', 'put-bucket-acl', '--bucket', b, '--grant-read', 'emailAddress=someone@example.com');
  await fails(/AccessControlListNotSupported/, 's3api', 'put-object', '--bucket', (await enforcedBucket()), '--key', 'x', '--acl', 'public-read');
});

async function enforcedBucket(): Promise<string> {
  const b = uniqueBucket('cli-enf');
  await ok('s3api', 'create-bucket', '--bucket', b);
  return b;
}
