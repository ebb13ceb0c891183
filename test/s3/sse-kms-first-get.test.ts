// The first GET of a new SSE-KMS or DSSE-KMS object (src/s3/sse/kms-envelope-memo.ts, and the
// data key KMS remembers at S3's GenerateDataKey, src/kms/opened-ciphertexts.ts): the PUT
// remembers the decoded envelope (nothing secret) and KMS the blob's data key, so the GET
// after it decodes nothing and runs no KMS cryptography — but still every decision of
// Decrypt, as the caller, with the same durable audit event:
// - the memo answers exactly what its envelope string decodes to, for that string only;
// - on the very first GET: a disabled key, a key policy without kms:Decrypt, a key pending
//   deletion, a revoked grant, a removed identity policy and deleted imported material are
//   refused; a record moved onto another key is refused as damaged; a changed byte fails as
//   it does without the memos;
// - the Decrypt event of a GET answered from the memos equals one that opened the blob;
// - bucket-key envelopes are not remembered here (their own cache), and read as before.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateGrantCommand, CreateKeyCommand, DeleteImportedKeyMaterialCommand, DisableKeyCommand, EnableKeyCommand, GenerateDataKeyCommand, GetParametersForImportCommand,
  ImportKeyMaterialCommand, PutKeyPolicyCommand, RevokeGrantCommand, RotateKeyOnDemandCommand, ScheduleKeyDeletionCommand, type KMSClient,
} from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { encodeEnvelope, newObjectId, type EnvelopeFields } from '../../src/crypto/index.js';
import { decodeStoredEnvelope } from '../../src/s3/sse/object-key-memo.js';
import { forgetKmsEnvelopes, kmsEnvelopesHeld, MAX_ENTRIES, rememberedKmsEnvelope, rememberKmsEnvelope } from '../../src/s3/sse/kms-envelope-memo.js';
import { openedCiphertextsOf } from '../../src/kms/ops/crypto.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { withMetadataDb } from '../helpers/sse.js';
import { auditEvents, keyPolicyWith, kmsOn, policyDoc, refusal, s3On, userFactory } from '../helpers/sse-principals.js';

const ARN = 'arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function envelope(kind: EnvelopeFields['kind'], context: Record<string, string>, blobLength = 121): { env: string; fields: EnvelopeFields } {
  const fields: EnvelopeFields = { objectId: newObjectId(), kind, keyId: ARN, context, wrappedKey: randomBytes(blobLength) };
  return { env: encodeEnvelope(fields).toString('base64'), fields };
}

describe('kms-envelope-memo', () => {
  it('a write\'s envelope answers exactly what its string decodes to, as fresh copies, for that string only', () => {
    for (const kind of ['sse-kms', 'dsse-kms'] as const) {
      const { env, fields } = envelope(kind, { 'aws:s3:arn': 'arn:aws:s3:::b/k' }, kind === 'dsse-kms' ? 153 : 121);
      rememberKmsEnvelope(env, fields, false);
      const got = rememberedKmsEnvelope(env)!;
      assert.deepStrictEqual(got, decodeStoredEnvelope(env), kind);
      got.wrappedKey.fill(0);
      got.objectId.fill(0);
      (got.context as Record<string, string>)['aws:s3:arn'] = 'arn:aws:s3:::b/elsewhere';
      assert.deepStrictEqual(rememberedKmsEnvelope(env), decodeStoredEnvelope(env), 'a caller changing its answer leaves the entry');
      const bytes = Buffer.from(env, 'base64');
      bytes[bytes.length - 1]! ^= 1;
      assert.equal(rememberedKmsEnvelope(bytes.toString('base64')), undefined, 'a changed byte is another string: a miss');
    }
  });

  it('a context with more than the place is remembered only from a decode (in the decoder\'s order); no place is no place', () => {
    const { env, fields } = envelope('sse-kms', { zeta: '1', 'aws:s3:arn': 'arn:aws:s3:::b/k', alpha: '2' });
    rememberKmsEnvelope(env, fields, false);
    assert.equal(rememberedKmsEnvelope(env), undefined, 'not from the write');
    const decoded = decodeStoredEnvelope(env);
    rememberKmsEnvelope(env, decoded, true);
    const got = rememberedKmsEnvelope(env)!;
    assert.deepStrictEqual(got, decoded);
    assert.deepEqual(Object.keys(got.context), Object.keys(decoded.context), 'the same order of pairs');
    const none = envelope('sse-kms', {});
    rememberKmsEnvelope(none.env, none.fields, false);
    assert.deepStrictEqual(rememberedKmsEnvelope(none.env), decodeStoredEnvelope(none.env));
  });

  it('bucket-key, SSE-S3 and SSE-C envelopes and blobs over 160 bytes are not remembered; at most MAX_ENTRIES, the oldest leaving first', () => {
    forgetKmsEnvelopes();
    for (const kind of ['sse-kms-bucket-key', 'sse-s3', 'sse-c'] as const) {
      const { env, fields } = envelope(kind, { 'aws:s3:arn': 'arn:aws:s3:::b/k' });
      rememberKmsEnvelope(env, kind === 'sse-kms-bucket-key' ? fields : { ...fields, keyId: '' }, true);
      assert.equal(rememberedKmsEnvelope(env), undefined, kind);
    }
    const long = envelope('sse-kms', {}, 161);
    rememberKmsEnvelope(long.env, long.fields, true);
    assert.equal(kmsEnvelopesHeld(), 0);
    const first = envelope('sse-kms', { 'aws:s3:arn': 'arn:aws:s3:::b/first' });
    rememberKmsEnvelope(first.env, first.fields, false);
    for (let i = 0; i < MAX_ENTRIES; i++) {
      const e = envelope('sse-kms', { 'aws:s3:arn': `arn:aws:s3:::b/${i}` });
      rememberKmsEnvelope(e.env, e.fields, false);
    }
    assert.equal(kmsEnvelopesHeld(), MAX_ENTRIES);
    assert.equal(rememberedKmsEnvelope(first.env), undefined, 'the oldest left');
  });
});

