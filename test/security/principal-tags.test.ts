// aws:PrincipalTag/<key>: the tags of the IAM user who signs, or of the role a session
// belongs to (AWS's global condition key reference), in every service's decisions. A Deny
// that names a tag ("no contractor may ...") must refuse, and tagging or untagging applies
// to the next request. Through client-iam, client-sts, client-s3 and client-kms against
// the real server: long-term keys, a GetSessionToken session and a role session.

import { test, before, after } from 'node:test';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import {
  CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, ListRolesCommand, PutRolePolicyCommand, PutUserPolicyCommand, TagRoleCommand, TagUserCommand,
  UntagRoleCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { asCreds, iamClient, policy, stsClient, type Creds } from '../iam/iam-helpers.js';

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

/** Allowed S3 and KMS listings, unless the principal is tagged contractor=true; IAM's ListRoles only for team=ops. */
const TAGGED_RULES = [
  { Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 'kms:ListKeys', 'sts:AssumeRole'], Resource: '*' },
  { Effect: 'Deny', Action: ['s3:ListAllMyBuckets', 'kms:ListKeys'], Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/contractor': 'true' } } },
  { Effect: 'Allow', Action: 'iam:ListRoles', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/team': '${aws:PrincipalTag/expected-team}' } } },
];

/** `ops`: whether IAM's ListRoles is allowed (the team=ops tag); undefined: not asked (GetSessionToken credentials may not call IAM). */
async function expectContractor(creds: Creds, contractor: boolean, ops: boolean | undefined): Promise<void> {
  const s3 = srv.client({ credentials: creds });
  const kms = srv.kmsClient({ credentials: creds });
  const own = iamClient(srv, creds);
  try {
    if (contractor) {
      await assertFails(s3.send(new ListBucketsCommand({})), 403, 'AccessDenied');
      await assertFails(kms.send(new ListKeysCommand({})), 400, 'AccessDeniedException', /with an explicit deny in an identity-based policy/);
    } else {
      await s3.send(new ListBucketsCommand({}));
      await kms.send(new ListKeysCommand({}));
    }
    if (ops === undefined) return;
    if (ops) await own.send(new ListRolesCommand({}));
    else await assertFails(own.send(new ListRolesCommand({})), 403, 'AccessDenied');
  } finally {
    s3.destroy();
    kms.destroy();
    own.destroy();
  }
}

test("an IAM user's tags are aws:PrincipalTag for its access keys and its GetSessionToken session; TagUser applies to the next request", async () => {
  await iam.send(new CreateUserCommand({ UserName: 'tagged-user', Tags: [{ Key: 'team', Value: 'ops' }, { Key: 'expected-team', Value: 'ops' }] }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'tagged-user', PolicyName: 'p', PolicyDocument: policy(TAGGED_RULES) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'tagged-user' }))).AccessKey!;
  const key: Creds = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  const session = asCreds((await stsClient(srv, key).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!);
  await expectContractor(key, false, true);
  await expectContractor(session, false, undefined);

  await iam.send(new TagUserCommand({ UserName: 'tagged-user', Tags: [{ Key: 'Contractor', Value: 'true' }] }));
  await expectContractor(key, true, true);
  await expectContractor(session, true, undefined);
});

test("a role session's aws:PrincipalTag are its role's tags, as they are now", async () => {
  await iam.send(new CreateUserCommand({ UserName: 'tag-assumer' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'tag-assumer', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'tag-assumer' }))).AccessKey!;
  const RoleName = 'TaggedRole';
  await iam.send(new CreateRoleCommand({
    RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/tag-assumer` }, Action: 'sts:AssumeRole' }]),
    Tags: [{ Key: 'contractor', Value: 'true' }, { Key: 'team', Value: 'ops' }, { Key: 'expected-team', Value: 'ops' }],
  }));
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'p', PolicyDocument: policy(TAGGED_RULES) }));
  const session = asCreds((await stsClient(srv, { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! }).send(new AssumeRoleCommand({
    RoleArn: `arn:aws:iam::${acct}:role/${RoleName}`, RoleSessionName: 'tags',
  }))).Credentials!);
  await expectContractor(session, true, true);
  await iam.send(new UntagRoleCommand({ RoleName, TagKeys: ['contractor', 'team'] }));
  await expectContractor(session, false, false);
  await iam.send(new TagRoleCommand({ RoleName, Tags: [{ Key: 'team', Value: 'ops' }] }));
  await expectContractor(session, false, true);
});

test('aws:PrincipalType is User for an IAM user (its keys and GetSessionToken sessions) and AssumedRole for a role session', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'typed-user' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'typed-user', PolicyName: 'p', PolicyDocument: policy([
    { Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 'kms:ListKeys', 'sts:AssumeRole'], Resource: '*' },
    { Effect: 'Deny', Action: 's3:ListAllMyBuckets', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalType': 'User' } } },
  ]) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'typed-user' }))).AccessKey!;
  const key: Creds = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  const RoleName = 'TypedRole';
  await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/typed-user` }, Action: 'sts:AssumeRole' }]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'p', PolicyDocument: policy([
    { Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalType': 'AssumedRole' } } },
  ]) }));
  const sts = stsClient(srv, key);
  const role = asCreds((await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/${RoleName}`, RoleSessionName: 'typed' }))).Credentials!);
  const sessionOfUser = asCreds((await sts.send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!);
  for (const creds of [key, sessionOfUser]) {
    const s3 = srv.client({ credentials: creds });
    const kms = srv.kmsClient({ credentials: creds });
    await assertFails(s3.send(new ListBucketsCommand({})), 403, 'AccessDenied');
    await kms.send(new ListKeysCommand({}));
    s3.destroy();
    kms.destroy();
  }
  const kms = srv.kmsClient({ credentials: role });
  await kms.send(new ListKeysCommand({}));
  kms.destroy();
});
