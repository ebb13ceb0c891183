// Groups, inline and managed policies through @aws-sdk/client-iam, and what they mean
// on S3 and KMS: a group's policies (inline and attached) grant its members access,
// and taking the user out of the group (or detaching) revokes it on the next request.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddUserToGroupCommand, AttachGroupPolicyCommand, AttachUserPolicyCommand, CreateAccessKeyCommand, CreateGroupCommand,
  CreatePolicyCommand, CreatePolicyVersionCommand, CreateUserCommand, DeleteGroupCommand, DeleteGroupPolicyCommand,
  DeletePolicyCommand, DeletePolicyVersionCommand, DeleteUserCommand, DetachGroupPolicyCommand, DetachUserPolicyCommand,
  GetGroupCommand, GetGroupPolicyCommand, GetPolicyCommand, GetPolicyVersionCommand, GetUserPolicyCommand,
  ListAttachedGroupPoliciesCommand, ListAttachedUserPoliciesCommand, ListGroupPoliciesCommand, ListGroupsCommand,
  ListGroupsForUserCommand, ListPoliciesCommand, ListUserPoliciesCommand, PutGroupPolicyCommand, PutUserPolicyCommand,
  RemoveUserFromGroupCommand, SimulatePrincipalPolicyCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { iamClient, policy } from './iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  iam.destroy();
  await srv.stop();
});

test('inline user policies: put, get (URL-encoded as IAM sends it), list, delete; MalformedPolicyDocument', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'ivan' }));
  const doc = policy([{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }]);
  await iam.send(new PutUserPolicyCommand({ UserName: 'ivan', PolicyName: 'read', PolicyDocument: doc }));
  const got = await iam.send(new GetUserPolicyCommand({ UserName: 'ivan', PolicyName: 'read' }));
  assert.equal(decodeURIComponent(got.PolicyDocument!), doc);
  assert.deepEqual((await iam.send(new ListUserPoliciesCommand({ UserName: 'ivan' }))).PolicyNames, ['read']);
  await assertFails(iam.send(new PutUserPolicyCommand({ UserName: 'ivan', PolicyName: 'bad', PolicyDocument: '{"Statement":[{"Effect":"Maybe"}]}' })), 400, 'MalformedPolicyDocumentException', /Effect/);
  await assertFails(iam.send(new PutUserPolicyCommand({ UserName: 'ivan', PolicyName: 'bad', PolicyDocument: 'not json' })), 400, 'MalformedPolicyDocumentException');
  await assertFails(iam.send(new PutUserPolicyCommand({ UserName: 'ghost', PolicyName: 'p', PolicyDocument: doc })), 404, 'NoSuchEntityException');
  await assertFails(iam.send(new GetUserPolicyCommand({ UserName: 'ivan', PolicyName: 'nope' })), 404, 'NoSuchEntityException', /The user policy with name nope cannot be found/);
});

