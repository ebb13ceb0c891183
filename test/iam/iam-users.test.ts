// IAM users, access keys and tags through @aws-sdk/client-iam against the real server:
// every operation and its AWS errors; an inactive key stops working at once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteUserCommand, GetAccessKeyLastUsedCommand,
  GetUserCommand, ListAccessKeysCommand, ListUserTagsCommand, ListUsersCommand, PutUserPolicyCommand, DeleteUserPolicyCommand,
  TagUserCommand, UntagUserCommand, UpdateAccessKeyCommand, UpdateUserCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { iamClient, policy } from './iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
});
after(async () => {
  iam.destroy();
  await srv.stop();
});

test('CreateUser, GetUser, ListUsers: the user as IAM shows it; names unique without regard to case', async () => {
  const r = await iam.send(new CreateUserCommand({ UserName: 'alice', Path: '/staff/', Tags: [{ Key: 'team', Value: 'data' }] }));
  assert.equal(r.User?.UserName, 'alice');
  assert.equal(r.User?.Path, '/staff/');
  assert.match(r.User?.UserId ?? '', /^AIDA[A-Z0-9]{17}$/);
  assert.equal(r.User?.Arn, `arn:aws:iam::${srv.coffer.root.accountId}:user/staff/alice`);
  assert.ok(r.User?.CreateDate instanceof Date);
  const g = await iam.send(new GetUserCommand({ UserName: 'alice' }));
  assert.equal(g.User?.UserId, r.User?.UserId);
  assert.deepEqual(g.User?.Tags, [{ Key: 'team', Value: 'data' }]);
  await assertFails(iam.send(new CreateUserCommand({ UserName: 'ALICE' })), 409, 'EntityAlreadyExistsException', /User with name alice already exists/);
  await iam.send(new CreateUserCommand({ UserName: 'bob' }));
  const list = await iam.send(new ListUsersCommand({}));
  assert.deepEqual(list.Users?.map((u) => u.UserName), ['alice', 'bob']);
  const paged = await iam.send(new ListUsersCommand({ MaxItems: 1 }));
  assert.equal(paged.IsTruncated, true);
  const rest = await iam.send(new ListUsersCommand({ Marker: paged.Marker }));
  assert.deepEqual(rest.Users?.map((u) => u.UserName), ['bob']);
  const staff = await iam.send(new ListUsersCommand({ PathPrefix: '/staff/' }));
  assert.deepEqual(staff.Users?.map((u) => u.UserName), ['alice']);
});

test('GetUser of an unknown user is NoSuchEntity (404); a bad name is ValidationError', async () => {
  await assertFails(iam.send(new GetUserCommand({ UserName: 'nobody' })), 404, 'NoSuchEntityException', /The user with name nobody cannot be found/);
  await assertFails(iam.send(new CreateUserCommand({ UserName: 'bad name!' })), 400, 'ValidationError', /regular expression pattern/);
});

test('UpdateUser renames and moves a user; its keys follow', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'carol' }));
  const k = await iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }));
  await iam.send(new UpdateUserCommand({ UserName: 'carol', NewUserName: 'carol2', NewPath: '/x/' }));
  await assertFails(iam.send(new GetUserCommand({ UserName: 'carol' })), 404, 'NoSuchEntityException');
  const u = await iam.send(new GetUserCommand({ UserName: 'carol2' }));
  assert.equal(u.User?.Arn, `arn:aws:iam::${srv.coffer.root.accountId}:user/x/carol2`);
  const keys = await iam.send(new ListAccessKeysCommand({ UserName: 'carol2' }));
  assert.deepEqual(keys.AccessKeyMetadata?.map((m) => m.AccessKeyId), [k.AccessKey?.AccessKeyId]);
  await assertFails(iam.send(new UpdateUserCommand({ UserName: 'carol2', NewUserName: 'alice' })), 409, 'EntityAlreadyExistsException');
  await assertFails(iam.send(new UpdateUserCommand({ UserName: 'ghost', NewUserName: 'x' })), 404, 'NoSuchEntityException');
});

test('TagUser, UntagUser, ListUserTags', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'tagged' }));
  await iam.send(new TagUserCommand({ UserName: 'tagged', Tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] }));
  await iam.send(new TagUserCommand({ UserName: 'tagged', Tags: [{ Key: 'A', Value: '3' }] }));
  let t = await iam.send(new ListUserTagsCommand({ UserName: 'tagged' }));
  assert.deepEqual(t.Tags, [{ Key: 'b', Value: '2' }, { Key: 'A', Value: '3' }]);
  await iam.send(new UntagUserCommand({ UserName: 'tagged', TagKeys: ['b'] }));
  t = await iam.send(new ListUserTagsCommand({ UserName: 'tagged' }));
  assert.deepEqual(t.Tags, [{ Key: 'A', Value: '3' }]);
  await assertFails(iam.send(new ListUserTagsCommand({ UserName: 'ghost' })), 404, 'NoSuchEntityException');
});

