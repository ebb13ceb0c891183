// Role chaining (a role session calling AssumeRole) as AWS bounds it: at most one hour,
// whatever the target role's MaxSessionDuration; the chained session is the new role's
// alone (the first session's policy does not follow it, AWS's rule), and a session policy
// given to the chained call limits it. Through client-iam and client-sts against the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, PutRolePolicyCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { asCreds, iamClient, policy, stsClient } from '../iam/iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;
before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  iam?.destroy();
  await srv?.stop();
});

test('a chained AssumeRole lasts at most an hour (the target allows 12); its session policy limits it; the first session\'s does not follow', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'chainer' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'chainer', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'chainer' }))).AccessKey!;
  const trustAccount = policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'sts:AssumeRole' }]);
  await iam.send(new CreateRoleCommand({ RoleName: 'First', AssumeRolePolicyDocument: trustAccount }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'First', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: ['sts:AssumeRole', 's3:ListAllMyBuckets'], Resource: '*' }]) }));
  await iam.send(new CreateRoleCommand({ RoleName: 'Second', AssumeRolePolicyDocument: trustAccount, MaxSessionDuration: 43200 }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'Second', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }]) }));

  const first = asCreds((await stsClient(srv, { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! }).send(new AssumeRoleCommand({
    RoleArn: `arn:aws:iam::${acct}:role/First`, RoleSessionName: 'one',
    Policy: policy([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]), // no s3 for this session
  }))).Credentials!);
  const s3First = srv.client({ credentials: first });
  await assertFails(s3First.send(new ListBucketsCommand({})), 403, 'AccessDenied');
  s3First.destroy();

  const sts = stsClient(srv, first);
  const second = `arn:aws:iam::${acct}:role/Second`;
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: second, RoleSessionName: 'two', DurationSeconds: 3601 })), 400, 'ValidationError', /1 hour session limit for roles assumed by role chaining/);
  const chained = await sts.send(new AssumeRoleCommand({ RoleArn: second, RoleSessionName: 'two', DurationSeconds: 3600 }));
  const left = chained.Credentials!.Expiration!.getTime() - Date.now();
  assert.ok(left > 3500_000 && left <= 3600_000, `expires in ${left} ms`);
  const c2 = asCreds(chained.Credentials!);
  assert.equal((await stsClient(srv, c2).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${acct}:assumed-role/Second/two`);
  const s3Second = srv.client({ credentials: c2 });
  await s3Second.send(new ListBucketsCommand({}));
  s3Second.destroy();

  const narrowed = asCreds((await sts.send(new AssumeRoleCommand({ RoleArn: second, RoleSessionName: 'three', Policy: policy([{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }]) }))).Credentials!);
  const s3Narrow = srv.client({ credentials: narrowed });
  await assertFails(s3Narrow.send(new ListBucketsCommand({})), 403, 'AccessDenied');
  s3Narrow.destroy();
});

test('GetSessionToken as the account root: a DurationSeconds over an hour gives one hour (AWS: "defaults to one hour"), over 36 hours is a ValidationError', async () => {
  const sts = stsClient(srv);
  const c = (await sts.send(new GetSessionTokenCommand({ DurationSeconds: 7200 }))).Credentials!;
  const left = c.Expiration!.getTime() - Date.now();
  assert.ok(left > 3500_000 && left <= 3600_000, `expires in ${left} ms`);
  await assertFails(sts.send(new GetSessionTokenCommand({ DurationSeconds: 129601 })), 400, 'ValidationError', /less than or equal to 129600/);
  sts.destroy();
});