describe('the first GET of a new SSE-KMS object', () => {
  let srv: TestServer;
  let users: ReturnType<typeof userFactory>;
  const bucket = uniqueBucket('kms-first-get');
  const body = randomBytes(4096);
  before(async () => {
    srv = await startTestServer();
    users = userFactory(srv);
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    // The memo is the process's: the unit tests above left it full, where a count cannot grow.
    forgetKmsEnvelopes();
  });
  after(async () => {
    users?.destroy();
    await srv?.stop();
  });

  const memo = () => openedCiphertextsOf(srv.coffer.kms);
  const newKey = async (): Promise<string> => (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const put = (key: string, extra: Partial<PutObjectCommandInput>, s3: S3Client = srv.s3) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ServerSideEncryption: 'aws:kms', ...extra }));
  async function get(key: string, s3: S3Client = srv.s3): Promise<{ body: Buffer; requestId: string }> {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { body: Buffer.from(await r.Body!.transformToByteArray()), requestId: r.$metadata.requestId! };
  }
  async function refusedWith(key: string, code: string, status: number, s3: S3Client = srv.s3): Promise<void> {
    const e = await refusal(get(key, s3));
    assert.deepEqual([e.name, e.$metadata?.httpStatusCode], [code, status], `GET ${key}`);
  }

  it('SSE-KMS and DSSE-KMS: the PUT remembers the envelope and the data key, and its first GET decodes nothing and opens no blob', async () => {
    const keyArn = await newKey();
    for (const sse of ['aws:kms', 'aws:kms:dsse'] as const) {
      const held = kmsEnvelopesHeld();
      assert.ok(held < MAX_ENTRIES, 'room for the count to grow');
      await put(`new-${sse}`, { ServerSideEncryption: sse, SSEKMSKeyId: keyArn });
      assert.equal(kmsEnvelopesHeld(), held + 1, `${sse}: the envelope remembered by the PUT`);
      const hits = memo().stats.hits;
      assert.ok((await get(`new-${sse}`)).body.equals(body));
      assert.equal(memo().stats.hits, hits + 1, `${sse}: the first GET's Decrypt answered from the data key the PUT remembered`);
    }
  });

  it('with the client\'s own encryption context: the envelope is remembered only from a decode (the PUT answer\'s own), the data key still answers from the PUT\'s', async () => {
    const keyArn = await newKey();
    const userContext = Buffer.from(JSON.stringify({ zeta: 'z', alpha: 'a' })).toString('base64');
    const held = kmsEnvelopesHeld();
    assert.ok(held < MAX_ENTRIES - 2, 'room for the count to grow');
    await put('own-context', { SSEKMSKeyId: keyArn, SSEKMSEncryptionContext: userContext });
    // Not from the encoding (its pairs come back in the decoder's order only from a decode):
    // the PUT's answer decodes its envelope for the key-id header, and that decode remembers it.
    assert.equal(kmsEnvelopesHeld(), held + 1, 'remembered once, by the decode of the PUT\'s answer');
    const hits = memo().stats.hits;
    const first = await get('own-context');
    assert.ok(first.body.equals(body));
    assert.equal(memo().stats.hits, hits + 1, 'the data key the PUT remembered answers for the decoded context');
    assert.equal(kmsEnvelopesHeld(), held + 1, 'the GET found it: nothing more remembered');
    const again = await get('own-context');
    assert.ok(again.body.equals(body));
    const events = await auditEvents(srv);
    const contextOf = (id: string) => (events.find((e) => e.requestID === id && e.eventName === 'Decrypt')!.requestParameters as { encryptionContext: unknown }).encryptionContext;
    assert.deepEqual(contextOf(again.requestId), contextOf(first.requestId), 'the same context recorded from the memo as from the decode');
    assert.deepEqual(Object.keys(contextOf(again.requestId) as object), Object.keys(contextOf(first.requestId) as object), 'in the same order');
  });

  it('the Decrypt event of a first GET (answered from the memos) is the one a GET that decoded and opened everything writes', async () => {
    const keyArn = await newKey();
    await put('audited', { SSEKMSKeyId: keyArn });
    const hits = memo().stats.hits;
    const hit = await get('audited');
    assert.equal(memo().stats.hits, hits + 1);
    forgetKmsEnvelopes();
    memo().clear();
    const misses = memo().stats.misses;
    const miss = await get('audited');
    assert.equal(memo().stats.misses, misses + 1, 'the second GET opened the blob');
    assert.ok(hit.body.equals(body) && miss.body.equals(body));
    const events = await auditEvents(srv);
    const of = (id: string) => {
      const es = events.filter((e) => e.requestID === id);
      assert.deepEqual(es.map((e) => e.eventName), ['Decrypt'], 'one Decrypt per GET');
      const { eventID, eventTime, requestID, ...rest } = es[0]!;
      assert.ok(eventID && eventTime && requestID);
      return rest;
    };
    assert.deepStrictEqual(of(hit.requestId), of(miss.requestId));
    assert.deepEqual((of(hit.requestId).requestParameters as { encryptionContext: unknown }).encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${bucket}/audited` });
  });

  it('a disabled key, a key policy without kms:Decrypt and a key pending deletion are refused on the first GET', async () => {
    const keyArn = await newKey();
    await put('disabled', { SSEKMSKeyId: keyArn });
    await put('policy', { SSEKMSKeyId: keyArn });
    await put('deletion', { SSEKMSKeyId: keyArn });
    await srv.kms.send(new DisableKeyCommand({ KeyId: keyArn }));
    await refusedWith('disabled', 'KMS.DisabledException', 400);
    await srv.kms.send(new EnableKeyCommand({ KeyId: keyArn }));
    const hits = memo().stats.hits;
    assert.ok((await get('disabled')).body.equals(body));
    assert.equal(memo().stats.hits, hits + 1, 'the data key was remembered all along: the refusal came from the key state');

    const account = srv.coffer.root.accountId;
    const only = (actions: string[]) => policyDoc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: actions, Resource: '*' });
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: only(['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:GenerateDataKey']) }));
    await refusedWith('policy', 'AccessDenied', 403);
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: only(['kms:*']) }));
    assert.ok((await get('policy')).body.equals(body));

    await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 }));
    await refusedWith('deletion', 'KMS.KMSInvalidStateException', 400);
  });

  it('a revoked grant and a removed identity policy are refused on the first GET', async () => {
    const keyArn = await newKey();
    const account = srv.coffer.root.accountId;
    // The grantee may use the bucket, and the key only through its grant.
    const grantee = await users.create(`grantee-${randomBytes(3).toString('hex')}`, { s3: [s3On(bucket)] });
    const { GrantId } = await srv.kms.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: grantee.arn, Operations: ['Decrypt', 'GenerateDataKey'] }));
    await put('granted', { SSEKMSKeyId: keyArn }, grantee.s3);
    await srv.kms.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: GrantId! }));
    await refusedWith('granted', 'AccessDenied', 403, grantee.s3);

    // A user allowed by an identity policy (the key policy delegates to IAM).
    const second = await newKey();
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: second, PolicyName: 'default', Policy: keyPolicyWith(account) }));
    const user = await users.create(`reader-${randomBytes(3).toString('hex')}`, { s3: [s3On(bucket)], kms: [kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], second)] });
    await put('identity', { SSEKMSKeyId: second }, user.s3);
    await user.remove('kms');
    await refusedWith('identity', 'AccessDenied', 403, user.s3);
    await user.put('kms', kmsOn(['kms:Decrypt'], second));
    assert.ok((await get('identity', user.s3)).body.equals(body));
  });

  it('deleted imported material is refused on the first GET, though the key stays Enabled', async () => {
    const kms: KMSClient = srv.kms;
    const KeyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
    const importInto = async (ImportType?: 'NEW_KEY_MATERIAL'): Promise<string> => {
      const p = await kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const pub = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
      const EncryptedKeyMaterial = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
      return (await kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ImportType }))).KeyMaterialId!;
    };
    const first = await importInto();
    await put('imported', { SSEKMSKeyId: KeyId });
    await importInto('NEW_KEY_MATERIAL');
    await kms.send(new RotateKeyOnDemandCommand({ KeyId }));
    await put('imported-v2', { SSEKMSKeyId: KeyId });
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId, KeyMaterialId: first }));
    await refusedWith('imported', 'KMS.KMSInvalidStateException', 400);
    assert.ok((await get('imported-v2')).body.equals(body), 'the current material still works');
  });

  it('a record moved onto another key is refused as damaged on the first GET; a changed byte fails as it does without the memos', async () => {
    const keyArn = await newKey();
    await put('moved-src', { SSEKMSKeyId: keyArn });
    await put('moved-dst', { SSEKMSKeyId: keyArn });
    const sysOf = (key: string) => withMetadataDb(srv.dataDir, (db) => (db.prepare('SELECT sys FROM objects WHERE bucket = ? AND key = ?').get(bucket, key) as { sys: string }).sys);
    const setSys = (key: string, sys: string) => withMetadataDb(srv.dataDir, (db) => assert.equal(db.prepare('UPDATE objects SET sys = ? WHERE bucket = ? AND key = ?').run(sys, bucket, key).changes, 1));
    const saved = sysOf('moved-dst');
    setSys('moved-dst', sysOf('moved-src'));
    await refusedWith('moved-dst', 'InternalError', 500);
    setSys('moved-dst', saved);
    assert.ok((await get('moved-dst')).body.equals(body));

    // One byte of the blob changed, then one of the context's place: each fails as it does
    // with nothing remembered (the changed string is a miss that decodes).
    for (const at of [-1, -140]) {
      await put('changed', { SSEKMSKeyId: keyArn });
      const sys = JSON.parse(sysOf('changed')) as { sse: { env: string } };
      const bytes = Buffer.from(sys.sse.env, 'base64');
      bytes[bytes.length + at]! ^= 1;
      sys.sse.env = bytes.toString('base64');
      setSys('changed', JSON.stringify(sys));
      const withMemos = await refusal(get('changed'));
      forgetKmsEnvelopes();
      memo().clear();
      const without = await refusal(get('changed'));
      assert.deepEqual([withMemos.name, withMemos.$metadata?.httpStatusCode], [without.name, without.$metadata?.httpStatusCode], `byte ${at}`);
      assert.ok(['InternalError', 'KMS.InvalidCiphertextException'].includes(without.name), `byte ${at}: ${without.name}`);
    }
  });

  it('bucket keys and GenerateDataKey on the wire: nothing remembered at the write; bucket keys read as before', async () => {
    const keyArn = await newKey();
    const held = kmsEnvelopesHeld();
    const size = memo().size;
    await put('bk', { SSEKMSKeyId: keyArn, BucketKeyEnabled: true });
    await srv.kms.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256' }));
    assert.equal(memo().size, size, 'no data key remembered by a bucket key\'s or a wire GenerateDataKey');
    assert.ok((await get('bk')).body.equals(body));
    assert.ok((await get('bk')).body.equals(body));
    assert.equal(kmsEnvelopesHeld(), held, 'no bucket-key envelope remembered');
  });
});
