// Bucket policies through @aws-sdk/client-s3 against the real server: PutBucketPolicy,
// GetBucketPolicy, DeleteBucketPolicy and GetBucketPolicyStatus with AWS's errors
// (NoSuchBucketPolicy, MalformedPolicy and its messages), and the policy taking part in
// every request's authorization: a bucket policy alone lets an IAM user without identity
// policies read; an explicit Deny beats an identity Allow and binds the account root too,
// except for the bucket-policy operations themselves; a statement naming only the account
// delegates to identity policies; a public policy lets anonymous callers read, nothing more.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteBucketPolicyCommand, DeleteObjectCommand, DeletePublicAccessBlockCommand, GetBucketPolicyCommand, GetBucketPolicyStatusCommand, GetObjectCommand,
  ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { policyDoc, refusal, s3On, userFactory } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let acct: string;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function newBucket(prefix: string): Promise<string> {
  const b = uniqueBucket(prefix);
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

/** A new bucket without its Block Public Access settings, so that public policies may be put (acl-ownership.test.ts tests the block). */
async function openBucket(prefix: string): Promise<string> {
  const b = await newBucket(prefix);
  await srv.s3.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
  return b;
}

const putPolicy = (bucket: string, policy: string, s3 = srv.s3) => s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy }));

async function assertError(p: Promise<unknown>, status: number, code: string, message?: string): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.$metadata.httpStatusCode, status, `${e.name}: ${e.message}`);
  assert.equal(e.name, code, e.message);
  if (message !== undefined) assert.equal(e.message, message);
}

const denied = (arn: string, action: string, resource: string, reason: string) =>
  `User: ${arn} is not authorized to perform: ${action} on resource: "${resource}" ${reason}`;
const NO_IDENTITY = (action: string) => `because no identity-based policy allows the ${action} action`;
const EXPLICIT_RESOURCE = 'with an explicit deny in a resource-based policy';

