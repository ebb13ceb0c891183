// A change made through one node is enforced by every other node on its very next request
// (docs/CLUSTER.md, "Caches across nodes"): key state, key deletion, grants, IAM policies
// and access keys, bucket policies and bucket default encryption. Three real nodes on one
// PostgreSQL (test/helpers/cluster.ts), real SDK clients; each check warms the other
// node first (bucket keys, unsealed secrets, parsed policies), then changes on one node and
// asks another at once — no wait, no retry.

import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand, DeleteBucketPolicyCommand, GetObjectCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand,
  PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  CreateGrantCommand, CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DisableKeyCommand, EnableKeyCommand, EncryptCommand,
  GetParametersForImportCommand, ImportKeyMaterialCommand, KMSServiceException, PutKeyPolicyCommand, RevokeGrantCommand, RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand, type KMSClient,
} from '@aws-sdk/client-kms';
import {
  AddUserToGroupCommand, AttachUserPolicyCommand, CreateAccessKeyCommand, CreateGroupCommand, CreatePolicyCommand, CreateUserCommand,
  DeleteAccessKeyCommand, DeleteUserPolicyCommand, DetachUserPolicyCommand, IAMClient, PutGroupPolicyCommand, PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
} from '@aws-sdk/client-iam';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

type Credentials = { accessKeyId: string; secretAccessKey: string };

const policy = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement });

/** The error a call rejects with; fails when it succeeds. */
async function refused(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException || e instanceof KMSServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  assert.fail('the request succeeded; it should have been refused');
}

