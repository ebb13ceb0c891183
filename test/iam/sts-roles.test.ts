// Roles and STS through @aws-sdk/client-iam and client-sts against the real server:
// role CRUD and its errors, AssumeRole (trust policy, duration bounds, session policy),
// temporary credentials on S3, KMS and IAM, expiry, GetCallerIdentity, GetSessionToken,
// and the assumed-role principal in errors and the audit log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AttachRolePolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand, CreateRoleCommand, CreateUserCommand, DeleteRoleCommand,
  DeleteRolePolicyCommand, DetachRolePolicyCommand, GetRoleCommand, GetRolePolicyCommand, ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand, ListRoleTagsCommand, ListRolesCommand, ListUsersCommand, PutRolePolicyCommand, PutUserPolicyCommand, TagRoleCommand,
  UntagRoleCommand, UpdateAssumeRolePolicyCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetFederationTokenCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { asCreds, iamClient, policy, stsClient, type Creds } from './iam-helpers.js';
import { auditFileText } from '../helpers/audit-file.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;
let bob: Creds;

const trust = (principal: string) => policy([{ Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole' }]);

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
  await iam.send(new CreateUserCommand({ UserName: 'bob' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'bob' }))).AccessKey!;
  bob = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
});
after(async () => {
  iam.destroy();
  await srv.stop();
});

test('roles: create with a trust policy, get, list, update the trust policy, inline and attached policies, DeleteConflict, delete', async () => {
  const r = (await iam.send(new CreateRoleCommand({ RoleName: 'Ops', Path: '/svc/', AssumeRolePolicyDocument: trust(`arn:aws:iam::${acct}:root`), MaxSessionDuration: 7200, Description: 'ops' }))).Role!;
  assert.equal(r.Arn, `arn:aws:iam::${acct}:role/svc/Ops`);
  assert.match(r.RoleId!, /^AROA/);
  assert.equal(r.MaxSessionDuration, 7200);
  assert.equal(decodeURIComponent(r.AssumeRolePolicyDocument!), trust(`arn:aws:iam::${acct}:root`));
  await assertFails(iam.send(new CreateRoleCommand({ RoleName: 'ops', AssumeRolePolicyDocument: trust('*') })), 409, 'EntityAlreadyExistsException');
  await assertFails(iam.send(new CreateRoleCommand({ RoleName: 'NoPrincipal', AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Action: 'sts:AssumeRole' }]) })), 400, 'MalformedPolicyDocumentException', /Principal/);
  await assertFails(iam.send(new CreateRoleCommand({ RoleName: 'Long', AssumeRolePolicyDocument: trust('*'), MaxSessionDuration: 50000 })), 400, 'ValidationError');
  assert.equal((await iam.send(new GetRoleCommand({ RoleName: 'ops' }))).Role?.RoleName, 'Ops');
  assert.ok((await iam.send(new ListRolesCommand({}))).Roles?.some((x) => x.RoleName === 'Ops'));
  await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'Ops', PolicyDocument: trust(`arn:aws:iam::${acct}:user/bob`) }));
  assert.equal(decodeURIComponent((await iam.send(new GetRoleCommand({ RoleName: 'Ops' }))).Role!.AssumeRolePolicyDocument!), trust(`arn:aws:iam::${acct}:user/bob`));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'Ops', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:*', Resource: '*' }]) }));
  assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: 'Ops' }))).PolicyNames, ['p']);
  assert.ok((await iam.send(new GetRolePolicyCommand({ RoleName: 'Ops', PolicyName: 'p' }))).PolicyDocument);
  const mp = (await iam.send(new CreatePolicyCommand({ PolicyName: 'OpsManaged', PolicyDocument: policy([{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }]) }))).Policy!;
  await iam.send(new AttachRolePolicyCommand({ RoleName: 'Ops', PolicyArn: mp.Arn }));
  assert.deepEqual((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'Ops' }))).AttachedPolicies?.map((x) => x.PolicyArn), [mp.Arn]);
  await assertFails(iam.send(new DeleteRoleCommand({ RoleName: 'Ops' })), 409, 'DeleteConflictException');
  await iam.send(new DeleteRolePolicyCommand({ RoleName: 'Ops', PolicyName: 'p' }));
  await iam.send(new DetachRolePolicyCommand({ RoleName: 'Ops', PolicyArn: mp.Arn }));
  await iam.send(new DeleteRoleCommand({ RoleName: 'Ops' }));
  await assertFails(iam.send(new GetRoleCommand({ RoleName: 'Ops' })), 404, 'NoSuchEntityException', /The role with name Ops cannot be found/);
});

