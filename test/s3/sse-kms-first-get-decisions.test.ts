// Review of the kms-get merge (17338e0): the first GET of a new SSE-KMS object, whose PUT
// remembered its envelope and (in the KMS's slab) its data key, still gets no plaintext that
// Decrypt's decisions would not give. Checked where sse-kms-first-get.test.ts does not:
// - a grant whose EncryptionContextEquals names another place refuses, one whose
//   EncryptionContextSubset names this place allows;
// - a key policy Deny on kms:ViaService (this S3), and an Allow only through another
//   region's S3, refuse the GET; the same caller's Decrypt on the wire is not affected;
// - an explicit identity Deny of kms:Decrypt added after the PUT refuses; so does a role
//   session whose session policy leaves kms:Decrypt out (its own PUT seeded the memos);
// - a caller with s3:GetObject and no kms:Decrypt is refused (AWS's message, naming the key);
// - imported material deleted (the key PendingImport) refuses; the same material imported
//   again serves again;
// - after a rotation the object still reads (its material version), and from the slab;
// - an alias moved onto another key after the PUT changes nothing: the object names its key.
// Each refusal happens with both memos holding the object (asserted), so it is a decision.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, EncryptCommand,
  GetParametersForImportCommand, ImportKeyMaterialCommand, PutKeyPolicyCommand, RotateKeyOnDemandCommand, UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { kmsEnvelopesHeld } from '../../src/s3/sse/kms-envelope-memo.js';
import { openedCiphertextsOf } from '../../src/kms/ops/crypto.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { iamClient, policy, stsClient } from '../iam/iam-helpers.js';
import { assertKmsDenied, kmsEventsOf, keyPolicyWith, kmsOn, refusal, s3On, userFactory } from '../helpers/sse-principals.js';

