// ACL grants as one more source of S3 authorization (AWS's model: an explicit Deny in any
// policy wins; otherwise an identity policy, the bucket policy or an ACL grant may allow),
// and the public access block settings that ignore or restrict public access.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeletePublicAccessBlockCommand, GetObjectAclCommand, GetObjectCommand, ListObjectsV2Command, PutBucketAclCommand,
  PutBucketPolicyCommand, PutObjectAclCommand, PutObjectCommand, PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { adminCall } from '../helpers/admin.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory, type TestUser } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let reader: TestUser;
let readerId: string;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  reader = await users.create('acl-reader'); // no identity policy at all
  const who = await adminCall(srv, 'GET', 'whoami', { credentials: reader.credentials });
  assert.equal(who.status, 200);
  readerId = who.body.canonicalUserId as string;
  assert.match(readerId, /^[0-9a-f]{64}$/);
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function aclBucket(prefix: string): Promise<string> {
  const b = uniqueBucket(prefix);
  await srv.s3.send(new CreateBucketCommand({ Bucket: b, ObjectOwnership: 'ObjectWriter' }));
  await srv.s3.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
  return b;
}

const body = async (r: { Body?: { transformToString(): Promise<string> } }) => r.Body!.transformToString();
const anonymousGet = (b: string, k: string) => fetch(`${srv.url}/${b}/${k}`);

test('the whoami route tells each principal its canonical user id; the root\'s is the bucket owner\'s', async () => {
  const b = await aclBucket('whoami');
  const root = await adminCall(srv, 'GET', 'whoami');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x' }));
  const acl = await srv.s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'o' }));
  assert.equal(root.body.canonicalUserId, acl.Owner?.ID);
  assert.notEqual(readerId, acl.Owner?.ID);
});

test('a user with no identity policy granted READ on an object by its ACL can GET it but not PUT over it', async () => {
  const b = await aclBucket('grant-read');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'shared', Body: 'for the reader' }));
  await assertFails(reader.s3.send(new GetObjectCommand({ Bucket: b, Key: 'shared' })), 403, 'AccessDenied');
  await srv.s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'shared', GrantRead: `id="${readerId}"` }));
  assert.equal(await body(await reader.s3.send(new GetObjectCommand({ Bucket: b, Key: 'shared' }))), 'for the reader');
  await assertFails(reader.s3.send(new PutObjectCommand({ Bucket: b, Key: 'shared', Body: 'overwritten' })), 403, 'AccessDenied');
  await assertFails(reader.s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'shared' })), 403, 'AccessDenied', /because no identity-based policy allows the s3:GetObjectAcl action/);
  // Bucket READ lists, bucket WRITE writes objects.
  await assertFails(reader.s3.send(new ListObjectsV2Command({ Bucket: b })), 403, 'AccessDenied');
  await srv.s3.send(new PutBucketAclCommand({ Bucket: b, GrantRead: `id="${readerId}"`, GrantWrite: `id="${readerId}"` }));
  assert.equal((await reader.s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 1);
  await reader.s3.send(new PutObjectCommand({ Bucket: b, Key: 'from-reader', Body: 'y' }));
});

test('ACLs are ignored when the bucket is BucketOwnerEnforced', async () => {
  const b = await aclBucket('enforced');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', GrantRead: `id="${readerId}"` }));
  assert.equal(await body(await reader.s3.send(new GetObjectCommand({ Bucket: b, Key: 'o' }))), 'x');
  const { PutBucketOwnershipControlsCommand } = await import('@aws-sdk/client-s3');
  await srv.s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } }));
  await assertFails(reader.s3.send(new GetObjectCommand({ Bucket: b, Key: 'o' })), 403, 'AccessDenied');
});

test('a public-read object is readable by a plain unsigned fetch only while the public access block allows it', async () => {
  const b = await aclBucket('public-read');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'open', Body: 'public bytes', ACL: 'public-read' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'closed', Body: 'private bytes' }));
  const open = await anonymousGet(b, 'open');
  assert.equal(open.status, 200);
  assert.equal(await open.text(), 'public bytes');
  assert.equal((await anonymousGet(b, 'closed')).status, 403);
  assert.equal((await fetch(`${srv.url}/${b}/open`, { method: 'PUT', body: 'no' })).status, 403, 'READ does not let anyone write');
  await srv.s3.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { IgnorePublicAcls: true } }));
  assert.equal((await anonymousGet(b, 'open')).status, 403, 'IgnorePublicAcls');
  await srv.s3.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicAcls: true } }));
  assert.equal((await anonymousGet(b, 'open')).status, 200, 'BlockPublicAcls does not affect existing ACLs');
});

