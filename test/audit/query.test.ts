// GET /_coffer/api/audit/events after real KMS and S3 SSE-KMS traffic by two users:
// every filter alone and combined answers exactly the events an independent reading of
// the log says it should, newest first; bad parameters are 400 ValidationException with
// a message naming them; the route needs cloudtrail:LookupEvents.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, DecryptCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { auditEvents, kmsOn, refusal, s3On, userFactory, type TestUser } from '../helpers/sse-principals.js';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { iamClient, policy, stsClient } from '../iam/iam-helpers.js';
import type { CloudTrailEvent } from '../../src/audit/audit-log.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let alice: TestUser;
let bob: TestUser;
let keyA: { id: string; arn: string };
let keyB: { id: string; arn: string };
let bucketA: string;
let bucketB: string;
/** Phase 1 events are before `mid`, phase 2 events at or after it (eventTime has whole seconds). */
let mid: Date;
let all: CloudTrailEvent[];
const SECRET = 'audit-query plaintext 5d2e';

const ctxArn = (e: CloudTrailEvent): string | undefined => ((e.requestParameters?.encryptionContext ?? {}) as Record<string, string>)['aws:s3:arn'];

async function createKey(): Promise<{ id: string; arn: string }> {
  const k = await srv.kms.send(new CreateKeyCommand({}));
  return { id: k.KeyMetadata!.KeyId!, arn: k.KeyMetadata!.Arn! };
}

async function traffic(): Promise<void> {
  for (const [u, bucket, key] of [[alice, bucketA, keyA], [bob, bucketB, keyB]] as const) {
    await u.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc.txt', Body: SECRET, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.arn, BucketKeyEnabled: false }));
    const got = await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc.txt' }));
    assert.equal(await got.Body!.transformToString(), SECRET);
    const ct = await u.kms.send(new EncryptCommand({ KeyId: key.id, Plaintext: Buffer.from(SECRET) }));
    await u.kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }));
  }
  // Each uses the other's key: refused.
  await refusal(alice.kms.send(new EncryptCommand({ KeyId: keyB.arn, Plaintext: Buffer.from(SECRET) })));
  await refusal(bob.kms.send(new EncryptCommand({ KeyId: keyA.arn, Plaintext: Buffer.from(SECRET) })));
}

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  keyA = await createKey();
  keyB = await createKey();
  bucketA = uniqueBucket('audit-a');
  bucketB = uniqueBucket('audit-b');
  for (const b of [bucketA, bucketB]) await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  alice = await users.create('alice', { use: [s3On(bucketA), kmsOn(['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'], keyA.arn)] });
  bob = await users.create('bob', { use: [s3On(bucketB), kmsOn(['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'], keyB.arn)] });
  await traffic();
  // Wait into the next whole second, so phase 2's eventTimes are all >= mid.
  mid = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000);
  await new Promise((r) => setTimeout(r, mid.getTime() - Date.now() + 20));
  await traffic();
  all = await auditEvents(srv);
});

after(async () => {
  users.destroy();
  await srv.stop();
});