test('groups: create, get with members, list, membership both ways, DeleteConflict, delete', async () => {
  const g = await iam.send(new CreateGroupCommand({ GroupName: 'readers', Path: '/teams/' }));
  assert.equal(g.Group?.Arn, `arn:aws:iam::${acct}:group/teams/readers`);
  assert.match(g.Group?.GroupId ?? '', /^AGPA/);
  await assertFails(iam.send(new CreateGroupCommand({ GroupName: 'Readers' })), 409, 'EntityAlreadyExistsException');
  await iam.send(new CreateUserCommand({ UserName: 'gina' }));
  await iam.send(new AddUserToGroupCommand({ GroupName: 'readers', UserName: 'gina' }));
  await assertFails(iam.send(new AddUserToGroupCommand({ GroupName: 'readers', UserName: 'ghost' })), 404, 'NoSuchEntityException');
  const got = await iam.send(new GetGroupCommand({ GroupName: 'readers' }));
  assert.deepEqual(got.Users?.map((u) => u.UserName), ['gina']);
  assert.deepEqual((await iam.send(new ListGroupsForUserCommand({ UserName: 'gina' }))).Groups?.map((x) => x.GroupName), ['readers']);
  assert.ok((await iam.send(new ListGroupsCommand({}))).Groups?.some((x) => x.GroupName === 'readers'));
  await iam.send(new PutGroupPolicyCommand({ GroupName: 'readers', PolicyName: 'gp', PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:*', Resource: '*' }]) }));
  assert.deepEqual((await iam.send(new ListGroupPoliciesCommand({ GroupName: 'readers' }))).PolicyNames, ['gp']);
  assert.ok((await iam.send(new GetGroupPolicyCommand({ GroupName: 'readers', PolicyName: 'gp' }))).PolicyDocument);
  await assertFails(iam.send(new DeleteUserCommand({ UserName: 'gina' })), 409, 'DeleteConflictException', /groups/);
  await assertFails(iam.send(new DeleteGroupCommand({ GroupName: 'readers' })), 409, 'DeleteConflictException', /remove users from group first/);
  await iam.send(new RemoveUserFromGroupCommand({ GroupName: 'readers', UserName: 'gina' }));
  await assertFails(iam.send(new RemoveUserFromGroupCommand({ GroupName: 'readers', UserName: 'gina' })), 404, 'NoSuchEntityException');
  await assertFails(iam.send(new DeleteGroupCommand({ GroupName: 'readers' })), 409, 'DeleteConflictException', /policies/);
  await iam.send(new DeleteGroupPolicyCommand({ GroupName: 'readers', PolicyName: 'gp' }));
  await iam.send(new DeleteGroupCommand({ GroupName: 'readers' }));
  await assertFails(iam.send(new GetGroupCommand({ GroupName: 'readers' })), 404, 'NoSuchEntityException', /The group with name readers cannot be found/);
  await iam.send(new DeleteUserCommand({ UserName: 'gina' }));
});

test('managed policies: create, get, versions (limit 5), list, attach/detach, DeleteConflict, delete', async () => {
  const v1 = policy([{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }]);
  const p = (await iam.send(new CreatePolicyCommand({ PolicyName: 'Lister', PolicyDocument: v1, Description: 'lists' }))).Policy!;
  assert.equal(p.Arn, `arn:aws:iam::${acct}:policy/Lister`);
  assert.equal(p.DefaultVersionId, 'v1');
  assert.equal(p.AttachmentCount, 0);
  await assertFails(iam.send(new CreatePolicyCommand({ PolicyName: 'Lister', PolicyDocument: v1 })), 409, 'EntityAlreadyExistsException');
  await assertFails(iam.send(new CreatePolicyCommand({ PolicyName: 'Bad', PolicyDocument: '{"Version":"2012-10-17"}' })), 400, 'MalformedPolicyDocumentException');
  const v2 = await iam.send(new CreatePolicyVersionCommand({ PolicyArn: p.Arn, PolicyDocument: v1, SetAsDefault: true }));
  assert.equal(v2.PolicyVersion?.VersionId, 'v2');
  assert.equal((await iam.send(new GetPolicyCommand({ PolicyArn: p.Arn }))).Policy?.DefaultVersionId, 'v2');
  const got = await iam.send(new GetPolicyVersionCommand({ PolicyArn: p.Arn, VersionId: 'v1' }));
  assert.equal(decodeURIComponent(got.PolicyVersion!.Document!), v1);
  assert.equal(got.PolicyVersion?.IsDefaultVersion, false);
  for (let i = 0; i < 3; i++) await iam.send(new CreatePolicyVersionCommand({ PolicyArn: p.Arn, PolicyDocument: v1 }));
  await assertFails(iam.send(new CreatePolicyVersionCommand({ PolicyArn: p.Arn, PolicyDocument: v1 })), 409, 'LimitExceededException', /up to 5 versions/);
  await assertFails(iam.send(new GetPolicyVersionCommand({ PolicyArn: p.Arn, VersionId: 'v9' })), 404, 'NoSuchEntityException');
  await assertFails(iam.send(new GetPolicyCommand({ PolicyArn: `arn:aws:iam::${acct}:policy/Nope` })), 404, 'NoSuchEntityException', /does not exist or is not attachable/);

  await iam.send(new CreateUserCommand({ UserName: 'mia' }));
  await iam.send(new AttachUserPolicyCommand({ UserName: 'mia', PolicyArn: p.Arn }));
  assert.deepEqual((await iam.send(new ListAttachedUserPoliciesCommand({ UserName: 'mia' }))).AttachedPolicies, [{ PolicyName: 'Lister', PolicyArn: p.Arn }]);
  assert.equal((await iam.send(new GetPolicyCommand({ PolicyArn: p.Arn }))).Policy?.AttachmentCount, 1);
  assert.deepEqual((await iam.send(new ListPoliciesCommand({ Scope: 'Local', OnlyAttached: true }))).Policies?.map((x) => x.PolicyName), ['Lister']);
  await assertFails(iam.send(new DeleteUserCommand({ UserName: 'mia' })), 409, 'DeleteConflictException', /detach all policies/);
  await assertFails(iam.send(new DeletePolicyCommand({ PolicyArn: p.Arn })), 409, 'DeleteConflictException', /attached/);
  await iam.send(new DetachUserPolicyCommand({ UserName: 'mia', PolicyArn: p.Arn }));
  await assertFails(iam.send(new DetachUserPolicyCommand({ UserName: 'mia', PolicyArn: p.Arn })), 404, 'NoSuchEntityException');
  await assertFails(iam.send(new DeletePolicyCommand({ PolicyArn: p.Arn })), 409, 'DeleteConflictException', /versions/);
  for (const v of ['v1', 'v3', 'v4', 'v5']) await iam.send(new DeletePolicyVersionCommand({ PolicyArn: p.Arn, VersionId: v }));
  await assertFails(iam.send(new DeletePolicyVersionCommand({ PolicyArn: p.Arn, VersionId: 'v2' })), 409, 'DeleteConflictException');
  await iam.send(new DeletePolicyCommand({ PolicyArn: p.Arn }));
  await assertFails(iam.send(new GetPolicyCommand({ PolicyArn: p.Arn })), 404, 'NoSuchEntityException');
});

test('end to end: the group analysts grants S3 and KMS; out of the group, access is gone; SimulatePrincipalPolicy says why', async () => {
  const bucket = uniqueBucket('analysts');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  await iam.send(new CreateUserCommand({ UserName: 'alice' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }))).AccessKey!;
  const creds = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  const s3 = srv.client({ credentials: creds });
  const kms = srv.kmsClient({ credentials: creds });

  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a', Body: 'x' })), 403, 'AccessDenied');
  await iam.send(new CreateGroupCommand({ GroupName: 'analysts' }));
  await iam.send(new PutGroupPolicyCommand({ GroupName: 'analysts', PolicyName: 's3', PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }]) }));
  const kmsPolicy = (await iam.send(new CreatePolicyCommand({ PolicyName: 'UseKey', PolicyDocument: policy([{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: key.Arn }]) }))).Policy!;
  await iam.send(new AttachGroupPolicyCommand({ GroupName: 'analysts', PolicyArn: kmsPolicy.Arn }));
  assert.deepEqual((await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: 'analysts' }))).AttachedPolicies?.map((x) => x.PolicyName), ['UseKey']);
  await iam.send(new AddUserToGroupCommand({ GroupName: 'analysts', UserName: 'alice' }));

  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a', Body: 'x' }));
  assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a' }))).Body?.transformToString(), 'x');
  const ct = (await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('secret') }))).CiphertextBlob!;
  assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: ct }))).Plaintext!).toString(), 'secret');

  const sim = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: `arn:aws:iam::${acct}:user/alice`, ActionNames: ['kms:Decrypt', 'kms:ScheduleKeyDeletion'], ResourceArns: [key.Arn!] }));
  assert.deepEqual(sim.EvaluationResults?.map((r) => [r.EvalActionName, r.EvalDecision]), [['kms:Decrypt', 'allowed'], ['kms:ScheduleKeyDeletion', 'implicitDeny']]);
  // The key's default policy (delegating to IAM) and the managed policy that allows.
  assert.deepEqual(sim.EvaluationResults?.[0]?.MatchedStatements?.map((m) => [m.SourcePolicyId, m.SourcePolicyType]), [['ResourcePolicy', 'resource'], [kmsPolicy.Arn, 'user-managed']]);

  await iam.send(new DetachGroupPolicyCommand({ GroupName: 'analysts', PolicyArn: kmsPolicy.Arn }));
  await assertFails(kms.send(new DecryptCommand({ CiphertextBlob: ct })), 400, 'AccessDeniedException', /kms:Decrypt/);
  await iam.send(new AttachGroupPolicyCommand({ GroupName: 'analysts', PolicyArn: kmsPolicy.Arn }));
  await kms.send(new DecryptCommand({ CiphertextBlob: ct }));

  await iam.send(new RemoveUserFromGroupCommand({ GroupName: 'analysts', UserName: 'alice' }));
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a' })), 403, 'AccessDenied');
  await assertFails(kms.send(new DecryptCommand({ CiphertextBlob: ct })), 400, 'AccessDeniedException', /is not authorized to perform: kms:Decrypt/);
  const after2 = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: `arn:aws:iam::${acct}:user/alice`, ActionNames: ['kms:Decrypt'], ResourceArns: [key.Arn!] }));
  assert.equal(after2.EvaluationResults?.[0]?.EvalDecision, 'implicitDeny');
  s3.destroy();
  kms.destroy();
});