test('TagRole, UntagRole, ListRoleTags: keys without regard to case, the role otherwise unchanged', async () => {
  await iam.send(new CreateRoleCommand({ RoleName: 'tagged-role', AssumeRolePolicyDocument: trust(`arn:aws:iam::${acct}:user/bob`), Description: 'kept', Tags: [{ Key: 'a', Value: '1' }] }));
  await iam.send(new TagRoleCommand({ RoleName: 'tagged-role', Tags: [{ Key: 'b', Value: '2' }, { Key: 'A', Value: '3' }] }));
  let t = await iam.send(new ListRoleTagsCommand({ RoleName: 'TAGGED-ROLE' }));
  assert.deepEqual(t.Tags, [{ Key: 'b', Value: '2' }, { Key: 'A', Value: '3' }]);
  assert.equal(t.IsTruncated, false);
  await iam.send(new UntagRoleCommand({ RoleName: 'tagged-role', TagKeys: ['B'] }));
  t = await iam.send(new ListRoleTagsCommand({ RoleName: 'tagged-role' }));
  assert.deepEqual(t.Tags, [{ Key: 'A', Value: '3' }]);
  const role = (await iam.send(new GetRoleCommand({ RoleName: 'tagged-role' }))).Role!;
  assert.equal(role.Description, 'kept');
  assert.deepEqual(role.Tags, [{ Key: 'A', Value: '3' }]);
  await assertFails(iam.send(new ListRoleTagsCommand({ RoleName: 'ghost' })), 404, 'NoSuchEntityException');
  await assertFails(iam.send(new TagRoleCommand({ RoleName: 'ghost', Tags: [{ Key: 'k', Value: 'v' }] })), 404, 'NoSuchEntityException');
});

test('GetCallerIdentity for the root and a user', async () => {
  const root = await stsClient(srv).send(new GetCallerIdentityCommand({}));
  assert.deepEqual([root.Account, root.Arn, root.UserId], [acct, `arn:aws:iam::${acct}:root`, acct]);
  const u = await stsClient(srv, bob).send(new GetCallerIdentityCommand({}));
  assert.equal(u.Arn, `arn:aws:iam::${acct}:user/bob`);
  assert.match(u.UserId!, /^AIDA/);
  await assertFails(stsClient(srv).send(new GetFederationTokenCommand({ Name: 'x' })), 501, 'NotImplemented', /GetFederationToken/);
});

