// A hostile review of the S3 Bucket Key cache (src/s3/sse/bucket-keys.ts), through
// @aws-sdk/client-s3 and client-kms against the real server. A cache hit stands in for a
// KMS call, so it must be decided exactly as that call: the key the request names resolved
// now (an alias moved or deleted since the bucket key was cached), the same request
// context (kms:EncryptionAlgorithm, which Decrypt sets), and the same encryption context
// the wrapped bucket key was sealed under. Each probe compares a warm cache's answer with
// the answer of the uncached call (a cold cache entry: another bucket, or the first read).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateAliasCommand, CreateKeyCommand, DeleteAliasCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, UpdateAliasCommand,
} from '@aws-sdk/client-kms';
import { randomBytes } from 'node:crypto';
import { importKeyMaterial } from '../helpers/import-material.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertKmsDenied, keyPolicyWith, kmsOn, refusal, s3On, userFactory } from '../helpers/sse-principals.js';
import { withMetadataDb } from '../helpers/sse.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/crypto/index.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let acct: string;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function newKey(policy?: string): Promise<string> {
  return (await srv.kms.send(new CreateKeyCommand(policy ? { Policy: policy } : {}))).KeyMetadata!.Arn!;
}

async function newBucket(name: string): Promise<string> {
  const b = uniqueBucket(name);
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

function putBk(s3: S3Client, bucket: string, key: string, keyId: string, extra: { SSEKMSEncryptionContext?: string } = {}) {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, BucketKeyEnabled: true, ...extra }));
}

async function getText(s3: S3Client, bucket: string, key: string): Promise<string> {
  return (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
}

test('a PUT naming an alias resolves it now: after UpdateAlias the cached bucket key of the old target is not used, after DeleteAlias the PUT fails as an uncached one does', async () => {
  const k1 = await newKey();
  const k2 = await newKey();
  const alias = `alias/cache-review-${Date.now()}`;
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: k1 }));
  const warm = await newBucket('bk-alias-warm');
  const first = await putBk(srv.s3, warm, 'a-1', alias);
  assert.equal(first.SSEKMSKeyId, k1);
  assert.equal((await putBk(srv.s3, warm, 'a-2', alias)).SSEKMSKeyId, k1, 'the second PUT reuses the bucket key (same key)');

  await srv.kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: k2 }));
  const cold = await newBucket('bk-alias-cold');
  assert.equal((await putBk(srv.s3, cold, 'c-1', alias)).SSEKMSKeyId, k2, 'uncached: the alias names k2 now');
  const again = await putBk(srv.s3, warm, 'a-3', alias);
  assert.equal(again.SSEKMSKeyId, k2, 'a warm bucket key of k1 must not answer for an alias that now names k2');
  assert.equal(await getText(srv.s3, warm, 'a-3'), 'body of a-3');

  await srv.kms.send(new DeleteAliasCommand({ AliasName: alias }));
  const uncached = await refusal(putBk(srv.s3, await newBucket('bk-alias-gone'), 'g-1', alias));
  const cached = await refusal(putBk(srv.s3, warm, 'a-4', alias));
  assert.equal(uncached.name, 'KMS.NotFoundException', uncached.message);
  assert.deepEqual([cached.name, cached.$metadata.httpStatusCode, cached.message], [uncached.name, uncached.$metadata.httpStatusCode, uncached.message.replace('bk-alias-gone', 'bk-alias-warm')]);
});

