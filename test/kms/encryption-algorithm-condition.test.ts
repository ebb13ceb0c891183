// kms:EncryptionAlgorithm on the operations that generate data keys. AWS's condition-key
// reference lists it for GenerateDataKey, GenerateDataKeyWithoutPlaintext,
// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext besides Encrypt, Decrypt and
// ReEncrypt: for them it is the algorithm that encrypts the data key, always
// SYMMETRIC_DEFAULT. Its documented policy "AllowOnlySymmetricAlgorithm" (Deny the
// cryptographic operations unless kms:EncryptionAlgorithm is SYMMETRIC_DEFAULT) therefore
// leaves them allowed; Coffer presented no value for them, so StringNotEquals matched the
// missing key and that policy refused every data key — and every SSE-KMS PUT.
// Driven through @aws-sdk/client-kms and client-s3 against the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand, GenerateDataKeyWithoutPlaintextCommand, ReEncryptCommand,
} from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertKmsDenied, keyPolicyWith, kmsDeniedMessage, kmsOn, refusal, s3On, userFactory, type TestUser } from '../helpers/sse-principals.js';

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

const CRYPTO_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'];

/** A user allowed the cryptographic operations on a key whose policy adds `statement` for that user. */
async function userAndKey(name: string, statement: (userArn: string) => object): Promise<{ u: TestUser; key: string; bucket: string }> {
  const bucket = uniqueBucket(name);
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const u = await users.create(`${name}-${Date.now()}`, { s3: [s3On(bucket)] });
  const key = (await srv.kms.send(new CreateKeyCommand({ Policy: keyPolicyWith(acct, statement(u.arn)) }))).KeyMetadata!.Arn!;
  await u.put('kms', kmsOn(CRYPTO_ACTIONS, key));
  return { u, key, bucket };
}

/** The KMS API's refusal: AccessDeniedException (400) naming the user, the action and the key. */
async function assertApiDenied(p: Promise<unknown>, userArn: string, action: string, keyArn: string, reason: string): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.name, 'AccessDeniedException', e.message);
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.match(e.message, kmsDeniedMessage(userArn, action, keyArn, reason));
}

test("AWS's AllowOnlySymmetricAlgorithm policy leaves the data-key operations and SSE-KMS allowed", async () => {
  const { u, key, bucket } = await userAndKey('only-symmetric', (arn) => ({
    Sid: 'AllowOnlySymmetricAlgorithm', Effect: 'Deny', Principal: { AWS: arn }, Action: CRYPTO_ACTIONS, Resource: '*',
    Condition: { StringNotEquals: { 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' } },
  }));
  const dk = await u.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' }));
  assert.equal(dk.Plaintext?.length, 32);
  await u.kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key, KeySpec: 'AES_128' }));
  const pair = await u.kms.send(new GenerateDataKeyPairCommand({ KeyId: key, KeyPairSpec: 'ECC_NIST_P256' }));
  assert.ok(pair.PrivateKeyCiphertextBlob && pair.PublicKey);
  await u.kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: key, KeyPairSpec: 'ECC_NIST_P256' }));
  const blob = (await u.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('symmetric only') }))).CiphertextBlob!;
  const again = (await u.kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: key }))).CiphertextBlob!;
  assert.equal(Buffer.from((await u.kms.send(new DecryptCommand({ CiphertextBlob: again }))).Plaintext!).toString(), 'symmetric only');

  // S3's data path asks KMS for a data key on PUT and opens it on GET, bucket key or not.
  for (const BucketKeyEnabled of [false, true]) {
    const Key = `obj-bk-${BucketKeyEnabled}`;
    await u.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'sealed', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled }));
    const got = await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    assert.equal(await got.Body!.transformToString(), 'sealed');
  }
});

test('a Deny on kms:EncryptionAlgorithm SYMMETRIC_DEFAULT refuses the data-key operations, and the SSE-KMS PUT through them', async () => {
  const { u, key, bucket } = await userAndKey('no-symmetric-data-keys', (arn) => ({
    Sid: 'NoSymmetricDataKeys', Effect: 'Deny', Principal: { AWS: arn }, Action: 'kms:GenerateDataKey*', Resource: '*',
    Condition: { StringEquals: { 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' } },
  }));
  const explicit = 'with an explicit deny in a resource-based policy';
  await assertApiDenied(u.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), u.arn, 'kms:GenerateDataKey', key, explicit);
  await assertApiDenied(u.kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key, KeySpec: 'AES_256' })), u.arn, 'kms:GenerateDataKeyWithoutPlaintext', key, explicit);
  await assertApiDenied(u.kms.send(new GenerateDataKeyPairCommand({ KeyId: key, KeyPairSpec: 'RSA_2048' })), u.arn, 'kms:GenerateDataKeyPair', key, explicit);
  await assertApiDenied(u.kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: key, KeyPairSpec: 'RSA_2048' })), u.arn, 'kms:GenerateDataKeyPairWithoutPlaintext', key, explicit);
  // The root's PUT first warms the bucket key, which must then not stand in for the refused call.
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: true }));
  for (const BucketKeyEnabled of [false, true]) {
    await assertKmsDenied(
      u.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `refused-${BucketKeyEnabled}`, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled })),
      u.arn, 'kms:GenerateDataKey', key, explicit,
    );
  }
  // The statement names only the data-key operations: Encrypt and Decrypt stay allowed.
  const blob = (await u.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('p') }))).CiphertextBlob!;
  assert.equal(Buffer.from((await u.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'p');
});
