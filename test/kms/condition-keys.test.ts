// KMS condition keys operation by operation, against AWS's condition-key reference (AWS KMS
// Developer Guide, "AWS KMS condition keys"): each test is a policy AWS documents, or one
// its semantics decide, and each failed on main because Coffer presented no value where AWS
// has one (an Allow on it refused, a Deny with a negated operator refused, a Bool Deny let
// through) or a value where AWS has none (a Null condition refused):
// - kms:MultiRegion is false on every (single-Region) key and on CreateKey; the deprecated
//   kms:CustomerMasterKeySpec and kms:CustomerMasterKeyUsage still name the spec and usage;
// - kms:RequestAlias: the alias the request named the key by (cryptographic operations,
//   DescribeKey, GetPublicKey; S3's SSE-KMS calls and bucket-key checks through the port);
//   kms:ResourceAliases: every alias of the key;
// - aws:ResourceTag/<key>: the key's tags; aws:RequestTag/<key> and aws:TagKeys on CreateKey
//   and the kms:TagResource its Tags need;
// - kms:EncryptionContext:<key> and kms:EncryptionContextKeys on CreateGrant: its constraint's;
// - kms:GrantIsForAWSResource on ListGrants and RevokeGrant too;
// - kms:ExpirationModel and kms:BypassPolicyLockoutSafetyCheck only when the request has them
//   (AWS's Null examples).
// Driven through @aws-sdk/client-kms against the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DecryptCommand, DeleteAliasCommand, DescribeKeyCommand, EncryptCommand,
  GenerateDataKeyCommand, GenerateDataKeyPairWithoutPlaintextCommand, GenerateMacCommand, GetParametersForImportCommand, GetPublicKeyCommand, ImportKeyMaterialCommand, ListGrantsCommand,
  PutKeyPolicyCommand, ReEncryptCommand, RevokeGrantCommand, SignCommand, TagResourceCommand, UntagResourceCommand,
} from '@aws-sdk/client-kms';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertKmsDenied, keyPolicyWith, refusal, s3On, userFactory, type TestUser } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let acct: string;
let n = 0;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

const unique = (name: string) => `${name}-${Date.now()}-${n++}`;

async function user(name: string, ...statements: object[]): Promise<TestUser> {
  const u = await users.create(unique(name));
  if (statements.length) await u.put('kms', ...statements);
  return u;
}

/** A key made by the root; `extra` are key-policy statements after the root delegation, for the user `arn`. */
async function rootKey(input: Record<string, unknown> = {}, ...extra: object[]): Promise<string> {
  const Policy = extra.length ? keyPolicyWith(acct, ...extra) : undefined;
  return (await srv.kms.send(new CreateKeyCommand({ Policy, ...input }))).KeyMetadata!.Arn!;
}

/** AccessDeniedException (400) for `action`. */
async function denied(p: Promise<unknown>, action: string): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.name, 'AccessDeniedException', e.message);
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.match(e.message, new RegExp(`is not authorized to perform: ${action}( |$)`));
}

test('kms:MultiRegion is false on CreateKey and every key; kms:CustomerMasterKeySpec and kms:CustomerMasterKeyUsage name the key', async () => {
  const u = await user('single-region',
    { Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*', Condition: { Bool: { 'kms:MultiRegion': false } } },
    {
      Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:Encrypt'], Resource: `arn:aws:kms:*:${acct}:key/*`,
      Condition: { Bool: { 'kms:MultiRegion': 'false' }, StringEquals: { 'kms:CustomerMasterKeySpec': 'SYMMETRIC_DEFAULT', 'kms:CustomerMasterKeyUsage': 'ENCRYPT_DECRYPT' } },
    },
  );
  const key = (await u.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  assert.equal((await u.kms.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata!.MultiRegion, false);
  await u.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('one region') }));
  // The deprecated names are the key's: an HMAC key is neither SYMMETRIC_DEFAULT nor ENCRYPT_DECRYPT.
  const hmac = await rootKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
  await denied(u.kms.send(new DescribeKeyCommand({ KeyId: hmac })), 'kms:DescribeKey');
});