test('AssumeRole: trust policy decides; the session reads S3 and KMS as the role; the session policy narrows; expired fails', async () => {
  const bucket = uniqueBucket('role');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'data' }));
  const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  const ct = (await srv.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('pt') }))).CiphertextBlob!;
  const roleArn = `arn:aws:iam::${acct}:role/DataReader`;
  await iam.send(new CreateRoleCommand({ RoleName: 'DataReader', AssumeRolePolicyDocument: trust(`arn:aws:iam::${acct}:user/bob`) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'DataReader', PolicyName: 'read', PolicyDocument: policy([
    { Effect: 'Allow', Action: ['s3:GetObject', 's3:ListAllMyBuckets'], Resource: '*' },
    { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:ListKeys'], Resource: '*' },
  ]) }));

  const sts = stsClient(srv, bob);
  await assertFails(stsClient(srv).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'ss' })), 403, 'AccessDenied', /Roles may not be assumed by root accounts/);
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/Nope`, RoleSessionName: 's1' })), 403, 'AccessDenied', /not authorized to perform: sts:AssumeRole on resource/);
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 's1', DurationSeconds: 7200 })), 400, 'ValidationError', /MaxSessionDuration/);
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 's1', DurationSeconds: 100 })), 400, 'ValidationError', /greater than or equal to 900/);
  // The session name's length is its own constraint, named as AWS names it (not the pattern).
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 's' })), 400, 'ValidationError', /Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2/);
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'x'.repeat(65) })), 400, 'ValidationError', /Member must have length less than or equal to 64/);
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'a b' })), 400, 'ValidationError', /regular expression pattern/);

  const r = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'bob-session', DurationSeconds: 900 }));
  assert.match(r.Credentials!.AccessKeyId!, /^ASIA/);
  const sessionArn = `arn:aws:sts::${acct}:assumed-role/DataReader/bob-session`;
  assert.equal(r.AssumedRoleUser?.Arn, sessionArn);
  assert.match(r.AssumedRoleUser!.AssumedRoleId!, /^AROA[A-Z0-9]{17}:bob-session$/);
  const expires = r.Credentials!.Expiration!.getTime() - Date.now();
  assert.ok(expires > 880_000 && expires <= 900_000, `expires in ${expires} ms`);
  const session = asCreds(r.Credentials!);

  assert.equal((await stsClient(srv, session).send(new GetCallerIdentityCommand({}))).Arn, sessionArn);
  const s3 = srv.client({ credentials: session });
  const kms = srv.kmsClient({ credentials: session });
  assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }))).Body?.transformToString(), 'data');
  assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: ct }))).Plaintext!).toString(), 'pt');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'x' })), 403, 'AccessDenied');
  await assertFails(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 400, 'AccessDeniedException',
    new RegExp(`User: ${sessionArn} is not authorized to perform: kms:Encrypt`));
  await assertFails(iamClient(srv, session).send(new ListUsersCommand({})), 403, 'AccessDenied', new RegExp(`User: ${sessionArn} is not authorized to perform: iam:ListUsers`));
  // A wrong token is refused everywhere.
  await assertFails(srv.client({ credentials: { ...session, sessionToken: 'forged' } }).send(new ListBucketsCommand({})), 400, 'InvalidToken');

  // The audit log names the assumed role.
  const log = (await auditFileText(join(srv.dataDir, 'audit', 'kms.log'))).trim().split('\n').map((l) => JSON.parse(l));
  const ev = log.findLast((e) => e.eventName === 'Decrypt' && e.userIdentity.arn === sessionArn);
  assert.equal(ev?.userIdentity.type, 'AssumedRole');
  assert.equal(ev?.userIdentity.sessionContext.sessionIssuer.arn, roleArn);
  assert.equal(ev?.userIdentity.accessKeyId, session.accessKeyId);

  // A session policy narrows the role's permissions: Decrypt is allowed by the role but not by the session.
  const narrow = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'narrow', Policy: policy([{ Effect: 'Allow', Action: 'kms:ListKeys', Resource: '*' }]) }));
  assert.ok((narrow.PackedPolicySize ?? 0) > 0);
  const nkms = srv.kmsClient({ credentials: asCreds(narrow.Credentials!) });
  await nkms.send(new ListKeysCommand({}));
  await assertFails(nkms.send(new DecryptCommand({ CiphertextBlob: ct })), 400, 'AccessDeniedException', /because no session policy allows the kms:Decrypt action/);
  await assertFails(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'bad', Policy: '{"nope": 1}' })), 400, 'MalformedPolicyDocumentException');

  // Expiry: the stored session's expiry is moved into the past (the server reads it on
  // every request); every service answers ExpiredToken.
  const db = new Database(join(srv.dataDir, 'iam.sqlite'));
  db.prepare('UPDATE sessions SET expires_at = ? WHERE access_key_id = ?').run(Date.now() - 1000, session.accessKeyId);
  db.close();
  await assertFails(s3.send(new ListBucketsCommand({})), 400, 'ExpiredToken', /The provided token has expired/);
  await assertFails(kms.send(new ListKeysCommand({})), 400, 'ExpiredTokenException');
  await assertFails(stsClient(srv, session).send(new GetCallerIdentityCommand({})), 403, 'ExpiredToken');
  await assertFails(iamClient(srv, session).send(new ListUsersCommand({})), 403, 'ExpiredToken');
  for (const c of [s3, kms, nkms, sts]) c.destroy();
});

test('GetSessionToken: temporary credentials of the user work on S3; not on IAM; not for another GetSessionToken', async () => {
  await iam.send(new PutUserPolicyCommand({ UserName: 'bob', PolicyName: 'list', PolicyDocument: policy([{ Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 'iam:ListUsers'], Resource: '*' }]) }));
  const r = await stsClient(srv, bob).send(new GetSessionTokenCommand({ DurationSeconds: 900 }));
  const tmp = asCreds(r.Credentials!);
  assert.match(tmp.accessKeyId, /^ASIA/);
  assert.equal((await stsClient(srv, tmp).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:iam::${acct}:user/bob`);
  await srv.client({ credentials: tmp }).send(new ListBucketsCommand({}));
  await assertFails(srv.client({ credentials: { accessKeyId: tmp.accessKeyId, secretAccessKey: tmp.secretAccessKey } }).send(new ListBucketsCommand({})), 400, 'InvalidToken');
  await assertFails(iamClient(srv, tmp).send(new ListUsersCommand({})), 403, 'InvalidClientTokenId');
  await assertFails(stsClient(srv, tmp).send(new GetSessionTokenCommand({})), 403, 'AccessDenied', /Cannot call GetSessionToken with session credentials/);
  await assertFails(stsClient(srv, bob).send(new GetSessionTokenCommand({ DurationSeconds: 200000 })), 400, 'ValidationError');
});
