// A session belongs to the user or role it was issued for, that one entity: AWS binds
// temporary credentials to the entity's unique id (AIDA..., AROA...), never to its name.
// A user or role deleted and made again under the same name is another entity (a new id,
// its own policies): the old sessions must not borrow its permissions. Coffer refuses
// such a session as an unknown credential. Through client-iam, client-sts, client-s3 and
// client-kms against the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import {
  CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteRoleCommand, DeleteRolePolicyCommand, DeleteUserCommand,
  DeleteUserPolicyCommand, PutRolePolicyCommand, PutUserPolicyCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
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
const WIDE = policy([{ Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 'kms:ListKeys'], Resource: '*' }]);

async function createUser(name: string, document?: string): Promise<Creds> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  if (document) await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: document }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
  return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
}

/** The session is refused everywhere as a credential that does not exist (any more). */
async function assertUnknown(session: Creds): Promise<void> {
  const s3 = srv.client({ credentials: session });
  const kms = srv.kmsClient({ credentials: session });
  try {
    await assertFails(s3.send(new ListBucketsCommand({})), 403, 'InvalidAccessKeyId');
    await assertFails(kms.send(new ListKeysCommand({})), 400, 'UnrecognizedClientException');
    await assertFails(stsClient(srv, session).send(new GetCallerIdentityCommand({})), 403, 'InvalidClientTokenId');
  } finally {
    s3.destroy();
    kms.destroy();
  }
}

test("a GetSessionToken session of a deleted user does not become the new user of the same name (nor keep working)", async () => {
  const old = await createUser('dana-reborn');
  const session = asCreds((await stsClient(srv, old).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!);
  assert.equal((await stsClient(srv, session).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:iam::${acct}:user/dana-reborn`);
  await assertFails(srv.client({ credentials: session }).send(new ListBucketsCommand({})), 403, 'AccessDenied');

  await iam.send(new DeleteAccessKeyCommand({ UserName: 'dana-reborn', AccessKeyId: old.accessKeyId }));
  await iam.send(new DeleteUserCommand({ UserName: 'dana-reborn' }));
  await assertUnknown(session);
  // Another person's account under the old name, with wider permissions.
  await createUser('dana-reborn', WIDE);
  await assertUnknown(session);
});

test('a role session does not become a session of a new role made under the deleted role\'s name', async () => {
  const erin = await createUser('erin-reborn', policy([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]));
  const RoleName = 'Reborn';
  const roleArn = `arn:aws:iam::${acct}:role/${RoleName}`;
  await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/erin-reborn` }, Action: 'sts:AssumeRole' }]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'none', PolicyDocument: policy([{ Effect: 'Allow', Action: 'sqs:ListQueues', Resource: '*' }]) }));
  const session = asCreds((await stsClient(srv, erin).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'old' }))).Credentials!);
  await assertFails(srv.client({ credentials: session }).send(new ListBucketsCommand({})), 403, 'AccessDenied');

  await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName: 'none' }));
  await iam.send(new DeleteRoleCommand({ RoleName }));
  await assertUnknown(session);
  // A new role of the same name, which erin may not assume, with wider permissions.
  await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'sts:AssumeRole' }]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'wide', PolicyDocument: WIDE }));
  await assertUnknown(session);
  // A session of the new role works.
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'erin-reborn', PolicyName: 'p' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'erin-reborn', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn }]) }));
  const fresh = asCreds((await stsClient(srv, erin).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'new' }))).Credentials!);
  const s3 = srv.client({ credentials: fresh });
  await s3.send(new ListBucketsCommand({}));
  s3.destroy();
});
