// The seed's promise, end to end, as one story (issue 5): KMS keys are managed centrally,
// with access permissions assigned and removed from users, groups and IAM roles. An
// administrator (the account root) uses @aws-sdk/client-iam, client-sts and client-kms;
// alice, bob and carol use @aws-sdk/client-s3 against the real server.
//
//   1. alice is in group analysts, whose policy allows kms:Decrypt and kms:GenerateDataKey
//      on key K and s3:* on the bucket: she writes and reads an SSE-KMS object under K.
//   2. Removed from the group she still lists the bucket (the bucket policy lets readers
//      list and get), but her GET is 403 naming kms:Decrypt, her ARN and K's ARN.
//   3. bob assumes role DataReader (allowed on K) and reads; the session expires and he cannot.
//   4. A KMS grant on K lets carol read; revoked, it does not.
//   5. A key policy statement on kms:EncryptionContext:project denies reads outside project apollo.
//
// Every step's KMS use is checked in the audit log (<dataDir>/audit/kms.log) under the
// principal that made the S3 request: an IAMUser ARN, or for bob's session the
// AssumedRole ARN arn:aws:sts::ACCOUNT:assumed-role/DataReader/SESSION.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AddUserToGroupCommand, CreateAccessKeyCommand, CreateGroupCommand, CreateRoleCommand, CreateUserCommand, PutGroupPolicyCommand,
  PutRolePolicyCommand, RemoveUserFromGroupCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateGrantCommand, CreateKeyCommand, PutKeyPolicyCommand, RevokeGrantCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertKmsDenied, auditEvents, NO_IDENTITY_ALLOW, refusal } from '../helpers/sse-principals.js';
import { iamClient, policy, stsClient, type Creds } from './iam-helpers.js';
import type { CloudTrailEvent } from '../../src/audit/audit-log.js';

