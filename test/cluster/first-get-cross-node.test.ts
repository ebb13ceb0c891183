// Review of the kms-get merge (17338e0), across nodes: a node whose PUT just remembered an
// object's envelope and data key (kms-envelope-memo.ts, the KMS's opened-ciphertexts slab)
// refuses that object's very first GET at once after a change made through another node —
// what cross-node-security.test.ts's first-GET case does not cover: ScheduleKeyDeletion
// (SSE-KMS and DSSE-KMS; CancelKeyDeletion leaves the key Disabled, as in AWS, until
// EnableKey), an explicit identity Deny added and a managed policy detached, a key policy
// Deny on kms:ViaService, a grant retired by its grantee, and an alias moved (which changes
// nothing: the object names its key). Two real nodes on one PostgreSQL, real SDK clients,
// no wait and no retry.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import {
  CancelKeyDeletionCommand, CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, EnableKeyCommand, KMSServiceException, PutKeyPolicyCommand,
  RetireGrantCommand, ScheduleKeyDeletionCommand, UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import {
  AttachUserPolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand, CreateUserCommand, DeleteUserPolicyCommand, DetachUserPolicyCommand, IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

type Credentials = { accessKeyId: string; secretAccessKey: string };
const policy = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement });

async function refused(p: Promise<unknown>): Promise<[string, number | undefined]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException || e instanceof KMSServiceException) return [e.name, e.$metadata.httpStatusCode];
    throw e;
  }
  assert.fail('the request succeeded; it should have been refused');
}