test('public-read-write on the bucket lets anonymous callers list and write its objects, not read them', async () => {
  const b = await aclBucket('public-rw');
  await srv.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read-write' }));
  const put = await fetch(`${srv.url}/${b}/dropped`, { method: 'PUT', body: 'anonymous bytes' });
  assert.equal(put.status, 200);
  const list = await fetch(`${srv.url}/${b}?list-type=2`);
  assert.equal(list.status, 200);
  assert.match(await list.text(), /<Key>dropped<\/Key>/);
  assert.equal((await anonymousGet(b, 'dropped')).status, 403, 'the object ACL (private) decides reads');
  assert.equal(await body(await srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'dropped' }))), 'anonymous bytes');
});

test('authenticated-read lets any signed principal read, not anonymous callers', async () => {
  const b = await aclBucket('auth-read');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'signed only', ACL: 'authenticated-read' }));
  assert.equal(await body(await reader.s3.send(new GetObjectCommand({ Bucket: b, Key: 'o' }))), 'signed only');
  assert.equal((await anonymousGet(b, 'o')).status, 403);
});

test('an explicit Deny in the bucket policy beats an ACL grant', async () => {
  const b = await aclBucket('deny-wins');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', ACL: 'public-read' }));
  assert.equal((await anonymousGet(b, 'o')).status, 200);
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: b,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] }),
  }));
  assert.equal((await anonymousGet(b, 'o')).status, 403);
  await assertFails(reader.s3.send(new GetObjectCommand({ Bucket: b, Key: 'o' })), 403, 'AccessDenied', /with an explicit deny in a resource-based policy/);
});

test('RestrictPublicBuckets: a public bucket policy no longer lets anonymous callers in', async () => {
  const b = await aclBucket('restrict');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x' }));
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: b,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] }),
  }));
  assert.equal((await anonymousGet(b, 'o')).status, 200);
  await srv.s3.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { RestrictPublicBuckets: true } }));
  assert.equal((await anonymousGet(b, 'o')).status, 403);
});

test('a session policy limits ACL grants as it limits policies: a role session whose session policy allows no S3 action reads nothing through authenticated-read', async () => {
  const { CreateRoleCommand, PutRolePolicyCommand } = await import('@aws-sdk/client-iam');
  const { AssumeRoleCommand } = await import('@aws-sdk/client-sts');
  const { iamClient, stsClient, policy } = await import('../iam/iam-helpers.js');
  const acct = srv.coffer.root.accountId;
  const b = await aclBucket('session-acl');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'signed only', ACL: 'authenticated-read' }));
  const iam = iamClient(srv);
  const assumer = await users.create('acl-assumer');
  const roleArn = `arn:aws:iam::${acct}:role/AclSessionRole`;
  await iam.send(new CreateRoleCommand({ RoleName: 'AclSessionRole', AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: assumer.arn }, Action: 'sts:AssumeRole' }]) }));
  // The role itself may read the bucket; the session policy narrows it to KMS only.
  await iam.send(new PutRolePolicyCommand({ RoleName: 'AclSessionRole', PolicyName: 'read', PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }]) }));
  await assumer.put('assume', { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn });
  const sts = stsClient(srv, assumer.credentials);
  const session = async (sessionPolicy?: string) => {
    const c = (await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'acl-session', ...(sessionPolicy ? { Policy: sessionPolicy } : {}) }))).Credentials!;
    return srv.client({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! }, maxAttempts: 1 });
  };
  const plain = await session();
  const narrowed = await session(policy([{ Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }]));
  try {
    assert.equal(await body(await plain.send(new GetObjectCommand({ Bucket: b, Key: 'o' }))), 'signed only');
    await assertFails(narrowed.send(new GetObjectCommand({ Bucket: b, Key: 'o' })), 403, 'AccessDenied', /because no session policy allows the s3:GetObject action/);
    // Without the role's own permission the ACL grant is what would allow: the session policy still limits it.
    await iam.send(new (await import('@aws-sdk/client-iam')).DeleteRolePolicyCommand({ RoleName: 'AclSessionRole', PolicyName: 'read' }));
    assert.equal(await body(await plain.send(new GetObjectCommand({ Bucket: b, Key: 'o' }))), 'signed only', 'the ACL grant allows a session without a session policy');
    await assertFails(narrowed.send(new GetObjectCommand({ Bucket: b, Key: 'o' })), 403, 'AccessDenied');
  } finally {
    plain.destroy();
    narrowed.destroy();
    iam.destroy();
    sts.destroy();
  }
});