test('a bucket without a policy: GetBucketPolicy and GetBucketPolicyStatus answer 404 NoSuchBucketPolicy; DeleteBucketPolicy 204', async () => {
  const b = await newBucket('bpol-none');
  await assertError(srv.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 404, 'NoSuchBucketPolicy', 'The bucket policy does not exist');
  await assertError(srv.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b })), 404, 'NoSuchBucketPolicy');
  const del = await srv.s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await assertError(srv.s3.send(new GetBucketPolicyCommand({ Bucket: 'no-such-bucket-bpol' })), 404, 'NoSuchBucket');
  await assertError(putPolicy('no-such-bucket-bpol', policyDoc({ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::no-such-bucket-bpol/*' })), 404, 'NoSuchBucket');
});

test('PutBucketPolicy stores the document as given; GetBucketPolicy returns it; DeleteBucketPolicy removes it', async () => {
  const b = await newBucket('bpol-crud');
  const policy = JSON.stringify(
    { Version: '2012-10-17', Id: 'p1', Statement: [{ Sid: 'Read', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: ['s3:GetObject'], Resource: `arn:aws:s3:::${b}/*` }] },
    null,
    2,
  );
  const put = await putPolicy(b, policy);
  assert.equal(put.$metadata.httpStatusCode, 204);
  const got = await srv.s3.send(new GetBucketPolicyCommand({ Bucket: b }));
  assert.equal(got.Policy, policy);
  const status = await srv.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }));
  assert.equal(status.PolicyStatus?.IsPublic, false, 'a policy naming the account is not public');
  const del = await srv.s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await assertError(srv.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 404, 'NoSuchBucketPolicy');
});

test('GetBucketPolicyStatus: Principal "*" without a restricting condition is public; with aws:SourceIp or a fixed aws:SourceAccount it is not; a Deny never is', async () => {
  const b = await openBucket('bpol-status');
  const isPublic = async (...statements: object[]) => {
    await putPolicy(b, policyDoc(...statements));
    return (await srv.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus?.IsPublic;
  };
  const read = { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` };
  assert.equal(await isPublic(read), true);
  assert.equal(await isPublic({ ...read, Principal: { AWS: '*' } }), true);
  assert.equal(await isPublic({ ...read, Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } }), false);
  assert.equal(await isPublic({ ...read, Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } } }), true);
  assert.equal(await isPublic({ ...read, Condition: { StringEquals: { 'aws:SourceAccount': acct } } }), false);
  assert.equal(await isPublic({ ...read, Condition: { Bool: { 'aws:SecureTransport': 'true' } } }), true, 'requiring TLS does not narrow who');
  assert.equal(await isPublic({ ...read, Effect: 'Deny' }), false);
});

test('MalformedPolicy with AWS\'s messages for documents S3 refuses', async () => {
  const b = await openBucket('bpol-bad');
  const st = { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` };
  const bad = (policy: string, message: string) => assertError(putPolicy(b, policy), 400, 'MalformedPolicy', message);
  await bad('not json', "Policies must be valid JSON and the first byte must be '{'");
  await bad('["a"]', "Policies must be valid JSON and the first byte must be '{'");
  await bad('{"Statement": [', "Policies must be valid JSON and the first byte must be '{'");
  await bad(policyDoc({ ...st, Principal: undefined }), 'Missing required field Principal');
  await bad(policyDoc({ ...st, Resource: `arn:aws:s3:::other-bucket/*` }), 'Policy has invalid resource');
  await bad(policyDoc({ ...st, Action: 'kms:Decrypt' }), 'Policy has invalid action');
  await bad(policyDoc({ ...st, Resource: `arn:aws:s3:::${b}` }), 'Action does not apply to any resource(s) in statement');
  await bad(policyDoc({ ...st, Principal: { AWS: 'alice' } }), 'Invalid principal in policy');
  await bad(policyDoc({ ...st, Condition: { StringEqualz: { 's3:prefix': 'a' } } }), 'Invalid Condition type : StringEqualz');
  await bad(policyDoc({ ...st, Effect: 'Alow' }), 'Invalid effect: Alow');
  await bad(policyDoc({ ...st, Extra: 1 }), 'Unknown field Extra');
  await bad(JSON.stringify({ Version: '2012-10-17', Statement: [{ ...st, Sid: 'x'.repeat(21_000) }] }), 'Policies must not exceed 20480 bytes');
  await assertError(srv.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 404, 'NoSuchBucketPolicy'); // nothing was stored
  // Wildcards in the bucket part that match this bucket are fine.
  await putPolicy(b, policyDoc({ ...st, Resource: `arn:aws:s3:::${b.slice(0, 8)}*/*` }));
});

test('a bucket policy naming a user lets it GetObject with no identity policy at all; other actions stay denied with AWS\'s message', async () => {
  const b = await newBucket('bpol-grant');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc.txt', Body: 'granted by the bucket' }));
  const u = await users.create('bp-reader');
  const get = () => u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc.txt' }));
  await assertError(get(), 403, 'AccessDenied', denied(u.arn, 's3:GetObject', `arn:aws:s3:::${b}/doc.txt`, NO_IDENTITY('s3:GetObject')));
  await putPolicy(b, policyDoc({ Effect: 'Allow', Principal: { AWS: u.arn }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }));
  assert.equal(await (await get()).Body!.transformToString(), 'granted by the bucket');
  await assertError(u.s3.send(new PutObjectCommand({ Bucket: b, Key: 'w.txt', Body: 'x' })), 403, 'AccessDenied', denied(u.arn, 's3:PutObject', `arn:aws:s3:::${b}/w.txt`, NO_IDENTITY('s3:PutObject')));
  await assertError(u.s3.send(new ListObjectsV2Command({ Bucket: b })), 403, 'AccessDenied', denied(u.arn, 's3:ListBucket', `arn:aws:s3:::${b}`, NO_IDENTITY('s3:ListBucket')));
  await srv.s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  await assertError(get(), 403, 'AccessDenied');
});

test('a statement naming only the account root delegates: a user without an identity policy is still denied', async () => {
  const b = await newBucket('bpol-acct');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const u = await users.create('bp-delegated');
  await putPolicy(b, policyDoc({ Effect: 'Allow', Principal: { AWS: acct }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }));
  await assertError(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 403, 'AccessDenied', denied(u.arn, 's3:GetObject', `arn:aws:s3:::${b}/k`, NO_IDENTITY('s3:GetObject')));
  await u.put('read', { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` });
  await u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
});