describePostgres('the first GET on the node that wrote the object, after a change through another node', () => {
  let cluster: TestCluster;
  let A: ClusterNode, B: ClusterNode;
  const clients: { destroy(): void }[] = [];
  const Bucket = 't-first-get';
  const body = randomBytes(2048);
  function track<T extends { destroy(): void }>(c: T): T {
    clients.push(c);
    return c;
  }
  const iamOn = (n: ClusterNode) => track(new IAMClient({ endpoint: n.url(), region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 }));
  async function newUser(via: ClusterNode, UserName: string, inline: Record<string, string>): Promise<Credentials & { arn: string }> {
    const iam = iamOn(via);
    const u = await iam.send(new CreateUserCommand({ UserName }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey!;
    for (const [PolicyName, PolicyDocument] of Object.entries(inline)) await iam.send(new PutUserPolicyCommand({ UserName, PolicyName, PolicyDocument }));
    return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey!, arn: u.User!.Arn! };
  }
  const put = (s3: S3Client, Key: string, SSEKMSKeyId: string, ServerSideEncryption: 'aws:kms' | 'aws:kms:dsse' = 'aws:kms') =>
    s3.send(new PutObjectCommand({ Bucket, Key, Body: body, ServerSideEncryption, SSEKMSKeyId }));
  const get = async (s3: S3Client, Key: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());

  before(async () => {
    cluster = await startCluster({ nodes: 2 });
    [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
    await A.s3().send(new CreateBucketCommand({ Bucket }));
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });

  it('ScheduleKeyDeletion on A: B refuses the first GET of what it just wrote (SSE-KMS and DSSE-KMS); CancelKeyDeletion leaves it Disabled until EnableKey', async () => {
    const kmsA = A.kms();
    const s3B = B.s3();
    const KeyId = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await put(s3B, 'deletion', KeyId);
    await put(s3B, 'deletion-dsse', KeyId, 'aws:kms:dsse');
    await kmsA.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }));
    assert.deepEqual(await refused(get(s3B, 'deletion')), ['KMS.KMSInvalidStateException', 400]);
    assert.deepEqual(await refused(get(s3B, 'deletion-dsse')), ['KMS.KMSInvalidStateException', 400]);
    await kmsA.send(new CancelKeyDeletionCommand({ KeyId }));
    assert.deepEqual(await refused(get(s3B, 'deletion')), ['KMS.DisabledException', 400], 'a cancelled deletion leaves the key Disabled');
    await kmsA.send(new EnableKeyCommand({ KeyId }));
    assert.ok((await get(s3B, 'deletion')).equals(body));
    assert.ok((await get(s3B, 'deletion-dsse')).equals(body));
  });

  it('an identity Deny added on A, and a managed policy detached on A: B refuses the first GET at once', async () => {
    const kmsA = A.kms();
    const keyArn = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const name = `t-user-${randomBytes(3).toString('hex')}`;
    const allow = policy({ Effect: 'Allow', Action: ['s3:*'], Resource: '*' }, { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn });
    const user = await newUser(A, name, { allow });
    const s3User = track(B.s3({ credentials: user }));
    await put(s3User, 'identity-deny', keyArn);
    await iamOn(A).send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'deny', PolicyDocument: policy({ Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' }) }));
    assert.deepEqual(await refused(get(s3User, 'identity-deny')), ['AccessDenied', 403]);
    await iamOn(A).send(new DeleteUserPolicyCommand({ UserName: name, PolicyName: 'deny' }));
    assert.ok((await get(s3User, 'identity-deny')).equals(body));

    // The KMS permissions through a managed policy only, detached on A after B's PUT.
    await iamOn(A).send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'allow', PolicyDocument: policy({ Effect: 'Allow', Action: ['s3:*'], Resource: '*' }) }));
    const { Policy } = await iamOn(A).send(new CreatePolicyCommand({ PolicyName: `${name}-kms`, PolicyDocument: policy({ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keyArn }) }));
    await iamOn(A).send(new AttachUserPolicyCommand({ UserName: name, PolicyArn: Policy!.Arn }));
    await put(s3User, 'managed', keyArn);
    await iamOn(A).send(new DetachUserPolicyCommand({ UserName: name, PolicyArn: Policy!.Arn }));
    assert.deepEqual(await refused(get(s3User, 'managed')), ['AccessDenied', 403]);
  });

  it('a key policy Deny on kms:ViaService put on A, a grant retired by its grantee on A: B refuses the first GET; an alias moved on A changes nothing', async () => {
    const kmsA = A.kms();
    const s3B = B.s3();
    const keyArn = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    await put(s3B, 'via', keyArn);
    const root = { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${cluster.accountId}:root` }, Action: 'kms:*', Resource: '*' };
    const deny = { Sid: 'no-s3', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringLike: { 'kms:ViaService': 's3.*.amazonaws.com' } } };
    await kmsA.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: policy(root, deny) }));
    assert.deepEqual(await refused(get(s3B, 'via')), ['AccessDenied', 403]);
    await kmsA.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: policy(root) }));
    assert.ok((await get(s3B, 'via')).equals(body));

    const grantee = await newUser(A, `t-grantee-${randomBytes(3).toString('hex')}`, { s3: policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' }) });
    const { GrantToken, GrantId } = await kmsA.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: grantee.arn, RetiringPrincipal: grantee.arn, Operations: ['Decrypt', 'GenerateDataKey'] }));
    assert.ok(GrantToken && GrantId);
    const s3Grantee = track(B.s3({ credentials: grantee }));
    await put(s3Grantee, 'retired', keyArn);
    await track(A.kms({ credentials: grantee })).send(new RetireGrantCommand({ KeyId: keyArn, GrantId }));
    assert.deepEqual(await refused(get(s3Grantee, 'retired')), ['AccessDenied', 403]);

    const other = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const AliasName = `alias/t-${randomBytes(3).toString('hex')}`;
    await kmsA.send(new CreateAliasCommand({ AliasName, TargetKeyId: keyArn }));
    await put(s3B, 'aliased', AliasName);
    await kmsA.send(new UpdateAliasCommand({ AliasName, TargetKeyId: other }));
    const r = await s3B.send(new GetObjectCommand({ Bucket, Key: 'aliased' }));
    assert.equal(r.SSEKMSKeyId, keyArn);
    assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(body));
  });
});