test('MaxItems and Marker page every listing: names after the marker (any case), IsTruncated, the last name shown as the next marker', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'pager' }));
  const doc = policy([{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }]);
  for (const g of ['pg-a', 'PG-B', 'pg-c']) {
    await iam.send(new CreateGroupCommand({ GroupName: g, Path: '/paging/' }));
    await iam.send(new AddUserToGroupCommand({ GroupName: g, UserName: 'pager' }));
  }
  for (const u of ['pm-x', 'PM-Y']) {
    await iam.send(new CreateUserCommand({ UserName: u }));
    await iam.send(new AddUserToGroupCommand({ GroupName: 'pg-a', UserName: u }));
  }
  for (const n of ['p1', 'P2', 'p3']) {
    await iam.send(new PutUserPolicyCommand({ UserName: 'pager', PolicyName: n, PolicyDocument: doc }));
    const arn = (await iam.send(new CreatePolicyCommand({ PolicyName: `paged-${n}`, Path: '/paging/', PolicyDocument: doc }))).Policy!.Arn!;
    await iam.send(new AttachUserPolicyCommand({ UserName: 'pager', PolicyArn: arn }));
  }
  /** Every page of a listing at one item a page: the names, and the markers handed out. */
  async function pages(list: (marker: string | undefined) => Promise<{ names: string[]; IsTruncated?: boolean; Marker?: string }>): Promise<string[][]> {
    const out: string[][] = [];
    let marker: string | undefined;
    for (;;) {
      const r = await list(marker);
      out.push(r.names);
      assert.equal(r.IsTruncated, r.Marker !== undefined);
      if (!r.IsTruncated) return out;
      assert.equal(r.Marker, r.names[r.names.length - 1]);
      marker = r.Marker!.toUpperCase(); // markers compare without regard to case
    }
  }
  assert.deepEqual(await pages(async (Marker) => {
    const r = await iam.send(new ListGroupsCommand({ PathPrefix: '/paging/', MaxItems: 1, Marker }));
    return { ...r, names: r.Groups!.map((g) => g.GroupName!) };
  }), [['pg-a'], ['PG-B'], ['pg-c']]);
  assert.deepEqual(await pages(async (Marker) => {
    const r = await iam.send(new ListGroupsForUserCommand({ UserName: 'pager', MaxItems: 2, Marker }));
    return { ...r, names: r.Groups!.map((g) => g.GroupName!) };
  }), [['pg-a', 'PG-B'], ['pg-c']]);
  assert.deepEqual(await pages(async (Marker) => {
    const r = await iam.send(new GetGroupCommand({ GroupName: 'pg-a', MaxItems: 1, Marker }));
    return { ...r, names: r.Users!.map((u) => u.UserName!) };
  }), [['pager'], ['pm-x'], ['PM-Y']]);
  assert.deepEqual(await pages(async (Marker) => {
    const r = await iam.send(new ListUserPoliciesCommand({ UserName: 'pager', MaxItems: 2, Marker }));
    return { ...r, names: r.PolicyNames! };
  }), [['p1', 'P2'], ['p3']]);
  assert.deepEqual(await pages(async (Marker) => {
    const r = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: 'pager', PathPrefix: '/paging/', MaxItems: 1, Marker }));
    return { ...r, names: r.AttachedPolicies!.map((x) => x.PolicyName!) };
  }), [['paged-p1'], ['paged-P2'], ['paged-p3']]);
});