test('kms:RequestAlias is the alias name the request used, for the cryptographic operations, DescribeKey and GetPublicKey', async () => {
  const alias = `alias/finance-${unique('k')}`;
  const signAlias = `${alias}-sign`;
  const macAlias = `${alias}-mac`;
  const u = await user('request-alias');
  const statement = {
    Sid: 'Key policy using a request alias condition', Effect: 'Allow', Principal: { AWS: u.arn },
    Action: ['kms:GenerateDataKey*', 'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:DescribeKey', 'kms:Sign', 'kms:GetPublicKey', 'kms:GenerateMac'], Resource: '*',
    Condition: { StringEquals: { 'kms:RequestAlias': [alias, signAlias, macAlias] } },
  };
  const key = await rootKey({}, statement);
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key }));
  const aliasArn = `arn:aws:kms:${srv.coffer.kms.region}:${acct}:${alias}`;

  for (const KeyId of [alias, aliasArn]) {
    assert.equal((await u.kms.send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256' }))).KeyId, key);
    assert.equal((await u.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!.Arn, key);
  }
  // Another identifier of the same key does not satisfy the condition.
  await denied(u.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), 'kms:GenerateDataKey');
  await denied(u.kms.send(new DescribeKeyCommand({ KeyId: key.split('/')[1] })), 'kms:DescribeKey');
  await u.kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: alias, KeyPairSpec: 'ECC_NIST_P256' }));
  await denied(u.kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: key, KeyPairSpec: 'ECC_NIST_P256' })), 'kms:GenerateDataKeyPairWithoutPlaintext');

  const blob = (await u.kms.send(new EncryptCommand({ KeyId: alias, Plaintext: Buffer.from('aliased') }))).CiphertextBlob!;
  assert.equal(Buffer.from((await u.kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: alias }))).Plaintext!).toString(), 'aliased');
  await denied(u.kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'kms:Decrypt');
  // ReEncrypt: kms:ReEncryptFrom is asked with the source's identifier, kms:ReEncryptTo with the destination's.
  await u.kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: alias, DestinationKeyId: aliasArn }));
  await denied(u.kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: alias })), 'kms:ReEncryptFrom');
  await denied(u.kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: alias, DestinationKeyId: key })), 'kms:ReEncryptTo');

  const signer = await rootKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }, statement);
  await srv.kms.send(new CreateAliasCommand({ AliasName: signAlias, TargetKeyId: signer }));
  await u.kms.send(new SignCommand({ KeyId: signAlias, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' }));
  await u.kms.send(new GetPublicKeyCommand({ KeyId: signAlias }));
  await denied(u.kms.send(new GetPublicKeyCommand({ KeyId: signer })), 'kms:GetPublicKey');
  const mac = await rootKey({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }, statement);
  await srv.kms.send(new CreateAliasCommand({ AliasName: macAlias, TargetKeyId: mac }));
  await u.kms.send(new GenerateMacCommand({ KeyId: macAlias, Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' }));
  await denied(u.kms.send(new GenerateMacCommand({ KeyId: mac, Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' })), 'kms:GenerateMac');
});

test("SSE-KMS under an alias presents it to S3's GenerateDataKey, and to the bucket-key check standing in for the call", async () => {
  const alias = `alias/s3-${unique('k')}`;
  const bucket = uniqueBucket('request-alias');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const u = await users.create(unique('s3-alias'), { s3: [s3On(bucket)] });
  const key = await rootKey({}, {
    Effect: 'Allow', Principal: { AWS: u.arn }, Action: 'kms:GenerateDataKey', Resource: '*', Condition: { StringEquals: { 'kms:RequestAlias': alias } },
  });
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key }));
  for (const Key of ['first', 'bucket-key-hit']) {
    await u.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: alias, BucketKeyEnabled: true }));
  }
  await assertKmsDenied(
    u.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'by-arn', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: true })),
    u.arn, 'kms:GenerateDataKey', key,
  );
});

test('kms:ResourceAliases is every alias of the key, however the request names it', async () => {
  const alias = `alias/team-${unique('k')}`;
  const u = await user('resource-aliases', {
    Sid: 'AliasBasedIAMPolicy', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:DescribeKey'], Resource: `arn:aws:kms:*:${acct}:key/*`,
    Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias } },
  });
  const key = await rootKey();
  await denied(u.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), 'kms:GenerateDataKey');
  await srv.kms.send(new CreateAliasCommand({ AliasName: `${alias}-other`, TargetKeyId: key }));
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key }));
  await u.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' }));
  await u.kms.send(new DescribeKeyCommand({ KeyId: key.split('/')[1] }));
  await srv.kms.send(new DeleteAliasCommand({ AliasName: alias }));
  await denied(u.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), 'kms:GenerateDataKey');
});

test('aws:ResourceTag/<key> is the key\'s tag in an IAM policy, and changes with it', async () => {
  const u = await user('resource-tag', {
    Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: `arn:aws:kms:*:${acct}:key/*`,
    Condition: { StringEquals: { 'aws:ResourceTag/Project': 'Alpha' } },
  });
  const key = await rootKey({ Tags: [{ TagKey: 'Project', TagValue: 'Alpha' }] });
  const blob = (await u.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('tagged') }))).CiphertextBlob!;
  await u.kms.send(new DecryptCommand({ CiphertextBlob: blob }));
  await srv.kms.send(new TagResourceCommand({ KeyId: key, Tags: [{ TagKey: 'Project', TagValue: 'Beta' }] }));
  await denied(u.kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'kms:Decrypt');
  await srv.kms.send(new UntagResourceCommand({ KeyId: key, TagKeys: ['Project'] }));
  await denied(u.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('x') })), 'kms:Encrypt');
  await srv.kms.send(new TagResourceCommand({ KeyId: key, Tags: [{ TagKey: 'Project', TagValue: 'Alpha' }] }));
  await u.kms.send(new DecryptCommand({ CiphertextBlob: blob }));
});

