// The real AWS CLI's `aws s3api` commands for object ownership, ACLs and the public
// access block, against the real server: what users script, with AWS's error codes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv, writeAwsConfig } from './aws-cli-runner.js';

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

const { json, fails } = awsCli(() => ({ endpoint: srv.url, env, output: 'json' }));

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-acl-'));
  env = awsCliEnv(work, { configFile: await writeAwsConfig(work, { signature_version: 's3v4' }) });
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('s3api create-bucket --object-ownership, put/get/delete-bucket-ownership-controls', async () => {
  const b = uniqueBucket('cli-own');
  await json('s3api', 'create-bucket', '--bucket', b, '--object-ownership', 'ObjectWriter');
  const got = await json<{ OwnershipControls: { Rules: { ObjectOwnership: string }[] } }>('s3api', 'get-bucket-ownership-controls', '--bucket', b);
  assert.deepEqual(got.OwnershipControls.Rules, [{ ObjectOwnership: 'ObjectWriter' }]);
  await json('s3api', 'put-bucket-ownership-controls', '--bucket', b, '--ownership-controls', 'Rules=[{ObjectOwnership=BucketOwnerPreferred}]');
  const again = await json<{ OwnershipControls: { Rules: { ObjectOwnership: string }[] } }>('s3api', 'get-bucket-ownership-controls', '--bucket', b);
  assert.deepEqual(again.OwnershipControls.Rules, [{ ObjectOwnership: 'BucketOwnerPreferred' }]);
  await json('s3api', 'delete-bucket-ownership-controls', '--bucket', b);
  await fails(/OwnershipControlsNotFoundError/, 's3api', 'get-bucket-ownership-controls', '--bucket', b);
});

test('s3api put/get/delete-public-access-block; get-bucket-policy-status', async () => {
  const b = uniqueBucket('cli-pab');
  await json('s3api', 'create-bucket', '--bucket', b);
  const dflt = await json<{ PublicAccessBlockConfiguration: Record<string, boolean> }>('s3api', 'get-public-access-block', '--bucket', b);
  assert.deepEqual(dflt.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] });
  await fails(/AccessDenied/, 's3api', 'put-bucket-policy', '--bucket', b, '--policy', policy);
  await json('s3api', 'put-public-access-block', '--bucket', b, '--public-access-block-configuration',
    'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=false');
  const set = await json<{ PublicAccessBlockConfiguration: Record<string, boolean> }>('s3api', 'get-public-access-block', '--bucket', b);
  assert.deepEqual(set.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false });
  await json('s3api', 'put-bucket-policy', '--bucket', b, '--policy', policy);
  const status = await json<{ PolicyStatus: { IsPublic: boolean } }>('s3api', 'get-bucket-policy-status', '--bucket', b);
  assert.equal(status.PolicyStatus.IsPublic, true);
  await json('s3api', 'delete-public-access-block', '--bucket', b);
  await fails(/NoSuchPublicAccessBlockConfiguration/, 's3api', 'get-public-access-block', '--bucket', b);
});

test('s3api put-object --acl, put-object-acl --grant-read, get-object-acl, put-bucket-acl --access-control-policy, get-bucket-acl', async () => {
  const b = uniqueBucket('cli-acl');
  await json('s3api', 'create-bucket', '--bucket', b, '--object-ownership', 'BucketOwnerPreferred');
  await json('s3api', 'delete-public-access-block', '--bucket', b);
  const file = path.join(work, 'o.txt');
  await fs.writeFile(file, 'acl object');
  await json('s3api', 'put-object', '--bucket', b, '--key', 'o', '--body', file, '--acl', 'public-read');
  type Acl = { Owner: { ID: string }; Grants: { Grantee: { Type: string; ID?: string; URI?: string }; Permission: string }[] };
  const acl = await json<Acl>('s3api', 'get-object-acl', '--bucket', b, '--key', 'o');
  assert.deepEqual(acl.Grants.map((g) => [g.Grantee.Type, g.Grantee.URI ?? g.Grantee.ID, g.Permission]), [
    ['CanonicalUser', acl.Owner.ID, 'FULL_CONTROL'], ['Group', ALL_USERS, 'READ'],
  ]);
  const anonymous = await fetch(`${srv.url}/${b}/o`);
  assert.equal(anonymous.status, 200);
  assert.equal(await anonymous.text(), 'acl object');
  await json('s3api', 'put-object-acl', '--bucket', b, '--key', 'o', '--grant-read', `id=${'b'.repeat(64)}`);
  const granted = await json<Acl>('s3api', 'get-object-acl', '--bucket', b, '--key', 'o');
  assert.deepEqual(granted.Grants.map((g) => [g.Grantee.Type, g.Grantee.ID, g.Permission]), [['CanonicalUser', 'b'.repeat(64), 'READ']]);
  assert.equal((await fetch(`${srv.url}/${b}/o`)).status, 403);
  const policy = JSON.stringify({
    Owner: { ID: acl.Owner.ID },
    Grants: [{ Grantee: { Type: 'CanonicalUser', ID: acl.Owner.ID }, Permission: 'FULL_CONTROL' }, { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' }],
  });
  await json('s3api', 'put-bucket-acl', '--bucket', b, '--access-control-policy', policy);
  const bucketAcl = await json<Acl>('s3api', 'get-bucket-acl', '--bucket', b);
  assert.deepEqual(bucketAcl.Grants.map((g) => g.Permission), ['FULL_CONTROL', 'READ']);
  await fails(/UnresolvableGrantByEmailAddress/, 's3api', 'put-bucket-acl', '--bucket', b, '--grant-read', 'emailAddress=someone@example.com');
  await fails(/AccessControlListNotSupported/, 's3api', 'put-object', '--bucket', (await enforcedBucket()), '--key', 'x', '--acl', 'public-read');
});

async function enforcedBucket(): Promise<string> {
  const b = uniqueBucket('cli-enf');
  await json('s3api', 'create-bucket', '--bucket', b);
  return b;
}
