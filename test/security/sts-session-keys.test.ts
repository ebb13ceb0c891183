// The condition keys a request signed with temporary credentials carries, as AWS's global
// condition key reference defines them: aws:TokenIssueTime (when the credentials were
// issued) and aws:MultiFactorAuthPresent ("false": Coffer issues none with MFA), both
// present only for temporary credentials. AWS's own way to revoke a role's sessions —
// the console's "Revoke active sessions", an inline AWSRevokeOlderSessions policy denying
// everything with DateLessThan aws:TokenIssueTime — rests on the first; the usual "no
// session without MFA" Deny on the second. Through client-s3, client-kms, client-iam and
// client-sts against the real server, SSE-KMS GETs included (S3 calls KMS as the caller).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, ListRolesCommand, PutRolePolicyCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { asCreds, iamClient, policy, stsClient, type Creds } from '../iam/iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;
const bucket = uniqueBucket('sts-keys');

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  iam?.destroy();
  await srv?.stop();
});

async function userWithKey(name: string, statements: object[]): Promise<Creds> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: policy(statements) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
  return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
}

/** Every service a role session reaches, each asked once; the SSE-KMS GET decrypts through KMS as the session. */
async function reach(creds: Creds, obj: string): Promise<void> {
  const s3 = srv.client({ credentials: creds });
  const kms = srv.kmsClient({ credentials: creds });
  const roleIam = iamClient(srv, creds);
  try {
    await s3.send(new ListBucketsCommand({}));
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj }))).Body!.transformToString(), 'secret body');
    await kms.send(new ListKeysCommand({}));
    await roleIam.send(new ListRolesCommand({}));
  } finally {
    s3.destroy();
    kms.destroy();
    roleIam.destroy();
  }
}

test("AWS's revoke-older-sessions policy (Deny *, DateLessThan aws:TokenIssueTime) refuses the role's earlier sessions on S3, SSE-KMS, KMS and IAM; later sessions work", async () => {
  const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const obj = 'revoked-sessions';
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: obj, Body: 'secret body', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  const bob = await userWithKey('bob-revoke', [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]);
  const RoleName = 'RevokedReader';
  await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/bob-revoke` }, Action: 'sts:AssumeRole' }]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'read', PolicyDocument: policy([
    { Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 's3:GetObject', 'kms:Decrypt', 'kms:ListKeys', 'iam:ListRoles'], Resource: '*' },
  ]) }));
  const sts = stsClient(srv, bob);
  const assume = async (name: string) => asCreds((await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/${RoleName}`, RoleSessionName: name }))).Credentials!);

  const leaked = await assume('leaked');
  await reach(leaked, obj);
  await sleep(20);
  const revokedAt = new Date().toISOString();
  await sleep(20);
  // The policy the IAM console attaches for "Revoke active sessions".
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'AWSRevokeOlderSessions', PolicyDocument: policy([
    { Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { DateLessThan: { 'aws:TokenIssueTime': revokedAt } } },
  ]) }));

  const s3 = srv.client({ credentials: leaked });
  const kms = srv.kmsClient({ credentials: leaked });
  const leakedIam = iamClient(srv, leaked);
  try {
    await assertFails(s3.send(new ListBucketsCommand({})), 403, 'AccessDenied');
    await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj })), 403, 'AccessDenied');
    await assertFails(kms.send(new ListKeysCommand({})), 400, 'AccessDeniedException', /with an explicit deny in an identity-based policy/);
    await assertFails(leakedIam.send(new ListRolesCommand({})), 403, 'AccessDenied', /with an explicit deny in an identity-based policy/);
    await assertFails(stsClient(srv, leaked).send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/${RoleName}`, RoleSessionName: 'chained' })), 403, 'AccessDenied');
  } finally {
    s3.destroy();
    kms.destroy();
    leakedIam.destroy();
  }
  // A session issued after the revocation is not touched by it.
  await reach(await assume('fresh'), obj);
});

test('aws:MultiFactorAuthPresent is "false" for session credentials and absent for access keys; aws:TokenIssueTime only with session credentials', async () => {
  const carol = await userWithKey('carol-mfa', [
    { Effect: 'Allow', Action: ['s3:ListAllMyBuckets'], Resource: '*' },
    // A "no session without MFA" guard as AWS documents it (Bool, not BoolIfExists: long-term keys pass).
    { Effect: 'Deny', Action: ['s3:ListAllMyBuckets'], Resource: '*', Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } } },
    // Temporary credentials only (the key must exist).
    { Effect: 'Allow', Action: ['kms:ListKeys'], Resource: '*', Condition: { Null: { 'aws:TokenIssueTime': 'false' } } },
  ]);
  const session = asCreds((await stsClient(srv, carol).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!);

  const keyS3 = srv.client({ credentials: carol });
  const keyKms = srv.kmsClient({ credentials: carol });
  const sessS3 = srv.client({ credentials: session });
  const sessKms = srv.kmsClient({ credentials: session });
  try {
    await keyS3.send(new ListBucketsCommand({}));
    await assertFails(sessS3.send(new ListBucketsCommand({})), 403, 'AccessDenied');
    await sessKms.send(new ListKeysCommand({}));
    await assertFails(keyKms.send(new ListKeysCommand({})), 400, 'AccessDeniedException');
  } finally {
    for (const c of [keyS3, keyKms, sessS3, sessKms]) c.destroy();
  }
});

test('a session policy without kms: actions refuses SSE-KMS PUT and GET through S3 (own data key and bucket key, caches warmed by the role\'s other session)', async () => {
  const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const dave = await userWithKey('dave-session-policy', [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]);
  const RoleName = 'SseWriter';
  await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/dave-session-policy` }, Action: 'sts:AssumeRole' }]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'all', PolicyDocument: policy([{ Effect: 'Allow', Action: ['s3:*', 'kms:*'], Resource: '*' }]) }));
  const sts = stsClient(srv, dave);
  const assume = async (name: string, sessionPolicy?: object[]) => asCreds((await sts.send(new AssumeRoleCommand({
    RoleArn: `arn:aws:iam::${acct}:role/${RoleName}`, RoleSessionName: name, ...(sessionPolicy ? { Policy: policy(sessionPolicy) } : {}),
  }))).Credentials!);
  const full = srv.client({ credentials: await assume('full') });
  const s3Only = srv.client({ credentials: await assume('s3-only', [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }]) });
  try {
    for (const bk of [false, true]) {
      const obj = `sse-session-policy-${bk}`;
      // The role's unrestricted session writes and reads the object: every cache is warm.
      await full.send(new PutObjectCommand({ Bucket: bucket, Key: obj, Body: 'secret body', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: bk }));
      for (let i = 0; i < 2; i++) assert.equal(await (await full.send(new GetObjectCommand({ Bucket: bucket, Key: obj }))).Body!.transformToString(), 'secret body');
      await assertFails(s3Only.send(new GetObjectCommand({ Bucket: bucket, Key: obj })), 403, 'AccessDenied', /kms:Decrypt/);
      await assertFails(s3Only.send(new PutObjectCommand({ Bucket: bucket, Key: `${obj}-2`, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: bk })), 403, 'AccessDenied', /kms:GenerateDataKey/);
    }
  } finally {
    full.destroy();
    s3Only.destroy();
  }
});