test('CreateKey and the kms:TagResource its Tags need see aws:RequestTag/<key> and aws:TagKeys', async () => {
  const u = await user('request-tag',
    { Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*', Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['Project'] } } },
    { Effect: 'Allow', Action: 'kms:TagResource', Resource: '*', Condition: { StringEquals: { 'aws:RequestTag/Project': 'Alpha' } } },
  );
  await u.kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'Project', TagValue: 'Alpha' }] }));
  await denied(u.kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'Project', TagValue: 'Beta' }] })), 'kms:TagResource');
  await denied(u.kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'Project', TagValue: 'Alpha' }, { TagKey: 'Owner', TagValue: 'x' }] })), 'kms:CreateKey');
});

test("CreateGrant presents its constraint's encryption context as kms:EncryptionContext:<key> and kms:EncryptionContextKeys", async () => {
  const u = await user('grant-context');
  const key = await rootKey({}, {
    Effect: 'Allow', Principal: { AWS: u.arn }, Action: 'kms:CreateGrant', Resource: '*',
    Condition: { StringEquals: { 'kms:EncryptionContext:AppName': 'ExampleApp' }, 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName'] } },
  });
  const grant = (c: Record<string, Record<string, string>> | undefined) =>
    u.kms.send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: u.arn, Operations: ['Decrypt'], Constraints: c }));
  await grant({ EncryptionContextEquals: { AppName: 'ExampleApp' } });
  await grant({ EncryptionContextSubset: { AppName: 'ExampleApp' } });
  await denied(grant({ EncryptionContextSubset: { AppName: 'Other' } }), 'kms:CreateGrant');
  await denied(grant({ EncryptionContextSubset: { AppName: 'ExampleApp', Stage: 'x' } }), 'kms:CreateGrant');
  await denied(grant(undefined), 'kms:CreateGrant');
});

test('kms:GrantIsForAWSResource is false on a direct ListGrants and RevokeGrant', async () => {
  const u = await user('grant-direct', { Effect: 'Allow', Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'], Resource: '*' });
  const key = await rootKey({}, {
    Sid: 'Grants only through an AWS service', Effect: 'Deny', Principal: { AWS: u.arn }, Action: ['kms:ListGrants', 'kms:RevokeGrant'], Resource: '*',
    Condition: { Bool: { 'kms:GrantIsForAWSResource': false } },
  });
  const { GrantId } = await u.kms.send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: u.arn, Operations: ['Decrypt'] }));
  await denied(u.kms.send(new ListGrantsCommand({ KeyId: key })), 'kms:ListGrants');
  await denied(u.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId })), 'kms:RevokeGrant');
  // The root, whom the statement does not name, still can.
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key }))).Grants!.length, 1);
});

test("kms:ExpirationModel and kms:BypassPolicyLockoutSafetyCheck are absent when the request omits them (AWS's Null examples)", async () => {
  const u = await user('null-params');
  const statements = [
    { Effect: 'Allow', Principal: { AWS: u.arn }, Action: 'kms:GetParametersForImport', Resource: '*' },
    { Effect: 'Allow', Principal: { AWS: u.arn }, Action: 'kms:ImportKeyMaterial', Resource: '*', Condition: { Null: { 'kms:ExpirationModel': true } } },
    { Effect: 'Allow', Principal: { AWS: u.arn }, Action: 'kms:PutKeyPolicy', Resource: '*', Condition: { Null: { 'kms:BypassPolicyLockoutSafetyCheck': true } } },
  ];
  const key = await rootKey({ Origin: 'EXTERNAL' }, ...statements);
  const material = randomBytes(32);
  const importWith = async (extra: { ExpirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE' }) => {
    const p = await u.kms.send(new GetParametersForImportCommand({ KeyId: key, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
    const pub = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
    const EncryptedKeyMaterial = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
    return u.kms.send(new ImportKeyMaterialCommand({ KeyId: key, ImportToken: p.ImportToken, EncryptedKeyMaterial, ValidTo: new Date(Date.now() + 86_400_000), ...extra }));
  };
  await denied(importWith({ ExpirationModel: 'KEY_MATERIAL_EXPIRES' }), 'kms:ImportKeyMaterial');
  await importWith({});

  const Policy = keyPolicyWith(acct, ...statements);
  await u.kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy }));
  await denied(u.kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy, BypassPolicyLockoutSafetyCheck: false })), 'kms:PutKeyPolicy');
});