describePostgres('a three-node cluster: a change on one node is enforced by the others on their next request', () => {
  let cluster: TestCluster;
  let A: ClusterNode, B: ClusterNode, C: ClusterNode;
  const clients: { destroy(): void }[] = [];
  const iamOn = (n: ClusterNode) => track(new IAMClient({ endpoint: n.url(), region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 }));
  const s3As = (n: ClusterNode, credentials: Credentials) => track(n.s3({ credentials }));
  const kmsAs = (n: ClusterNode, credentials: Credentials) => track(n.kms({ credentials }));
  function track<T extends { destroy(): void }>(c: T): T {
    clients.push(c);
    return c;
  }
  const getBody = async (s3: S3Client, Bucket: string, Key: string) =>
    Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray()).toString();

  /** A new IAM user made through `via`, with an access key and the inline policies given. */
  async function newUser(via: ClusterNode, UserName: string, inline: Record<string, string> = {}): Promise<Credentials & { arn: string }> {
    const iam = iamOn(via);
    const u = await iam.send(new CreateUserCommand({ UserName }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey!;
    for (const [PolicyName, PolicyDocument] of Object.entries(inline)) await iam.send(new PutUserPolicyCommand({ UserName, PolicyName, PolicyDocument }));
    return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey!, arn: u.User!.Arn! };
  }

  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    [A, B, C] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });

  describe('KMS key state', () => {
    it('DisableKey on A: SSE-KMS GETs (with and without a bucket key) and Decrypt on B fail at once; EnableKey on C: B serves again', async () => {
      const [kmsA, kmsB, kmsC] = [A.kms(), B.kms(), C.kms()];
      const [s3A, s3B] = [A.s3(), B.s3()];
      const keyId = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await s3A.send(new CreateBucketCommand({ Bucket: 'state' }));
      for (const BucketKeyEnabled of [false, true]) {
        await s3A.send(new PutObjectCommand({ Bucket: 'state', Key: `o-${BucketKeyEnabled}`, Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, BucketKeyEnabled }));
      }
      const blob = (await kmsA.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') }))).CiphertextBlob!;
      // Warm B: its bucket-key cache now holds the object's bucket key, its KMS the material.
      for (let i = 0; i < 2; i++) for (const k of ['o-false', 'o-true']) assert.equal(await getBody(s3B, 'state', k), 'secret');
      await kmsB.send(new DecryptCommand({ CiphertextBlob: blob }));

      await kmsA.send(new DisableKeyCommand({ KeyId: keyId }));
      for (const k of ['o-false', 'o-true']) {
        const e = await refused(getBody(s3B, 'state', k));
        assert.deepEqual([e.name, e.status], ['KMS.DisabledException', 400], `GET ${k} on B right after DisableKey on A`);
      }
      assert.equal((await refused(kmsB.send(new DecryptCommand({ CiphertextBlob: blob })))).name, 'DisabledException');

      await kmsC.send(new EnableKeyCommand({ KeyId: keyId }));
      for (const k of ['o-false', 'o-true']) assert.equal(await getBody(s3B, 'state', k), 'secret');
      await kmsB.send(new DecryptCommand({ CiphertextBlob: blob }));
    });

    it('ScheduleKeyDeletion on A: B refuses Decrypt and the SSE-KMS GET at once', async () => {
      const [kmsA, kmsB] = [A.kms(), B.kms()];
      const keyId = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await A.s3().send(new PutObjectCommand({ Bucket: 'state', Key: 'doomed', Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, BucketKeyEnabled: true }));
      const blob = (await kmsA.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') }))).CiphertextBlob!;
      assert.equal(await getBody(B.s3(), 'state', 'doomed'), 'secret');
      await kmsB.send(new DecryptCommand({ CiphertextBlob: blob }));

      await kmsA.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
      assert.equal((await refused(kmsB.send(new DecryptCommand({ CiphertextBlob: blob })))).name, 'KMSInvalidStateException');
      assert.equal((await refused(getBody(B.s3(), 'state', 'doomed'))).name, 'KMS.KMSInvalidStateException');
    });
  });

  describe('key policies', () => {
    it('PutKeyPolicy denying a user on A: B refuses that user at once (Decrypt and the SSE-KMS GET), and allows again after the next PutKeyPolicy on C', async () => {
      const kmsA = A.kms();
      const key = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!;
      const dave = await newUser(A, 'dave', { all: policy({ Effect: 'Allow', Action: ['s3:*', 'kms:*'], Resource: '*' }) });
      const [kmsB, s3B] = [kmsAs(B, dave), s3As(B, dave)];
      const blob = (await kmsB.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('p') }))).CiphertextBlob!;
      await s3B.send(new CreateBucketCommand({ Bucket: 'keypolicy' }));
      await s3B.send(new PutObjectCommand({ Bucket: 'keypolicy', Key: 'k', Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key.KeyId, BucketKeyEnabled: true }));
      for (let i = 0; i < 2; i++) assert.equal(await getBody(s3B, 'keypolicy', 'k'), 'secret');
      await kmsB.send(new DecryptCommand({ CiphertextBlob: blob }));

      const root = { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${cluster.accountId}:root` }, Action: 'kms:*', Resource: '*' };
      const denyDave = { Sid: 'deny-dave', Effect: 'Deny', Principal: { AWS: dave.arn }, Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*' };
      await kmsA.send(new PutKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default', Policy: policy(root, denyDave) }));
      assert.equal((await refused(kmsB.send(new DecryptCommand({ CiphertextBlob: blob })))).name, 'AccessDeniedException');
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'keypolicy', 'k'))), ['AccessDenied', 403]);

      await C.kms().send(new PutKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default', Policy: policy(root) }));
      assert.equal(await getBody(s3B, 'keypolicy', 'k'), 'secret');
    });
  });

  describe('imported key material', () => {
    /** Imports fresh 256-bit material into `KeyId` through `kms`; returns its KeyMaterialId. */
    async function importInto(kms: KMSClient, KeyId: string, ImportType?: 'NEW_KEY_MATERIAL'): Promise<string> {
      const p = await kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const key = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
      const EncryptedKeyMaterial = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
      return (await kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType }))).KeyMaterialId!;
    }

    it('DeleteImportedKeyMaterial of an older version on A: B refuses its ciphertexts at once (a cached bucket key too), though the key stays Enabled', async () => {
      const [kmsA, kmsB] = [A.kms(), B.kms()];
      const KeyId = (await kmsA.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
      const first = await importInto(kmsA, KeyId);
      const old = (await kmsA.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('under v1') }))).CiphertextBlob!;
      await A.s3().send(new CreateBucketCommand({ Bucket: 'imported' }));
      await A.s3().send(new PutObjectCommand({ Bucket: 'imported', Key: 'v1', Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KeyId, BucketKeyEnabled: true }));
      const s3B = B.s3();
      for (let i = 0; i < 2; i++) assert.equal(await getBody(s3B, 'imported', 'v1'), 'secret', 'B caches the bucket key');
      await importInto(kmsA, KeyId, 'NEW_KEY_MATERIAL');
      await kmsA.send(new RotateKeyOnDemandCommand({ KeyId }));
      const fresh = (await kmsA.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('under v2') }))).CiphertextBlob!;
      // B opens (and keeps) both versions' material.
      for (const blob of [old, fresh, old]) await kmsB.send(new DecryptCommand({ CiphertextBlob: blob }));

      await kmsA.send(new DeleteImportedKeyMaterialCommand({ KeyId, KeyMaterialId: first }));
      assert.equal((await refused(kmsB.send(new DecryptCommand({ CiphertextBlob: old })))).name, 'KMSInvalidStateException');
      assert.equal((await refused(getBody(s3B, 'imported', 'v1'))).name, 'KMS.KMSInvalidStateException', 'the bucket key B holds is refused too');
      assert.equal(Buffer.from((await kmsB.send(new DecryptCommand({ CiphertextBlob: fresh }))).Plaintext!).toString(), 'under v2', 'the current material still works');
    });
  });

  describe('the first GET of a new SSE-KMS object on the node that wrote it (its PUT remembered the envelope and the data key)', () => {
    it('DisableKey, a key policy without kms:Decrypt, RevokeGrant and DeleteImportedKeyMaterial on A: B refuses the first GET of what it just wrote', async () => {
      const [kmsA, s3B] = [A.kms(), B.s3()];
      await A.s3().send(new CreateBucketCommand({ Bucket: 'first-get' }));
      const put = (s3: S3Client, Key: string, SSEKMSKeyId: string, ServerSideEncryption: 'aws:kms' | 'aws:kms:dsse' = 'aws:kms') =>
        s3.send(new PutObjectCommand({ Bucket: 'first-get', Key, Body: 'secret', ServerSideEncryption, SSEKMSKeyId }));

      const keyId = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      for (const k of ['disabled', 'policy']) await put(s3B, k, keyId);
      await put(s3B, 'dsse', keyId, 'aws:kms:dsse');
      await kmsA.send(new DisableKeyCommand({ KeyId: keyId }));
      for (const k of ['disabled', 'dsse']) assert.deepEqual(Object.values(await refused(getBody(s3B, 'first-get', k))), ['KMS.DisabledException', 400], k);
      await kmsA.send(new EnableKeyCommand({ KeyId: keyId }));
      assert.equal(await getBody(s3B, 'first-get', 'disabled'), 'secret');
      const root = { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${cluster.accountId}:root` }, Action: ['kms:PutKeyPolicy', 'kms:GenerateDataKey'], Resource: '*' };
      await kmsA.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy(root) }));
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'first-get', 'policy'))), ['AccessDenied', 403]);

      const grantKey = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const grantee = await newUser(A, 'first-get-grantee', { s3: policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' }) });
      const { GrantId } = await kmsA.send(new CreateGrantCommand({ KeyId: grantKey, GranteePrincipal: grantee.arn, Operations: ['Decrypt', 'GenerateDataKey'] }));
      const s3Grantee = s3As(B, grantee);
      await put(s3Grantee, 'granted', grantKey);
      await kmsA.send(new RevokeGrantCommand({ KeyId: grantKey, GrantId }));
      assert.deepEqual(Object.values(await refused(getBody(s3Grantee, 'first-get', 'granted'))), ['AccessDenied', 403]);

      const KeyId = (await kmsA.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
      const importInto = async (ImportType?: 'NEW_KEY_MATERIAL'): Promise<string> => {
        const p = await kmsA.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
        const pub = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
        const EncryptedKeyMaterial = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
        return (await kmsA.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType }))).KeyMaterialId!;
      };
      const first = await importInto();
      await put(s3B, 'imported', KeyId);
      await importInto('NEW_KEY_MATERIAL');
      await kmsA.send(new RotateKeyOnDemandCommand({ KeyId }));
      await kmsA.send(new DeleteImportedKeyMaterialCommand({ KeyId, KeyMaterialId: first }));
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'first-get', 'imported'))), ['KMS.KMSInvalidStateException', 400]);
    });
  });

  describe('grants', () => {
    it('RevokeGrant on A: B refuses the grantee at once (Encrypt, Decrypt, and the SSE-KMS GET through S3)', async () => {
      const kmsA = A.kms();
      const keyId = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      // The grantee may use S3, and the key only through the grant.
      const grantee = await newUser(A, 'grantee', { s3: policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' }) });
      const { GrantId } = await kmsA.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: grantee.arn, Operations: ['Encrypt', 'Decrypt', 'GenerateDataKey'] }));
      const [kmsB, s3B] = [kmsAs(B, grantee), s3As(B, grantee)];
      const blob = (await kmsB.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') }))).CiphertextBlob!;
      await kmsB.send(new DecryptCommand({ CiphertextBlob: blob }));
      await A.s3().send(new CreateBucketCommand({ Bucket: 'granted' }));
      await s3B.send(new PutObjectCommand({ Bucket: 'granted', Key: 'g', Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, BucketKeyEnabled: true }));
      assert.equal(await getBody(s3B, 'granted', 'g'), 'secret');

      await kmsA.send(new RevokeGrantCommand({ KeyId: keyId, GrantId }));
      assert.equal((await refused(kmsB.send(new DecryptCommand({ CiphertextBlob: blob })))).name, 'AccessDeniedException');
      assert.equal((await refused(kmsB.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') })))).name, 'AccessDeniedException');
      const e = await refused(getBody(s3B, 'granted', 'g'));
      assert.deepEqual([e.name, e.status], ['AccessDenied', 403]);
    });
  });

  describe('IAM', () => {
    it('DeleteUserPolicy on A: B refuses the user at once; a managed policy detached on C likewise', async () => {
      await A.s3().send(new CreateBucketCommand({ Bucket: 'iam' }));
      await A.s3().send(new PutObjectCommand({ Bucket: 'iam', Key: 'k', Body: 'v' }));
      const allowRead = policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::iam/*' });
      const alice = await newUser(A, 'alice', { read: allowRead });
      const s3B = s3As(B, alice);
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
      await iamOn(A).send(new DeleteUserPolicyCommand({ UserName: 'alice', PolicyName: 'read' }));
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'iam', 'k'))), ['AccessDenied', 403]);

      const arn = (await iamOn(A).send(new CreatePolicyCommand({ PolicyName: 'read-iam', PolicyDocument: allowRead }))).Policy!.Arn!;
      await iamOn(B).send(new AttachUserPolicyCommand({ UserName: 'alice', PolicyArn: arn }));
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v', 'an attach on B itself applies at once');
      const s3A = s3As(A, alice);
      assert.equal(await getBody(s3A, 'iam', 'k'), 'v');
      await iamOn(C).send(new DetachUserPolicyCommand({ UserName: 'alice', PolicyArn: arn }));
      assert.deepEqual(Object.values(await refused(getBody(s3A, 'iam', 'k'))), ['AccessDenied', 403]);
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'iam', 'k'))), ['AccessDenied', 403]);
    });

    it('RemoveUserFromGroup on A: B refuses what only the group\'s policy allowed, at once', async () => {
      const iamA = iamOn(A);
      await iamA.send(new CreateGroupCommand({ GroupName: 'readers' }));
      await iamA.send(new PutGroupPolicyCommand({ GroupName: 'readers', PolicyName: 'read', PolicyDocument: policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::iam/*' }) }));
      const eve = await newUser(A, 'eve');
      await iamA.send(new AddUserToGroupCommand({ GroupName: 'readers', UserName: 'eve' }));
      const s3B = s3As(B, eve);
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
      await iamA.send(new RemoveUserFromGroupCommand({ GroupName: 'readers', UserName: 'eve' }));
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'iam', 'k'))), ['AccessDenied', 403]);
    });

    it('DeleteAccessKey on A: B refuses the key at once, for S3 and for KMS', async () => {
      const bob = await newUser(A, 'bob', { all: policy({ Effect: 'Allow', Action: ['s3:*', 'kms:*'], Resource: '*' }) });
      const [s3B, kmsB] = [s3As(B, bob), kmsAs(B, bob)];
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
      const keyId = (await kmsB.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await kmsB.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') }));
      await iamOn(A).send(new DeleteAccessKeyCommand({ UserName: 'bob', AccessKeyId: bob.accessKeyId }));
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'iam', 'k'))), ['InvalidAccessKeyId', 403]);
      assert.equal((await refused(kmsB.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') })))).status, 400);
    });
  });

  describe('bucket settings', () => {
    it('a bucket policy Deny put on A is enforced by B at once; deleted on C, B allows again', async () => {
      const carol = await newUser(A, 'carol', { read: policy({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::iam/*' }) });
      const s3B = s3As(B, carol);
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
      await A.s3().send(new PutBucketPolicyCommand({
        Bucket: 'iam',
        Policy: policy({ Effect: 'Deny', Principal: { AWS: carol.arn }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::iam/*' }),
      }));
      assert.deepEqual(Object.values(await refused(getBody(s3B, 'iam', 'k'))), ['AccessDenied', 403]);
      await C.s3().send(new DeleteBucketPolicyCommand({ Bucket: 'iam' }));
      assert.equal(await getBody(s3B, 'iam', 'k'), 'v');
    });

    it('bucket default encryption changed on A: the next PUT on B uses it; changed again on C, likewise', async () => {
      const kmsA = A.kms();
      const key = (await kmsA.send(new CreateKeyCommand({}))).KeyMetadata!;
      const s3B = B.s3();
      await A.s3().send(new CreateBucketCommand({ Bucket: 'defaults' }));
      const first = await s3B.send(new PutObjectCommand({ Bucket: 'defaults', Key: 'a', Body: 'x' }));
      assert.equal(first.ServerSideEncryption, 'AES256');
      await A.s3().send(new PutBucketEncryptionCommand({
        Bucket: 'defaults',
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key.KeyId }, BucketKeyEnabled: true }] },
      }));
      const second = await s3B.send(new PutObjectCommand({ Bucket: 'defaults', Key: 'b', Body: 'x' }));
      assert.deepEqual([second.ServerSideEncryption, second.SSEKMSKeyId, second.BucketKeyEnabled], ['aws:kms', key.Arn, true]);
      await C.s3().send(new PutBucketEncryptionCommand({
        Bucket: 'defaults',
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      }));
      const third = await s3B.send(new PutObjectCommand({ Bucket: 'defaults', Key: 'c', Body: 'x' }));
      assert.deepEqual([third.ServerSideEncryption, third.SSEKMSKeyId], ['AES256', undefined]);
    });
  });
});