test('the seed: KMS key access assigned and removed through users, groups, roles, grants and key policies, all audited', async (t) => {
  const srv: TestServer = await startTestServer();
  const admin = iamClient(srv);
  const acct = srv.coffer.root.accountId;
  const bucket = uniqueBucket('seed');
  const clients: { destroy(): void }[] = [admin];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await srv.stop();
  });

  // ── Helpers of the story ────────────────────────────────────────────────────────────
  const userArn = (name: string) => `arn:aws:iam::${acct}:user/${name}`;
  const objectArn = (key: string) => `arn:aws:s3:::${bucket}/${key}`;
  const s3As = (credentials: Creds): S3Client => {
    const c = srv.client({ credentials, maxAttempts: 1 });
    clients.push(c);
    return c;
  };
  /** An IAM user with one access key, made through the IAM API. */
  async function newUser(name: string): Promise<{ arn: string; credentials: Creds; s3: S3Client }> {
    await admin.send(new CreateUserCommand({ UserName: name }));
    const k = (await admin.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    const credentials = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
    return { arn: userArn(name), credentials, s3: s3As(credentials) };
  }
  /** PutObject under SSE-KMS with K, optionally with an encryption context (x-amz-server-side-encryption-context). */
  const put = (s3: S3Client, key: string, context?: Record<string, string>) => s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: `contents of ${key}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: K,
    ...(context ? { SSEKMSEncryptionContext: Buffer.from(JSON.stringify(context)).toString('base64') } : {}),
  }));
  /** GetObject that must succeed and return what put() wrote; returns the S3 request id. */
  async function read(s3: S3Client, key: string): Promise<string> {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(await r.Body!.transformToString(), `contents of ${key}`);
    assert.equal(r.SSEKMSKeyId, K);
    return r.$metadata.requestId!;
  }
  /** GetObject that must be 403 AccessDenied in AWS's words naming the principal, kms:Decrypt and K. */
  async function readDenied(s3: S3Client, key: string, principalArn: string, reason: string): Promise<string> {
    const e = await assertKmsDenied(s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })), principalArn, 'kms:Decrypt', K, reason);
    return e.$metadata.requestId!;
  }
  /**
   * The audit log's KMS events for one S3 request: exactly one call of `eventName` on K,
   * made through S3 as `principalArn` (of `type`), allowed or denied, with the object's ARN
   * (and any caller context) as encryption context.
   */
  async function audited(
    requestId: string, eventName: 'Decrypt' | 'GenerateDataKey', principalArn: string, type: 'IAMUser' | 'AssumedRole',
    outcome: 'allowed' | 'denied', key: string, context: Record<string, string> = {},
  ): Promise<CloudTrailEvent> {
    const events = (await auditEvents(srv)).filter((e) => e.requestID === requestId);
    assert.equal(events.length, 1, `one KMS call for S3 request ${requestId}: ${events.map((e) => e.eventName).join(', ')}`);
    const e = events[0]!;
    assert.deepEqual(
      [e.eventName, e.userIdentity.arn, e.userIdentity.type, e.userIdentity.invokedBy, e.resources[0]?.ARN, e.errorCode ? 'denied' : 'allowed'],
      [eventName, principalArn, type, 's3.amazonaws.com', K, outcome],
    );
    assert.deepEqual(e.requestParameters?.encryptionContext, { 'aws:s3:arn': objectArn(key), ...context });
    return e;
  }
  /** The last audit event of a KMS API call by the administrator (the root). */
  async function adminCall(eventName: string): Promise<CloudTrailEvent> {
    const e = (await auditEvents(srv)).findLast((x) => x.eventName === eventName);
    assert.ok(e, `${eventName} is audited`);
    assert.deepEqual([e.userIdentity.type, e.userIdentity.arn, e.resources[0]?.ARN, e.errorCode], ['Root', `arn:aws:iam::${acct}:root`, K, undefined]);
    return e;
  }

  // ── The setting: key K (default key policy: IAM policies decide), the bucket, and a
  // bucket policy that lets alice and carol list the bucket and get its objects. S3
  // access is not the question here; the key is.
  const K = (await srv.kms.send(new CreateKeyCommand({ Description: 'K: the analysts\' data key' }))).KeyMetadata!.Arn!;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const alice = await newUser('alice');
  const carol = await newUser('carol');
  await srv.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy([{
    Sid: 'Readers', Effect: 'Allow', Principal: { AWS: [alice.arn, carol.arn] },
    Action: ['s3:ListBucket', 's3:GetObject'], Resource: [`arn:aws:s3:::${bucket}`, objectArn('*')],
  }]) }));

  await t.test('1. alice, in group analysts, writes and reads an SSE-KMS object under K', async () => {
    await admin.send(new CreateGroupCommand({ GroupName: 'analysts' }));
    await admin.send(new PutGroupPolicyCommand({ GroupName: 'analysts', PolicyName: 'analysts-data', PolicyDocument: policy([
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: K },
      { Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, objectArn('*')] },
    ]) }));
    await admin.send(new AddUserToGroupCommand({ GroupName: 'analysts', UserName: 'alice' }));

    const w = await put(alice.s3, 'report.csv');
    assert.deepEqual([w.ServerSideEncryption, w.SSEKMSKeyId], ['aws:kms', K]);
    await audited(w.$metadata.requestId!, 'GenerateDataKey', alice.arn, 'IAMUser', 'allowed', 'report.csv');
    await audited(await read(alice.s3, 'report.csv'), 'Decrypt', alice.arn, 'IAMUser', 'allowed', 'report.csv');
  });

  await t.test('2. removed from analysts, alice still lists the bucket, but her GET is 403 naming kms:Decrypt', async () => {
    await admin.send(new RemoveUserFromGroupCommand({ GroupName: 'analysts', UserName: 'alice' }));

    const list = await alice.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(list.Contents?.map((o) => o.Key), ['report.csv']);
    // "User: arn:aws:iam::ACCT:user/alice is not authorized to perform: kms:Decrypt on resource:
    // arn:aws:kms:...:key/... because no identity-based policy allows the kms:Decrypt action"
    const denied = await readDenied(alice.s3, 'report.csv', alice.arn, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await audited(denied, 'Decrypt', alice.arn, 'IAMUser', 'denied', 'report.csv');
  });

  await t.test('3. bob assumes DataReader and reads; when the session expires he cannot', async () => {
    const bob = await newUser('bob');
    const roleArn = `arn:aws:iam::${acct}:role/DataReader`;
    await admin.send(new CreateRoleCommand({ RoleName: 'DataReader', AssumeRolePolicyDocument: policy([
      { Effect: 'Allow', Principal: { AWS: bob.arn }, Action: 'sts:AssumeRole' },
    ]) }));
    await admin.send(new PutRolePolicyCommand({ RoleName: 'DataReader', PolicyName: 'read-with-K', PolicyDocument: policy([
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: K },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objectArn('*') },
    ]) }));
    // bob as himself has no permissions at all: only through the role can he read.
    const alone = await refusal(bob.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'report.csv' })));
    assert.equal(alone.$metadata.httpStatusCode, 403);
    assert.match(alone.message, new RegExp(`^User: ${bob.arn} is not authorized to perform: s3:GetObject`));

    const sts = stsClient(srv, bob.credentials);
    clients.push(sts);
    const r = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'bob-reads', DurationSeconds: 900 }));
    const sessionArn = `arn:aws:sts::${acct}:assumed-role/DataReader/bob-reads`;
    assert.equal(r.AssumedRoleUser?.Arn, sessionArn);
    const session: Creds = { accessKeyId: r.Credentials!.AccessKeyId!, secretAccessKey: r.Credentials!.SecretAccessKey!, sessionToken: r.Credentials!.SessionToken! };
    const asRole = s3As(session);

    const ok = await audited(await read(asRole, 'report.csv'), 'Decrypt', sessionArn, 'AssumedRole', 'allowed', 'report.csv');
    assert.equal(ok.userIdentity.accessKeyId, session.accessKeyId);
    assert.equal(ok.userIdentity.sessionContext?.sessionIssuer.arn, roleArn, 'the session was issued by DataReader');

    // Fifteen minutes pass: the stored session's expiry (which the server reads on every
    // request) is moved into the past instead of sleeping.
    const db = new Database(join(srv.dataDir, 'iam.sqlite'));
    try {
      assert.equal(db.prepare('UPDATE sessions SET expires_at = ? WHERE access_key_id = ?').run(Date.now() - 1000, session.accessKeyId).changes, 1);
    } finally {
      db.close();
    }
    const expired = await refusal(asRole.send(new GetObjectCommand({ Bucket: bucket, Key: 'report.csv' })));
    assert.deepEqual([expired.name, expired.$metadata.httpStatusCode], ['ExpiredToken', 400], expired.message);
    assert.match(expired.message, /The provided token has expired/);
    assert.deepEqual((await auditEvents(srv)).filter((e) => e.requestID === expired.$metadata.requestId), [], 'an expired session never reaches the key');
  });

  await t.test('4. a KMS grant on K lets carol read; revoked, it does not', async () => {
    await readDenied(carol.s3, 'report.csv', carol.arn, NO_IDENTITY_ALLOW('kms:Decrypt'));
    const { GrantId } = await srv.kms.send(new CreateGrantCommand({ KeyId: K, GranteePrincipal: carol.arn, Operations: ['Decrypt'] }));
    assert.equal((await adminCall('CreateGrant')).requestParameters?.granteePrincipal, carol.arn);

    await audited(await read(carol.s3, 'report.csv'), 'Decrypt', carol.arn, 'IAMUser', 'allowed', 'report.csv');

    await srv.kms.send(new RevokeGrantCommand({ KeyId: K, GrantId }));
    assert.equal((await adminCall('RevokeGrant')).requestParameters?.grantId, GrantId);
    const denied = await readDenied(carol.s3, 'report.csv', carol.arn, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await audited(denied, 'Decrypt', carol.arn, 'IAMUser', 'denied', 'report.csv');
  });

  await t.test('5. a key policy statement on kms:EncryptionContext:project denies reads outside project apollo', async () => {
    await admin.send(new AddUserToGroupCommand({ GroupName: 'analysts', UserName: 'alice' }));
    const apollo = await put(alice.s3, 'apollo/plan.txt', { project: 'apollo' });
    await audited(apollo.$metadata.requestId!, 'GenerateDataKey', alice.arn, 'IAMUser', 'allowed', 'apollo/plan.txt', { project: 'apollo' });
    const zeus = await put(alice.s3, 'zeus/plan.txt', { project: 'zeus' });
    await audited(zeus.$metadata.requestId!, 'GenerateDataKey', alice.arn, 'IAMUser', 'allowed', 'zeus/plan.txt', { project: 'zeus' });
    await read(alice.s3, 'zeus/plan.txt');

    // The administrator adds to K's policy: no Decrypt of data tagged with another project.
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: K, PolicyName: 'default', Policy: policy([
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'Only project apollo', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*',
        Condition: { StringNotEquals: { 'kms:EncryptionContext:project': 'apollo' }, Null: { 'kms:EncryptionContext:project': 'false' } },
      },
    ]) }));
    await adminCall('PutKeyPolicy');

    await audited(await read(alice.s3, 'apollo/plan.txt'), 'Decrypt', alice.arn, 'IAMUser', 'allowed', 'apollo/plan.txt', { project: 'apollo' });
    const denied = await readDenied(alice.s3, 'zeus/plan.txt', alice.arn, 'with an explicit deny in a resource-based policy');
    await audited(denied, 'Decrypt', alice.arn, 'IAMUser', 'denied', 'zeus/plan.txt', { project: 'zeus' });
    // Data outside any project is not the statement's business.
    await read(alice.s3, 'report.csv');
  });
});