test('an explicit Deny in the bucket policy beats an identity Allow, with "explicit deny in a resource-based policy"', async () => {
  const b = await newBucket('bpol-deny');
  const u = await users.create('bp-denied', { all: [s3On(b)] });
  await u.s3.send(new PutObjectCommand({ Bucket: b, Key: 'keep/a.txt', Body: 'a' }));
  await putPolicy(b, policyDoc({ Sid: 'NoDeletes', Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: `arn:aws:s3:::${b}/keep/*` }));
  await assertError(
    u.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'keep/a.txt' })), 403, 'AccessDenied',
    denied(u.arn, 's3:DeleteObject', `arn:aws:s3:::${b}/keep/a.txt`, EXPLICIT_RESOURCE),
  );
  await u.s3.send(new PutObjectCommand({ Bucket: b, Key: 'other.txt', Body: 'b' }));
  await u.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'other.txt' }));
  await u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'keep/a.txt' }));
});

test('a bucket-policy Deny binds the account root too, but the root can always get, put and delete the policy', async () => {
  const b = await newBucket('bpol-root');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const rootArn = `arn:aws:iam::${acct}:root`;
  await putPolicy(b, policyDoc({ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`] }));
  await assertError(srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 403, 'AccessDenied', denied(rootArn, 's3:GetObject', `arn:aws:s3:::${b}/k`, EXPLICIT_RESOURCE));
  await assertError(srv.s3.send(new ListObjectsV2Command({ Bucket: b })), 403, 'AccessDenied');
  assert.match((await srv.s3.send(new GetBucketPolicyCommand({ Bucket: b }))).Policy!, /"Deny"/);
  await putPolicy(b, policyDoc({ Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*` }));
  await srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
  await srv.s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k2', Body: 'y' }));
});

test('the bucket-policy operations need s3:PutBucketPolicy, s3:GetBucketPolicy, s3:DeleteBucketPolicy, s3:GetBucketPolicyStatus', async () => {
  const b = await newBucket('bpol-admin');
  const u = await users.create('bp-admin');
  const policy = policyDoc({ Effect: 'Allow', Principal: { AWS: u.arn }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` });
  await assertError(putPolicy(b, policy, u.s3), 403, 'AccessDenied', denied(u.arn, 's3:PutBucketPolicy', `arn:aws:s3:::${b}`, NO_IDENTITY('s3:PutBucketPolicy')));
  await u.put('admin', { Effect: 'Allow', Action: ['s3:PutBucketPolicy', 's3:GetBucketPolicy'], Resource: `arn:aws:s3:::${b}` });
  await putPolicy(b, policy, u.s3);
  assert.equal((await u.s3.send(new GetBucketPolicyCommand({ Bucket: b }))).Policy, policy);
  await assertError(u.s3.send(new GetBucketPolicyStatusCommand({ Bucket: b })), 403, 'AccessDenied');
  await assertError(u.s3.send(new DeleteBucketPolicyCommand({ Bucket: b })), 403, 'AccessDenied');
  // A user denied by the policy itself stays locked out of it (only the root is exempt).
  await putPolicy(b, policyDoc({ Effect: 'Deny', Principal: { AWS: u.arn }, Action: 's3:*BucketPolicy', Resource: `arn:aws:s3:::${b}` }));
  await assertError(u.s3.send(new GetBucketPolicyCommand({ Bucket: b })), 403, 'AccessDenied', denied(u.arn, 's3:GetBucketPolicy', `arn:aws:s3:::${b}`, EXPLICIT_RESOURCE));
});

test('anonymous: a public bucket policy allows an unsigned GET of an object; listing, writes and other buckets stay denied', async () => {
  const b = await openBucket('bpol-public');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'site/index.html', Body: '<h1>hello</h1>' }));
  const anon = (path: string, init: RequestInit = {}) => fetch(`${srv.url}/${b}/${path}`, init);
  assert.equal((await anon('site/index.html')).status, 403, 'no policy: anonymous denied');
  await putPolicy(b, policyDoc({ Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/site/*` }));
  const r = await anon('site/index.html');
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '<h1>hello</h1>');
  assert.equal((await anon('site/missing.html')).status, 404, 'an allowed GET of a missing key is NoSuchKey');
  const put = await anon('site/evil.html', { method: 'PUT', body: 'x' });
  assert.equal(put.status, 403);
  assert.match(await put.text(), /<Code>AccessDenied<\/Code><Message>Access Denied<\/Message>/);
  assert.equal((await fetch(`${srv.url}/${b}?list-type=2`)).status, 403);
  assert.equal((await anon('private.txt')).status, 403, 'outside the granted prefix');
  await srv.s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  assert.equal((await anon('site/index.html')).status, 403, 'policy removed: denied again');
});