describe('every Decrypt decision still holds on the first GET of a new SSE-KMS object', () => {
  let srv: TestServer;
  let users: ReturnType<typeof userFactory>;
  let account: string;
  let region: string;
  const bucket = uniqueBucket('t-decide');
  const body = randomBytes(3000);
  before(async () => {
    srv = await startTestServer();
    users = userFactory(srv);
    account = srv.coffer.root.accountId;
    region = srv.coffer.kms.region;
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    users?.destroy();
    await srv?.stop();
  });

  const slab = () => openedCiphertextsOf(srv.coffer.kms);
  const newKey = async (policy?: string): Promise<string> => (await srv.kms.send(new CreateKeyCommand(policy ? { Policy: policy } : {}))).KeyMetadata!.Arn!;
  /** A PUT whose envelope and data key are remembered (both memos grew). */
  async function put(key: string, extra: Partial<PutObjectCommandInput>, s3: S3Client = srv.s3): Promise<void> {
    const [envelopes, slabSize] = [kmsEnvelopesHeld(), slab().size];
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ServerSideEncryption: 'aws:kms', ...extra }));
    assert.ok(kmsEnvelopesHeld() > envelopes || kmsEnvelopesHeld() === 4096, `${key}: the envelope remembered`);
    assert.ok(slab().size > slabSize || slab().size === 4096, `${key}: the data key remembered`);
  }
  async function get(key: string, s3: S3Client = srv.s3): Promise<{ body: Buffer; keyId: string | undefined; requestId: string }> {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: Buffer.from(await r.Body!.transformToByteArray()), keyId: r.SSEKMSKeyId, requestId: r.$metadata.requestId! };
  }
  async function refused(key: string, code: string, status: number, s3: S3Client = srv.s3): Promise<void> {
    const e = await refusal(get(key, s3));
    assert.deepEqual([e.name, e.$metadata.httpStatusCode], [code, status], `GET ${key}: ${e.message}`);
  }
  async function readsFromSlab(key: string, s3: S3Client = srv.s3): Promise<void> {
    const hits = slab().stats.hits;
    assert.ok((await get(key, s3)).body.equals(body), key);
    assert.equal(slab().stats.hits, hits + 1, `${key}: answered from the slab`);
  }

  it('grants with constraints: EncryptionContextEquals on another place refuses; EncryptionContextSubset on this place allows', async () => {
    const keyArn = await newKey();
    const grantee = await users.create(`t-grantee-${randomBytes(3).toString('hex')}`, { s3: [s3On(bucket)] });
    const here = (k: string) => ({ 'aws:s3:arn': `arn:aws:s3:::${bucket}/${k}` });
    // GenerateDataKey for both PUTs, unconstrained; Decrypt only under the constraints.
    await srv.kms.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: grantee.arn, Operations: ['GenerateDataKey'] }));
    await srv.kms.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: grantee.arn, Operations: ['Decrypt'], Constraints: { EncryptionContextEquals: here('other') } }));
    await put('equals', { SSEKMSKeyId: keyArn }, grantee.s3);
    await refused('equals', 'AccessDenied', 403, grantee.s3);
    await srv.kms.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: grantee.arn, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: here('subset') } }));
    await put('subset', { SSEKMSKeyId: keyArn }, grantee.s3);
    await readsFromSlab('subset', grantee.s3);
    await refused('equals', 'AccessDenied', 403, grantee.s3);
  });

  it('kms:ViaService in the key policy: a Deny on this S3, or an Allow only through another region\'s, refuses the GET; the wire is unaffected', async () => {
    const via = `s3.${region}.amazonaws.com`;
    const keyArn = await newKey();
    await put('via-deny', { SSEKMSKeyId: keyArn });
    await put('via-elsewhere', { SSEKMSKeyId: keyArn });
    const root = { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: ['kms:PutKeyPolicy', 'kms:Encrypt', 'kms:GenerateDataKey'], Resource: '*' };
    const blob = (await srv.kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('wire') }))).CiphertextBlob!;

    const deny = { Sid: 'no-s3', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:ViaService': via } } };
    const allowAll = { Sid: 'decrypt', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:Decrypt', Resource: '*' };
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [root, allowAll, deny] }) }));
    await refused('via-deny', 'AccessDenied', 403);
    assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'wire', 'the wire has no kms:ViaService');

    const onlyElsewhere = { ...allowAll, Condition: { StringEquals: { 'kms:ViaService': 's3.eu-north-9.amazonaws.com' } } };
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [root, onlyElsewhere] }) }));
    await refused('via-elsewhere', 'AccessDenied', 403);

    const onlyHere = { ...allowAll, Condition: { StringEquals: { 'kms:ViaService': via } } };
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [root, onlyHere] }) }));
    await readsFromSlab('via-elsewhere');
    assert.equal((await refusal(srv.kms.send(new DecryptCommand({ CiphertextBlob: blob })))).name, 'AccessDeniedException', 'the wire is not this S3');
  });

  it('an identity Deny of kms:Decrypt added after the PUT refuses; a caller with s3:GetObject and no kms:Decrypt is refused with AWS\'s message', async () => {
    const keyArn = await newKey(keyPolicyWith(account));
    const user = await users.create(`t-denied-${randomBytes(3).toString('hex')}`, { s3: [s3On(bucket)], kms: [kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], keyArn)] });
    await put('identity-deny', { SSEKMSKeyId: keyArn }, user.s3);
    await user.put('deny', { Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' });
    await assertKmsDenied(get('identity-deny', user.s3), user.arn, 'kms:Decrypt', keyArn, `with an explicit deny in an identity-based policy`);
    await user.remove('deny');
    await readsFromSlab('identity-deny', user.s3);

    const s3Only = await users.create(`t-s3only-${randomBytes(3).toString('hex')}`, { s3: [s3On(bucket)] });
    await put('s3-only', { SSEKMSKeyId: keyArn });
    await assertKmsDenied(get('s3-only', s3Only.s3), s3Only.arn, 'kms:Decrypt', keyArn);
  });

  it('a role session whose session policy allows kms:GenerateDataKey and not kms:Decrypt: its own PUT seeds the memos, its first GET is refused', async () => {
    const keyArn = await newKey(keyPolicyWith(account));
    const iam = iamClient(srv);
    const assumer = await users.create(`t-assumer-${randomBytes(3).toString('hex')}`);
    const RoleName = `Review5Role${randomBytes(3).toString('hex')}`;
    const roleArn = `arn:aws:iam::${account}:role/${RoleName}`;
    await iam.send(new CreateRoleCommand({ RoleName, AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: assumer.arn }, Action: 'sts:AssumeRole' }]) }));
    await iam.send(new PutRolePolicyCommand({ RoleName, PolicyName: 'all', PolicyDocument: policy([s3On(bucket), kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], keyArn)]) }));
    await assumer.put('assume', { Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn });
    const sts = stsClient(srv, assumer.credentials);
    const session = async (Policy: string) => {
      const c = (await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'review5', Policy }))).Credentials!;
      return srv.client({ credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! }, maxAttempts: 1 });
    };
    const narrowed = await session(policy([s3On(bucket), kmsOn(['kms:GenerateDataKey'], keyArn)]));
    const full = await session(policy([s3On(bucket), kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], keyArn)]));
    try {
      await put('session', { SSEKMSKeyId: keyArn }, narrowed);
      const e = await refusal(get('session', narrowed));
      assert.deepEqual([e.name, e.$metadata.httpStatusCode], ['AccessDenied', 403]);
      assert.match(e.message, /kms:Decrypt/);
      await readsFromSlab('session', full);
    } finally {
      narrowed.destroy();
      full.destroy();
      sts.destroy();
    }
  });

  it('imported material deleted (PendingImport) refuses the first GET; the same material imported again serves', async () => {
    const KeyId = (await srv.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
    const material = randomBytes(32);
    const importIt = async () => {
      const p = await srv.kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const pub = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
      const EncryptedKeyMaterial = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
      await srv.kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    };
    await importIt();
    await put('pending-import', { SSEKMSKeyId: KeyId });
    await srv.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId }));
    assert.equal((await srv.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!.KeyState, 'PendingImport');
    await refused('pending-import', 'KMS.KMSInvalidStateException', 400);
    await importIt();
    assert.ok((await get('pending-import')).body.equals(body), 'the same material again: the object reads');
  });

  it('after a rotation the object reads under its material version (from the slab); an alias moved after the PUT changes nothing', async () => {
    const keyArn = await newKey();
    await put('rotated', { SSEKMSKeyId: keyArn });
    await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: keyArn }));
    await readsFromSlab('rotated');
    await put('rotated-v2', { SSEKMSKeyId: keyArn });
    await readsFromSlab('rotated-v2');

    const other = await newKey();
    const alias = `alias/t-${randomBytes(4).toString('hex')}`;
    await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyArn }));
    await put('by-alias', { SSEKMSKeyId: alias });
    await srv.kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: other }));
    const r = await get('by-alias');
    assert.ok(r.body.equals(body));
    assert.equal(r.keyId, keyArn, 'the object names the key it was sealed under');
    const [event] = await kmsEventsOf(srv, r.requestId);
    assert.equal(event!.eventName, 'Decrypt');
    assert.deepEqual((event!.resources as { ARN: string }[]).map((x) => x.ARN), [keyArn]);
  });
});