test('a cached bucket key is decided with Decrypt\'s request context: a key-policy Deny on kms:EncryptionAlgorithm refuses the warm GET as it refuses the cold one', async () => {
  const b = await newBucket('bk-alg');
  const u = await users.create(`bk-alg-${Date.now()}`, { s3: [s3On(b)] });
  const key = await newKey(keyPolicyWith(acct, {
    Sid: 'NoSymmetricDecryptForU', Effect: 'Deny', Principal: { AWS: u.arn }, Action: 'kms:Decrypt', Resource: '*',
    Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' } },
  }));
  await u.put('kms', kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], key));
  // Cold: an object without a bucket key, whose every GET is a KMS Decrypt (no cache stands in).
  const other = await newBucket('bk-alg-cold');
  await u.put('s3-other', s3On(other));
  await srv.s3.send(new PutObjectCommand({ Bucket: other, Key: 'cold', Body: 'cold', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: other, Key: 'cold' })), u.arn, 'kms:Decrypt', key, 'with an explicit deny in a resource-based policy');

  // Warm: the root writes and reads, so the bucket key is cached for reading.
  await putBk(srv.s3, b, 'warm', key);
  assert.equal(await getText(srv.s3, b, 'warm'), 'body of warm');
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'warm' })), u.arn, 'kms:Decrypt', key, 'with an explicit deny in a resource-based policy');
});

test('a cached bucket key answers only for the encryption context it was sealed under: an envelope whose context was changed in the metadata database fails as the uncached Decrypt does', async () => {
  const b = await newBucket('bk-ctx');
  const key = await newKey();
  const ctx = (dept: string) => Buffer.from(JSON.stringify({ dept })).toString('base64');
  await putBk(srv.s3, b, 'dept-a', key, { SSEKMSEncryptionContext: ctx('a') });
  assert.equal(await getText(srv.s3, b, 'dept-a'), 'body of dept-a', 'warm: the bucket key of {dept: a} is cached for reading');
  // The stored envelope is moved onto another context (its bucket-key blob unchanged).
  const sysOf = () => withMetadataDb(srv.dataDir, (db) => JSON.parse((db.prepare('SELECT sys FROM objects WHERE bucket = ? AND key = ?').get(b, 'dept-a') as { sys: string }).sys));
  const sys = sysOf();
  const env = decodeEnvelope(Buffer.from(sys.sse.env, 'base64'));
  assert.equal(env.kind, 'sse-kms-bucket-key');
  assert.equal(env.context.dept, 'a');
  sys.sse.env = encodeEnvelope({ ...env, context: { ...env.context, dept: 'b' } }).toString('base64');
  withMetadataDb(srv.dataDir, (db) => assert.equal(db.prepare('UPDATE objects SET sys = ? WHERE bucket = ? AND key = ?').run(JSON.stringify(sys), b, 'dept-a').changes, 1));

  // Uncached, KMS refuses to open the blob under {dept: b}; the cache must not answer instead.
  const e = await refusal(srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'dept-a' })));
  assert.equal(e.name, 'KMS.InvalidCiphertextException', `${e.name}: ${e.message}`);
  assert.equal(e.$metadata.httpStatusCode, 400);
});

test('imported material deleted after the bucket key was cached: the warm GET and PUT fail as uncached ones (KMS.KMSInvalidStateException, pending import); the same material again serves', async () => {
  const b = await newBucket('bk-import');
  const KeyId = (await srv.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.Arn!;
  const material = randomBytes(32);
  const importIt = () => importKeyMaterial(srv.kms, KeyId, material);
  await importIt();
  await putBk(srv.s3, b, 'imp', KeyId);
  assert.equal(await getText(srv.s3, b, 'imp'), 'body of imp');
  await putBk(srv.s3, b, 'imp-2', KeyId);
  await srv.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId }));
  assert.equal((await srv.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!.KeyState, 'PendingImport');
  const want = ['KMS.KMSInvalidStateException', 400, `${KeyId} is pending import.`];
  const got = async (p: Promise<unknown>) => { const e = await refusal(p); return [e.name, e.$metadata.httpStatusCode, e.message]; };
  assert.deepEqual(await got(srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'imp' }))), want);
  assert.deepEqual(await got(putBk(srv.s3, b, 'imp-3', KeyId)), want);
  await importIt();
  assert.equal(await getText(srv.s3, b, 'imp'), 'body of imp');
});