test('access keys: create (limit 2), list, Inactive stops working at once on S3 and KMS, delete, last used', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'keyed' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'keyed', PolicyName: 'all', PolicyDocument: policy([{ Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 'kms:ListKeys'], Resource: '*' }]) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'keyed' }))).AccessKey!;
  assert.match(k.AccessKeyId!, /^AKIA[A-Z2-7]{16}$/);
  assert.equal(k.Status, 'Active');
  assert.ok(k.SecretAccessKey);
  const k2 = (await iam.send(new CreateAccessKeyCommand({ UserName: 'keyed' }))).AccessKey!;
  await assertFails(iam.send(new CreateAccessKeyCommand({ UserName: 'keyed' })), 409, 'LimitExceededException', /AccessKeysPerUser: 2/);
  const listed = await iam.send(new ListAccessKeysCommand({ UserName: 'keyed' }));
  assert.deepEqual(listed.AccessKeyMetadata?.map((m) => [m.AccessKeyId, m.Status]), [[k.AccessKeyId, 'Active'], [k2.AccessKeyId, 'Active']]);

  const creds = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  const s3 = srv.client({ credentials: creds });
  const kms = srv.kmsClient({ credentials: creds });
  await s3.send(new ListBucketsCommand({}));
  await kms.send(new ListKeysCommand({}));
  const used = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k.AccessKeyId }));
  assert.equal(used.UserName, 'keyed');
  assert.ok(used.AccessKeyLastUsed?.LastUsedDate instanceof Date);
  assert.equal(used.AccessKeyLastUsed?.ServiceName, 's3');
  const unused = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k2.AccessKeyId }));
  assert.equal(unused.AccessKeyLastUsed?.ServiceName, 'N/A');

  await iam.send(new UpdateAccessKeyCommand({ UserName: 'keyed', AccessKeyId: k.AccessKeyId, Status: 'Inactive' }));
  await assertFails(s3.send(new ListBucketsCommand({})), 403, 'InvalidAccessKeyId');
  await assertFails(kms.send(new ListKeysCommand({})), 400, 'UnrecognizedClientException');
  await iam.send(new UpdateAccessKeyCommand({ UserName: 'keyed', AccessKeyId: k.AccessKeyId, Status: 'Active' }));
  await s3.send(new ListBucketsCommand({}));
  await assertFails(iam.send(new UpdateAccessKeyCommand({ UserName: 'keyed', AccessKeyId: 'AKIANOSUCHKEY0000000', Status: 'Inactive' })), 404, 'NoSuchEntityException');

  await assertFails(iam.send(new DeleteUserCommand({ UserName: 'keyed' })), 409, 'DeleteConflictException', /must delete access keys first/);
  await iam.send(new DeleteAccessKeyCommand({ UserName: 'keyed', AccessKeyId: k.AccessKeyId }));
  await iam.send(new DeleteAccessKeyCommand({ UserName: 'keyed', AccessKeyId: k2.AccessKeyId }));
  await assertFails(s3.send(new ListBucketsCommand({})), 403, 'InvalidAccessKeyId');
  await assertFails(iam.send(new DeleteAccessKeyCommand({ UserName: 'keyed', AccessKeyId: k.AccessKeyId })), 404, 'NoSuchEntityException');
  await assertFails(iam.send(new DeleteUserCommand({ UserName: 'keyed' })), 409, 'DeleteConflictException', /must delete policies first/);
  await iam.send(new DeleteUserPolicyCommand({ UserName: 'keyed', PolicyName: 'all' }));
  await iam.send(new DeleteUserCommand({ UserName: 'keyed' }));
  await assertFails(iam.send(new DeleteUserCommand({ UserName: 'keyed' })), 404, 'NoSuchEntityException');
  s3.destroy();
  kms.destroy();
});

test('an IAM user needs iam:<Action> on the resource ARN; AccessDenied says so in AWS form', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'admin1' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'admin1', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 'iam:GetUser', Resource: `arn:aws:iam::${srv.coffer.root.accountId}:user/a*` }]) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'admin1' }))).AccessKey!;
  const as = iamClient(srv, { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! });
  const self = await as.send(new GetUserCommand({}));
  assert.equal(self.User?.UserName, 'admin1');
  await as.send(new GetUserCommand({ UserName: 'admin1' }));
  await assertFails(as.send(new GetUserCommand({ UserName: 'bob' })), 403, 'AccessDenied',
    new RegExp(`^User: arn:aws:iam::${srv.coffer.root.accountId}:user/admin1 is not authorized to perform: iam:GetUser on resource: arn:aws:iam::${srv.coffer.root.accountId}:user/bob because no identity-based policy allows the iam:GetUser action$`));
  await assertFails(as.send(new CreateUserCommand({ UserName: 'mallory' })), 403, 'AccessDenied', /iam:CreateUser/);
  as.destroy();
});
