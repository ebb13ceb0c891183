// AWS managed policies attached by ARN, as scripts written for AWS do:
// `aws iam attach-user-policy --policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess`.
// They exist (GetPolicy, GetPolicyVersion with AWS's document, ListPolicies Scope=AWS),
// attach to users, groups and roles, and grant what their documents say through S3 and KMS;
// they cannot be changed or deleted; an AWS managed ARN Coffer does not know is NoSuchEntity.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddUserToGroupCommand, AttachGroupPolicyCommand, AttachUserPolicyCommand, CreateGroupCommand, CreatePolicyVersionCommand, DeletePolicyCommand,
  DetachUserPolicyCommand, GetPolicyCommand, GetPolicyVersionCommand, ListAttachedUserPoliciesCommand, ListPoliciesCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { userFactory } from '../helpers/sse-principals.js';
import { iamClient } from './iam-helpers.js';

const ARN = (name: string) => `arn:aws:iam::aws:policy/${name}`;

let srv: TestServer;
let iam: IAMClient;
let users: ReturnType<typeof userFactory>;

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  users = userFactory(srv);
});
after(async () => {
  iam.destroy();
  users.destroy();
  await srv.stop();
});

test("GetPolicy and GetPolicyVersion answer AmazonS3ReadOnlyAccess with AWS's document", async () => {
  const got = await iam.send(new GetPolicyCommand({ PolicyArn: ARN('AmazonS3ReadOnlyAccess') }));
  assert.equal(got.Policy?.PolicyName, 'AmazonS3ReadOnlyAccess');
  assert.equal(got.Policy?.Arn, ARN('AmazonS3ReadOnlyAccess'));
  assert.match(got.Policy?.PolicyId ?? '', /^ANPA[A-Z0-9]{17}$/);
  const v = await iam.send(new GetPolicyVersionCommand({ PolicyArn: ARN('AmazonS3ReadOnlyAccess'), VersionId: got.Policy!.DefaultVersionId! }));
  const doc = JSON.parse(decodeURIComponent(v.PolicyVersion!.Document!)) as { Statement: { Action: string[] }[] };
  assert.deepEqual(doc.Statement[0]!.Action, ['s3:Get*', 's3:List*', 's3:Describe*', 's3-object-lambda:Get*', 's3-object-lambda:List*']);
  await assertFails(iam.send(new GetPolicyCommand({ PolicyArn: ARN('AmazonEC2FullAccess') })), 404, 'NoSuchEntityException', /does not exist or is not attachable/);
});

test('ListPolicies: Scope=AWS lists the AWS managed policies, Scope=Local none of them', async () => {
  const aws = (await iam.send(new ListPoliciesCommand({ Scope: 'AWS' }))).Policies!.map((p) => p.PolicyName).sort();
  for (const name of ['AdministratorAccess', 'AmazonS3FullAccess', 'AmazonS3ReadOnlyAccess', 'AWSKeyManagementServicePowerUser', 'IAMFullAccess', 'IAMReadOnlyAccess']) {
    assert.ok(aws.includes(name), `${name} in ${aws.join(', ')}`);
  }
  const local = (await iam.send(new ListPoliciesCommand({ Scope: 'Local' }))).Policies!;
  assert.deepEqual(local.filter((p) => p.Arn!.startsWith('arn:aws:iam::aws:')), []);
});

test('AmazonS3ReadOnlyAccess attached to a user lets it read but not write; AmazonS3FullAccess lets it write', async () => {
  const bucket = uniqueBucket('awsmanaged');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'managed' }));
  const reader = await users.create('reader');
  await assertFails(reader.s3.send(new ListBucketsCommand({})), 403, 'AccessDenied');
  await iam.send(new AttachUserPolicyCommand({ UserName: 'reader', PolicyArn: ARN('AmazonS3ReadOnlyAccess') }));
  assert.deepEqual((await iam.send(new ListAttachedUserPoliciesCommand({ UserName: 'reader' }))).AttachedPolicies, [{ PolicyName: 'AmazonS3ReadOnlyAccess', PolicyArn: ARN('AmazonS3ReadOnlyAccess') }]);
  assert.ok((await reader.s3.send(new ListBucketsCommand({}))).Buckets?.some((b) => b.Name === bucket));
  assert.equal(await (await reader.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }))).Body!.transformToString(), 'managed');
  await assertFails(reader.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'x' })), 403, 'AccessDenied');
  await iam.send(new AttachUserPolicyCommand({ UserName: 'reader', PolicyArn: ARN('AmazonS3FullAccess') }));
  await reader.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'x' }));
  await iam.send(new DetachUserPolicyCommand({ UserName: 'reader', PolicyArn: ARN('AmazonS3FullAccess') }));
  await assertFails(reader.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w2', Body: 'x' })), 403, 'AccessDenied');
});

test('AWSKeyManagementServicePowerUser through a group: create and list keys, but not encrypt', async () => {
  const kmsUser = await users.create('keyadmin');
  await iam.send(new CreateGroupCommand({ GroupName: 'key-admins' }));
  await iam.send(new AddUserToGroupCommand({ GroupName: 'key-admins', UserName: 'keyadmin' }));
  await assertFails(kmsUser.kms.send(new CreateKeyCommand({})), 400, 'AccessDeniedException');
  await iam.send(new AttachGroupPolicyCommand({ GroupName: 'key-admins', PolicyArn: ARN('AWSKeyManagementServicePowerUser') }));
  const key = await kmsUser.kms.send(new CreateKeyCommand({ Description: 'power user key' }));
  assert.ok((await kmsUser.kms.send(new ListKeysCommand({}))).Keys?.some((k) => k.KeyId === key.KeyMetadata!.KeyId));
  await assertFails(kmsUser.kms.send(new EncryptCommand({ KeyId: key.KeyMetadata!.KeyId!, Plaintext: Buffer.from('x') })), 400, 'AccessDeniedException', /kms:Encrypt/);
});

test('AWS managed policies cannot be deleted or given new versions', async () => {
  await assertFails(iam.send(new DeletePolicyCommand({ PolicyArn: ARN('AmazonS3FullAccess') })), 400, 'InvalidInputException', /AWS managed policy/);
  await assertFails(
    iam.send(new CreatePolicyVersionCommand({ PolicyArn: ARN('AmazonS3ReadOnlyAccess'), PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }), SetAsDefault: true })),
    400,
    'InvalidInputException',
    /AWS managed policy/,
  );
});