async function query(q: Record<string, string>): Promise<CloudTrailEvent[]> {
  const r = await adminCall(srv, 'GET', 'audit/events', { query: { limit: '1000', ...q } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.nextToken, undefined, 'one page holds them all');
  return r.body.events as CloudTrailEvent[];
}

/** The route answers exactly the events `want` selects from the whole log, newest first; and the filter does select. */
async function assertFilter(q: Record<string, string>, want: (e: CloudTrailEvent) => boolean): Promise<void> {
  const expected = all.filter(want).reverse().map((e) => `${e.eventName} ${e.eventID}`);
  assert.ok(expected.length > 0 && expected.length < all.length, `${JSON.stringify(q)} selects some events but not all (${expected.length} of ${all.length})`);
  const got = (await query(q)).map((e) => `${e.eventName} ${e.eventID}`);
  assert.deepEqual(got, expected, JSON.stringify(q));
}

test('the log holds both users\' KMS calls and the calls S3 made for them, and no plaintext', async () => {
  assert.ok(all.length >= 20, `${all.length} events`);
  const body = JSON.stringify(await query({}));
  assert.equal((await query({})).length, all.length);
  assert.ok(!body.includes(SECRET) && !body.includes(Buffer.from(SECRET).toString('base64')), 'no plaintext in the answer');
  assert.ok(all.some((e) => e.userIdentity.invokedBy === 's3.amazonaws.com' && e.userIdentity.arn === alice.arn && ctxArn(e) === `arn:aws:s3:::${bucketA}/doc.txt`));
});

test('default page: the newest 50 first', async () => {
  const r = await adminCall(srv, 'GET', 'audit/events');
  assert.equal(r.status, 200);
  const events = r.body.events as CloudTrailEvent[];
  assert.deepEqual(events.map((e) => e.eventID), all.slice(-50).reverse().map((e) => e.eventID));
  assert.equal(all.length > 50, typeof r.body.nextToken === 'string');
});

test('principal: by user name, by ARN, and "root"', async () => {
  await assertFilter({ principal: 'alice' }, (e) => e.userIdentity.arn === alice.arn);
  await assertFilter({ principal: bob.arn }, (e) => e.userIdentity.arn === bob.arn);
  await assertFilter({ principal: 'root' }, (e) => e.userIdentity.type === 'Root');
});

test('key: by key id and by key ARN', async () => {
  await assertFilter({ key: keyA.id }, (e) => e.resources.some((r) => r.ARN === keyA.arn));
  await assertFilter({ key: keyB.arn }, (e) => e.resources.some((r) => r.ARN === keyB.arn));
});

test('bucket: the events whose encryption context names an object of the bucket', async () => {
  await assertFilter({ bucket: bucketA }, (e) => ctxArn(e)?.startsWith(`arn:aws:s3:::${bucketA}/`) === true);
  await assertFilter({ bucket: bucketB }, (e) => ctxArn(e)?.startsWith(`arn:aws:s3:::${bucketB}/`) === true);
});

test('event name', async () => {
  await assertFilter({ event: 'Decrypt' }, (e) => e.eventName === 'Decrypt');
  await assertFilter({ event: 'GenerateDataKey' }, (e) => e.eventName === 'GenerateDataKey');
});

test('error: a code, any failure, successes only', async () => {
  await assertFilter({ error: 'AccessDeniedException' }, (e) => e.errorCode === 'AccessDeniedException');
  await assertFilter({ error: 'any' }, (e) => e.errorCode !== undefined);
  await assertFilter({ error: 'none' }, (e) => e.errorCode === undefined);
});

test('since and until: ISO times split the two phases', async () => {
  await assertFilter({ since: mid.toISOString() }, (e) => Date.parse(e.eventTime) >= mid.getTime());
  await assertFilter({ until: new Date(mid.getTime() - 1).toISOString() }, (e) => Date.parse(e.eventTime) < mid.getTime());
  assert.equal((await query({ since: '1h' })).length, all.length, 'a duration counts back from now');
  assert.deepEqual(await query({ until: '1h' }), [], 'nothing is older than an hour');
});

test('filters combine', async () => {
  await assertFilter({ principal: 'alice', bucket: bucketA, event: 'Decrypt' }, (e) => e.userIdentity.arn === alice.arn && ctxArn(e)?.startsWith(`arn:aws:s3:::${bucketA}/`) === true && e.eventName === 'Decrypt');
  await assertFilter({ principal: 'alice', error: 'any' }, (e) => e.userIdentity.arn === alice.arn && e.errorCode !== undefined);
  await assertFilter({ key: keyB.id, error: 'none', since: mid.toISOString() }, (e) => e.resources.some((r) => r.ARN === keyB.arn) && !e.errorCode && Date.parse(e.eventTime) >= mid.getTime());
  assert.deepEqual(await query({ principal: 'alice', key: keyB.id, error: 'none' }), [], 'alice never used bob\'s key successfully');
  assert.deepEqual(await query({ principal: 'nobody' }), []);
});

test('bad parameters are 400 ValidationException naming the parameter', async () => {
  for (const [q, name] of [
    [{ limit: '0' }, 'limit'], [{ limit: '1001' }, 'limit'], [{ limit: 'ten' }, 'limit'],
    [{ since: 'yesterday' }, 'since'], [{ until: '5 minutes' }, 'until'],
    [{ since: '1h', until: '2h' }, 'until'],
    [{ bucket: 'arn:aws:s3:::x' }, 'bucket'], [{ event: 'Decrypt;drop' }, 'event'], [{ error: 'no such' }, 'error'],
    [{ nextToken: 'garbage' }, 'nextToken'],
  ] as const) {
    const r = await adminCall(srv, 'GET', 'audit/events', { query: q });
    assert.equal(r.status, 400, JSON.stringify(q));
    assert.equal(r.body.__type, 'ValidationException');
    assert.match(String(r.body.message), new RegExp(`^Invalid ${name} "`), JSON.stringify(r.body));
  }
  // A token is bound to its filters.
  const first = await adminCall(srv, 'GET', 'audit/events', { query: { limit: '2', principal: 'alice' } });
  const other = await adminCall(srv, 'GET', 'audit/events', { query: { limit: '2', principal: 'bob', nextToken: String(first.body.nextToken) } });
  assert.equal(other.status, 400);
  assert.match(String(other.body.message), /other filters/);
});

test('authorization: cloudtrail:LookupEvents is needed; the root may', async () => {
  const carol = await users.create('carol');
  const denied = await adminCall(srv, 'GET', 'audit/events', { credentials: carol.credentials });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.__type, 'AccessDeniedException');
  assert.match(String(denied.body.message), /cloudtrail:LookupEvents/);
  await carol.put('audit', { Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' });
  const allowed = await adminCall(srv, 'GET', 'audit/events', { credentials: carol.credentials, query: { principal: 'alice', limit: '3' } });
  assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
  assert.deepEqual((allowed.body.events as CloudTrailEvent[]).map((e) => e.eventID), all.filter((e) => e.userIdentity.arn === alice.arn).slice(-3).reverse().map((e) => e.eventID));
  await carol.put('audit', { Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' }, { Effect: 'Deny', Action: 'cloudtrail:*', Resource: '*' });
  assert.equal((await adminCall(srv, 'GET', 'audit/events', { credentials: carol.credentials })).status, 403, 'an explicit deny wins');
});

test('principal: a role session by session name, role/session, role name and role ARN', async () => {
  const acct = srv.coffer.root.accountId;
  const iam = iamClient(srv);
  try {
    await iam.send(new CreateRoleCommand({ RoleName: 'Auditor', AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: alice.arn }, Action: 'sts:AssumeRole' }]) }));
    await iam.send(new PutRolePolicyCommand({ RoleName: 'Auditor', PolicyName: 'enc', PolicyDocument: policy([{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: keyA.arn }]) }));
    const sts = stsClient(srv, alice.credentials);
    const r = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/Auditor`, RoleSessionName: 'nightly' }));
    const session = srv.kmsClient({ credentials: { accessKeyId: r.Credentials!.AccessKeyId!, secretAccessKey: r.Credentials!.SecretAccessKey!, sessionToken: r.Credentials!.SessionToken! } });
    await session.send(new EncryptCommand({ KeyId: keyA.id, Plaintext: Buffer.from(SECRET) }));
    await refusal(session.send(new EncryptCommand({ KeyId: keyB.id, Plaintext: Buffer.from(SECRET) })));
    session.destroy();
    sts.destroy();
    const sessionArn = `arn:aws:sts::${acct}:assumed-role/Auditor/nightly`;
    const expected = (await auditEvents(srv)).filter((e) => e.userIdentity.arn === sessionArn).reverse().map((e) => e.eventID);
    assert.equal(expected.length, 2);
    for (const principal of ['nightly', 'Auditor/nightly', 'Auditor', `arn:aws:iam::${acct}:role/Auditor`, sessionArn]) {
      assert.deepEqual((await query({ principal })).map((e) => e.eventID), expected, principal);
    }
    assert.deepEqual(await query({ principal: 'Auditor/other' }), []);
  } finally {
    iam.destroy();
  }
});
