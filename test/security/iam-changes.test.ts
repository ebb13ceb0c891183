// Remembered KMS decisions rest on the caller's identity policies as one array per IAM store
// version (iam/credentials.ts, kms/decision-memo.ts): any IAM change made through the IAM API
// must apply to the very next S3 GET, however warm every cache is. Probed here for the
// changes the memo's key does not name: a user removed from the group whose policy allowed
// kms:Decrypt, a group policy deleted, a managed policy detached, a role's policy deleted
// under a live session. Own data key and bucket key alike. Through @aws-sdk/client-s3,
// client-iam and client-sts against the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import {
  AddUserToGroupCommand, AttachUserPolicyCommand, CreateGroupCommand, CreatePolicyCommand, CreateRoleCommand, DeleteGroupPolicyCommand, DeleteRolePolicyCommand,
  DetachUserPolicyCommand, PutGroupPolicyCommand, PutRolePolicyCommand, RemoveUserFromGroupCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { NO_IDENTITY_ALLOW, assertKmsDenied, kmsOn, policyDoc, s3On, userFactory } from '../helpers/sse-principals.js';
import { iamClient, stsClient } from '../iam/iam-helpers.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let iam: IAMClient;
const bucket = uniqueBucket('iam-changes');
let n = 0;
const unique = (p: string) => `${p}-${Date.now()}-${n++}`;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  iam = iamClient(srv);
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  users?.destroy();
  iam?.destroy();
  await srv?.stop();
});

async function setup(bk: boolean): Promise<{ key: string; obj: string }> {
  const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const obj = unique(`o-${bk}`);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: obj, Body: `body of ${obj}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: bk }));
  return { key, obj };
}

async function warm(s3: S3Client, obj: string): Promise<void> {
  for (let i = 0; i < 2; i++) assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj }))).Body!.transformToString(), `body of ${obj}`);
}

for (const bk of [false, true]) {
  const kind = bk ? 'bucket key' : 'own data key';

  test(`[${kind}] kms:Decrypt through a group: removed from the group, then the group policy deleted, each refuses the next GET`, async () => {
    const { key, obj } = await setup(bk);
    const u = await users.create(unique('grp-user'), { s3: [s3On(bucket)] });
    const v = await users.create(unique('grp-user'), { s3: [s3On(bucket)] });
    const GroupName = unique('readers');
    await iam.send(new CreateGroupCommand({ GroupName }));
    await iam.send(new PutGroupPolicyCommand({ GroupName, PolicyName: 'kms', PolicyDocument: policyDoc(kmsOn('kms:Decrypt', key)) }));
    for (const x of [u, v]) await iam.send(new AddUserToGroupCommand({ GroupName, UserName: x.name }));
    await warm(u.s3, obj);
    await warm(v.s3, obj);
    await iam.send(new RemoveUserFromGroupCommand({ GroupName, UserName: u.name }));
    await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj })), u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await warm(v.s3, obj);
    await iam.send(new DeleteGroupPolicyCommand({ GroupName, PolicyName: 'kms' }));
    await assertKmsDenied(v.s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj })), v.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
  });

  test(`[${kind}] kms:Decrypt through a managed policy: detached, the next GET is refused`, async () => {
    const { key, obj } = await setup(bk);
    const u = await users.create(unique('managed'), { s3: [s3On(bucket)] });
    const { Policy } = await iam.send(new CreatePolicyCommand({ PolicyName: unique('decrypt'), PolicyDocument: policyDoc(kmsOn('kms:Decrypt', key)) }));
    await iam.send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: Policy!.Arn }));
    await warm(u.s3, obj);
    await iam.send(new DetachUserPolicyCommand({ UserName: u.name, PolicyArn: Policy!.Arn }));
    await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj })), u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
  });

  test(`[${kind}] a role session: the role's policy deleted under the live session refuses its next GET`, async () => {
    const { key, obj } = await setup(bk);
    const RoleName = unique('reader-role');
    const acct = srv.coffer.root.accountId;
    const role = await iam.send(new CreateRoleCommand({
      RoleName, AssumeRolePolicyDocument: policyDoc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'sts:AssumeRole' }),
    }));
    await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'read', PolicyDocument: policyDoc(s3On(bucket), kmsOn('kms:Decrypt', key)) }));
    // The root may not assume roles (as in AWS): a user allowed sts:AssumeRole does.
    const assumer = await users.create(unique('assumer'), { sts: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: role.Role!.Arn }] });
    const asUser = stsClient(srv, assumer.credentials);
    const c = (await asUser.send(new AssumeRoleCommand({ RoleArn: role.Role!.Arn, RoleSessionName: 'reader' }))).Credentials!;
    asUser.destroy();
    const s3 = srv.client({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! }, maxAttempts: 1 });
    try {
      await warm(s3, obj);
      // Keep s3 access, lose kms:Decrypt.
      await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'read', PolicyDocument: policyDoc(s3On(bucket)) }));
      await assertKmsDenied(s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj })), `arn:aws:sts::${acct}:assumed-role/${RoleName}/reader`, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
      await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'read', PolicyDocument: policyDoc(s3On(bucket), kmsOn('kms:Decrypt', key)) }));
      await warm(s3, obj);
      await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName: 'read' }));
      const e = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: obj })).then(() => undefined, (x: Error & { $metadata: { httpStatusCode?: number } }) => x);
      assert.equal(e?.$metadata.httpStatusCode, 403, 'no policy left: refused');
    } finally {
      s3.destroy();
    }
  });
}
