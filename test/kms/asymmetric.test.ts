// Asymmetric and HMAC KMS keys against the real server with the AWS SDK: CreateKey for
// every spec Coffer makes (and AWS's refusals of combinations), DescribeKey's algorithm
// lists, Sign/Verify for every algorithm with RAW and DIGEST messages, GetPublicKey (the
// signatures verify offline with Node's crypto and with the openssl command line), RSA
// OAEP Encrypt/Decrypt (openssl-encrypted data decrypts through Coffer), GenerateMac/VerifyMac,
// data key pairs, key policies, the audit log, and SSE-KMS refusing an asymmetric key.
// Messages are AWS's (reference/aws-recordings/kms.json).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { constants, createHash, createPrivateKey, createPublicKey, publicEncrypt, randomBytes, verify as nodeVerify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand, EnableKeyRotationCommand, GenerateDataKeyCommand,
  GenerateDataKeyPairCommand, GenerateDataKeyPairWithoutPlaintextCommand, GenerateMacCommand, GetPublicKeyCommand, PutKeyPolicyCommand,
  ReEncryptCommand, ReplicateKeyCommand, RotateKeyOnDemandCommand, SignCommand, VerifyCommand, VerifyMacCommand, type KeySpec, type KeyUsageType,
  type KMSClient, type MacAlgorithmSpec, type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { rawKms } from './harness.js';

let srv: TestServer;
let kms: KMSClient;
let work: string;
const keys = new Map<string, string>();

async function newKey(KeySpec: KeySpec, KeyUsage: KeyUsageType): Promise<string> {
  const r = await kms.send(new CreateKeyCommand({ KeySpec, KeyUsage, Description: `${KeySpec} ${KeyUsage}` }));
  return r.KeyMetadata!.KeyId!;
}

/** One key per (spec, usage), made once. */
async function keyFor(spec: KeySpec, usage: KeyUsageType): Promise<string> {
  const k = `${spec}/${usage}`;
  if (!keys.has(k)) keys.set(k, await newKey(spec, usage));
  return keys.get(k)!;
}

async function rejects(p: Promise<unknown>, code: string, message?: string | RegExp): Promise<void> {
  // An empty wire message reaches SDK users as 'UnknownError' (rawKms pins the wire).
  await assertFails(p, 400, code, message === '' ? 'UnknownError' : message);
}

before(async () => {
  srv = await startTestServer();
  kms = srv.kms;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-asym-'));
});
after(async () => {
  await srv?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const SIGNING: Record<string, SigningAlgorithmSpec[]> = {
  RSA_2048: ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512', 'RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512'],
  ECC_NIST_P256: ['ECDSA_SHA_256'],
  ECC_NIST_P384: ['ECDSA_SHA_384'],
  ECC_NIST_P521: ['ECDSA_SHA_512'],
  ECC_SECG_P256K1: ['ECDSA_SHA_256'],
};
const HASH = (alg: string) => (alg.endsWith('256') ? 'sha256' : alg.endsWith('384') ? 'sha384' : 'sha512');
const DIGEST_LENGTH = (alg: string) => ({ sha256: 32, sha384: 48, sha512: 64 })[HASH(alg)];

describe('CreateKey and DescribeKey for non-symmetric specs', () => {
  it('creates every RSA, ECC and HMAC spec with AWS metadata: algorithms per usage, no CurrentKeyMaterialId', async () => {
    const cases: [KeySpec, KeyUsageType, Record<string, string[]>][] = [
      ['RSA_2048', 'SIGN_VERIFY', { SigningAlgorithms: SIGNING.RSA_2048! }],
      ['RSA_3072', 'ENCRYPT_DECRYPT', { EncryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] }],
      ['RSA_4096', 'SIGN_VERIFY', { SigningAlgorithms: SIGNING.RSA_2048! }],
      ['ECC_NIST_P256', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_256'] }],
      ['ECC_NIST_P384', 'KEY_AGREEMENT', { KeyAgreementAlgorithms: ['ECDH'] }],
      ['ECC_NIST_P521', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_512'] }],
      ['ECC_SECG_P256K1', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_256'] }],
      ['HMAC_224', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_224'] }],
      ['HMAC_256', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_256'] }],
      ['HMAC_384', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_384'] }],
      ['HMAC_512', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_512'] }],
    ];
    for (const [spec, usage, algorithms] of cases) {
      const id = await keyFor(spec, usage);
      const md = (await kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
      assert.equal(md.KeySpec, spec);
      assert.equal(md.CustomerMasterKeySpec, spec);
      assert.equal(md.KeyUsage, usage);
      assert.equal(md.CurrentKeyMaterialId, undefined, spec);
      for (const m of ['EncryptionAlgorithms', 'SigningAlgorithms', 'MacAlgorithms', 'KeyAgreementAlgorithms'] as const) {
        assert.deepEqual(md[m], algorithms[m], `${spec} ${m}`);
      }
    }
  });

  it('keeps the private key sealed: the store holds a v2 record that does not contain the key', async () => {
    const id = await keyFor('ECC_NIST_P256', 'SIGN_VERIFY');
    const rec = await srv.coffer.kms.store.getMaterial(id, 1);
    assert.equal(rec!.sealed[0], 0x02);
    assert.equal(rec!.sealed[41], 0x02, 'kind: private key');
    const pub = (await kms.send(new GetPublicKeyCommand({ KeyId: id }))).PublicKey!;
    const jwk = createPublicKey({ key: Buffer.from(pub), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    assert.ok(!rec!.sealed.includes(Buffer.from(jwk.x!, 'base64url')), 'public point is not in the clear either');
  });

  it('refuses incompatible KeySpec and KeyUsage combinations, and the specs Coffer does not make', async () => {
    for (const [KeySpec, KeyUsage] of [['HMAC_256', 'SIGN_VERIFY'], ['RSA_2048', 'GENERATE_VERIFY_MAC'], ['ECC_SECG_P256K1', 'ENCRYPT_DECRYPT'], ['RSA_2048', 'KEY_AGREEMENT'], ['ECC_NIST_P256', 'ENCRYPT_DECRYPT']] as const) {
      await rejects(kms.send(new CreateKeyCommand({ KeySpec, KeyUsage })), 'ValidationException', `KeyUsage ${KeyUsage} is not compatible with KeySpec ${KeySpec}`);
    }
    await rejects(kms.send(new CreateKeyCommand({ KeyUsage: 'SIGN_VERIFY' })), 'ValidationException', 'KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT');
    // ML-DSA where the runtime lacks it, and Ed25519: eddsa-mldsa.test.ts.
    await rejects(kms.send(new CreateKeyCommand({ KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' })), 'UnsupportedOperationException', "KeySpec SM2 (SM2 keys are offered in AWS China Regions only) is not supported by Coffer's KMS.");
    await rejects(kms.send(new CreateKeyCommand({ MultiRegion: true })), 'UnsupportedOperationException', /multi-Region keys/);
    await rejects(kms.send(new ReplicateKeyCommand({ KeyId: await keyFor('HMAC_256', 'GENERATE_VERIFY_MAC'), ReplicaRegion: 'eu-west-1' })), 'UnsupportedOperationException', /multi-Region keys/);
  });

  it('refuses automatic and on-demand rotation of non-symmetric keys', async () => {
    const id = await keyFor('HMAC_256', 'GENERATE_VERIFY_MAC');
    await rejects(kms.send(new EnableKeyRotationCommand({ KeyId: id })), 'UnsupportedOperationException');
    await rejects(kms.send(new RotateKeyOnDemandCommand({ KeyId: await keyFor('RSA_2048', 'SIGN_VERIFY') })), 'UnsupportedOperationException', '');
  });
});

describe('Sign, Verify, GetPublicKey', () => {
  it('signs and verifies every algorithm of every signing spec, RAW and DIGEST; the signature verifies offline with the public key', async () => {
    const message = Buffer.from('a message to sign, for Coffer');
    for (const [spec, algorithms] of Object.entries(SIGNING)) {
      const id = await keyFor(spec as KeySpec, 'SIGN_VERIFY');
      const got = await kms.send(new GetPublicKeyCommand({ KeyId: id }));
      assert.equal(got.KeySpec, spec);
      assert.equal(got.KeyUsage, 'SIGN_VERIFY');
      assert.deepEqual(got.SigningAlgorithms, algorithms);
      assert.equal(got.KeyId, `arn:aws:kms:${srv.coffer.kms.region}:${srv.coffer.kms.accountId}:key/${id}`);
      const publicKey = createPublicKey({ key: Buffer.from(got.PublicKey!), format: 'der', type: 'spki' });
      for (const alg of algorithms) {
        for (const MessageType of ['RAW', 'DIGEST'] as const) {
          const m = MessageType === 'RAW' ? message : createHash(HASH(alg)).update(message).digest();
          const s = await kms.send(new SignCommand({ KeyId: id, Message: m, MessageType, SigningAlgorithm: alg }));
          assert.equal(s.SigningAlgorithm, alg);
          const sig = Buffer.from(s.Signature!);
          const opts = alg.startsWith('RSASSA_PSS') ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: DIGEST_LENGTH(alg) } : { key: publicKey };
          assert.ok(nodeVerify(HASH(alg), message, opts, sig), `${spec} ${alg} ${MessageType} verifies offline`);
          const v = await kms.send(new VerifyCommand({ KeyId: id, Message: m, MessageType, SigningAlgorithm: alg, Signature: sig }));
          assert.equal(v.SignatureValid, true);
          // The other message type over the same signature: valid through the digest too.
          const other = MessageType === 'RAW' ? createHash(HASH(alg)).update(message).digest() : message;
          const v2 = await kms.send(new VerifyCommand({ KeyId: id, Message: other, MessageType: MessageType === 'RAW' ? 'DIGEST' : 'RAW', SigningAlgorithm: alg, Signature: sig }));
          assert.equal(v2.SignatureValid, true);
          sig[sig.length - 5]! ^= 0x01;
          await rejects(kms.send(new VerifyCommand({ KeyId: id, Message: m, MessageType, SigningAlgorithm: alg, Signature: sig })), 'KMSInvalidSignatureException', '');
        }
      }
    }
  });

  it('answers a failed Verify as AWS does on the wire: KMSInvalidSignatureException with an empty message', async () => {
    const id = await keyFor('ECC_NIST_P256', 'SIGN_VERIFY');
    const r = await rawKms(srv.url, 'Verify', JSON.stringify({ KeyId: id, Message: Buffer.from('m').toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256', Signature: Buffer.from('not a signature').toString('base64') }));
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { __type: 'KMSInvalidSignatureException', message: '' });
  });

  it('checks the key usage, the algorithm, the digest length and the message limit with AWS messages', async () => {
    const rsa = await keyFor('RSA_2048', 'SIGN_VERIFY');
    const arnOf = (id: string) => `arn:aws:kms:${srv.coffer.kms.region}:${srv.coffer.kms.accountId}:key/${id}`;
    await rejects(kms.send(new SignCommand({ KeyId: rsa, Message: randomBytes(31), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'ValidationException', 'Digest is invalid length for algorithm RSASSA_PSS_SHA_256.');
    await rejects(kms.send(new SignCommand({ KeyId: rsa, Message: randomBytes(10), SigningAlgorithm: 'ECDSA_SHA_256' })), 'InvalidKeyUsageException', 'Algorithm ECDSA_SHA_256 is incompatible with key spec RSA_2048.');
    const p256 = await keyFor('ECC_NIST_P256', 'SIGN_VERIFY');
    await rejects(kms.send(new SignCommand({ KeyId: p256, Message: randomBytes(10), SigningAlgorithm: 'ECDSA_SHA_384' })), 'InvalidKeyUsageException', 'Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.');
    await rejects(kms.send(new SignCommand({ KeyId: rsa, Message: randomBytes(4097), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'ValidationException', "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096");
    await rejects(kms.send(new SignCommand({ KeyId: rsa, Message: randomBytes(10), SigningAlgorithm: 'NOPE' as never })), 'ValidationException', /Value 'NOPE' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: \[RSASSA_PSS_SHA_256, /);
    const mac = await keyFor('HMAC_256', 'GENERATE_VERIFY_MAC');
    await rejects(kms.send(new SignCommand({ KeyId: mac, Message: randomBytes(10), SigningAlgorithm: 'RSASSA_PSS_SHA_256' })), 'InvalidKeyUsageException', `${arnOf(mac)} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.`);
    await rejects(kms.send(new EncryptCommand({ KeyId: rsa, Plaintext: randomBytes(10) })), 'InvalidKeyUsageException', `${arnOf(rsa)} key usage is SIGN_VERIFY which is not valid for Encrypt.`);
    await rejects(kms.send(new GenerateDataKeyCommand({ KeyId: rsa, KeySpec: 'AES_256' })), 'InvalidKeyUsageException', `${arnOf(rsa)} key usage is SIGN_VERIFY which is not valid for GenerateDataKey.`);
    const symmetric = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await rejects(kms.send(new VerifyCommand({ KeyId: symmetric, Message: randomBytes(10), SigningAlgorithm: 'RSASSA_PSS_SHA_256', Signature: randomBytes(256) })), 'InvalidKeyUsageException', `${arnOf(symmetric)} key usage is ENCRYPT_DECRYPT which is not valid for Verify.`);
    await rejects(kms.send(new GenerateMacCommand({ KeyId: symmetric, Message: randomBytes(10), MacAlgorithm: 'HMAC_SHA_256' })), 'InvalidKeyUsageException', `${arnOf(symmetric)} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.`);
    await rejects(kms.send(new GetPublicKeyCommand({ KeyId: symmetric })), 'UnsupportedOperationException');
  });

  it('obeys the key policy: a statement denying kms:Sign refuses Sign, and kms:SigningAlgorithm conditions apply', async () => {
    const id = await newKey('ECC_NIST_P256', 'SIGN_VERIFY');
    const root = `arn:aws:iam::${srv.coffer.kms.accountId}:root`;
    await kms.send(new PutKeyPolicyCommand({
      KeyId: id, PolicyName: 'default', BypassPolicyLockoutSafetyCheck: true,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'all', Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' },
          { Sid: 'no-raw-sign', Effect: 'Deny', Principal: { AWS: root }, Action: 'kms:Sign', Resource: '*', Condition: { StringEquals: { 'kms:MessageType': 'RAW' } } },
        ],
      }),
    }));
    await rejects(kms.send(new SignCommand({ KeyId: id, Message: Buffer.from('x'), SigningAlgorithm: 'ECDSA_SHA_256' })), 'AccessDeniedException', /kms:Sign/);
    const digest = createHash('sha256').update('x').digest();
    const s = await kms.send(new SignCommand({ KeyId: id, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.ok(s.Signature!.length > 0);
  });

  it('records Sign in the audit log with CloudTrail parameters, never the message', async () => {
    const id = await keyFor('ECC_SECG_P256K1', 'SIGN_VERIFY');
    const secret = 'audit-marker-' + randomBytes(8).toString('hex');
    await kms.send(new SignCommand({ KeyId: id, Message: Buffer.from(secret), SigningAlgorithm: 'ECDSA_SHA_256' }));
    const all = await readAudit(`${srv.dataDir}/audit`);
    const e = all.filter((x) => x.eventName === 'Sign' && JSON.stringify(x.requestParameters).includes(id)).at(-1)!;
    assert.deepEqual(e.requestParameters, { keyId: id, messageType: 'RAW', signingAlgorithm: 'ECDSA_SHA_256' });
    assert.ok(!JSON.stringify(all).includes(secret));
  });
});

describe('openssl interop', () => {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

  it('a Sign output verifies with openssl dgst -verify and pkeyutl -verify using GetPublicKey\'s DER', async () => {
    const message = Buffer.from('signed by Coffer, checked by openssl');
    fs.writeFileSync(path.join(work, 'msg'), message);
    for (const [spec, alg, extra] of [
      ['RSA_2048', 'RSASSA_PKCS1_V1_5_SHA_256', []],
      ['RSA_2048', 'RSASSA_PSS_SHA_384', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest']],
      ['ECC_NIST_P256', 'ECDSA_SHA_256', []],
      ['ECC_NIST_P521', 'ECDSA_SHA_512', []],
    ] as const) {
      const id = await keyFor(spec, 'SIGN_VERIFY');
      fs.writeFileSync(path.join(work, 'pub.der'), (await kms.send(new GetPublicKeyCommand({ KeyId: id }))).PublicKey!);
      const s = await kms.send(new SignCommand({ KeyId: id, Message: message, SigningAlgorithm: alg }));
      fs.writeFileSync(path.join(work, 'sig'), s.Signature!);
      const out = openssl('dgst', `-${HASH(alg)}`, '-verify', path.join(work, 'pub.der'), '-keyform', 'DER', ...extra, '-signature', path.join(work, 'sig'), path.join(work, 'msg'));
      assert.match(out.toString(), /Verified OK/, `${spec} ${alg}`);
    }
    // pkeyutl over a digest signed with MessageType DIGEST.
    const id = await keyFor('ECC_NIST_P384', 'SIGN_VERIFY');
    fs.writeFileSync(path.join(work, 'pub.der'), (await kms.send(new GetPublicKeyCommand({ KeyId: id }))).PublicKey!);
    const digest = createHash('sha384').update(message).digest();
    fs.writeFileSync(path.join(work, 'digest'), digest);
    const s = await kms.send(new SignCommand({ KeyId: id, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_384' }));
    fs.writeFileSync(path.join(work, 'sig'), s.Signature!);
    const out = openssl('pkeyutl', '-verify', '-pubin', '-inkey', path.join(work, 'pub.der'), '-keyform', 'DER', '-in', path.join(work, 'digest'), '-sigfile', path.join(work, 'sig'));
    assert.match(out.toString(), /Signature Verified Successfully/);
  });

  it('data encrypted offline with openssl pkeyutl (OAEP, SHA-256) decrypts through Coffer; Coffer\'s RSA ciphertexts decrypt with the same scheme', async () => {
    const id = await keyFor('RSA_3072', 'ENCRYPT_DECRYPT');
    fs.writeFileSync(path.join(work, 'rsa.der'), (await kms.send(new GetPublicKeyCommand({ KeyId: id }))).PublicKey!);
    const plaintext = randomBytes(100);
    fs.writeFileSync(path.join(work, 'plain'), plaintext);
    openssl('pkeyutl', '-encrypt', '-pubin', '-inkey', path.join(work, 'rsa.der'), '-keyform', 'DER', '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-in', path.join(work, 'plain'), '-out', path.join(work, 'enc'));
    const d = await kms.send(new DecryptCommand({ KeyId: id, CiphertextBlob: fs.readFileSync(path.join(work, 'enc')), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    assert.deepEqual(Buffer.from(d.Plaintext!), plaintext);
    assert.equal(d.EncryptionAlgorithm, 'RSAES_OAEP_SHA_256');
  });
});

describe('RSA Encrypt and Decrypt', () => {
  it('round-trips both OAEP algorithms, needs KeyId and the algorithm to decrypt, and limits plaintext per key size as AWS', async () => {
    const id = await keyFor('RSA_2048', 'ENCRYPT_DECRYPT');
    const pub = createPublicKey({ key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: id }))).PublicKey!), format: 'der', type: 'spki' });
    for (const [alg, hash, max] of [['RSAES_OAEP_SHA_1', 'sha1', 214], ['RSAES_OAEP_SHA_256', 'sha256', 190]] as const) {
      const plaintext = randomBytes(max);
      const e = await kms.send(new EncryptCommand({ KeyId: id, Plaintext: plaintext, EncryptionAlgorithm: alg }));
      assert.equal(e.CiphertextBlob!.length, 256, 'the raw OAEP ciphertext');
      assert.equal(e.EncryptionAlgorithm, alg);
      const d = await kms.send(new DecryptCommand({ KeyId: id, CiphertextBlob: e.CiphertextBlob, EncryptionAlgorithm: alg }));
      assert.deepEqual(Buffer.from(d.Plaintext!), plaintext);
      const offline = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, plaintext);
      assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ KeyId: id, CiphertextBlob: offline, EncryptionAlgorithm: alg }))).Plaintext!), plaintext);
      await rejects(kms.send(new EncryptCommand({ KeyId: id, Plaintext: randomBytes(max + 1), EncryptionAlgorithm: alg })), 'ValidationException', `Algorithm ${alg} and key spec RSA_2048 cannot encrypt data larger than ${max} bytes.`);
    }
    const e = await kms.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    await rejects(kms.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'ValidationException', /KeyId is required/);
    await rejects(kms.send(new DecryptCommand({ KeyId: id, CiphertextBlob: e.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidCiphertextException', '');
    await rejects(kms.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('x') })), 'InvalidKeyUsageException', 'Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.');
    await rejects(kms.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' })), 'InvalidKeyUsageException', /key spec is RSA_2048 which is not valid for GenerateDataKey/);
  });

  it('ReEncrypt moves data between RSA keys and symmetric keys (recorded: test_re_encrypt[RSA_2048-RSAES_OAEP_SHA_256])', async () => {
    const rsa = await keyFor('RSA_2048', 'ENCRYPT_DECRYPT');
    const rsa2 = await newKey('RSA_2048', 'ENCRYPT_DECRYPT');
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const plaintext = randomBytes(64);
    const e = await kms.send(new EncryptCommand({ KeyId: rsa, Plaintext: plaintext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    const r = await kms.send(new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, SourceKeyId: rsa, SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', DestinationKeyId: rsa2, DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    assert.equal(r.SourceEncryptionAlgorithm, 'RSAES_OAEP_SHA_256');
    assert.equal(r.DestinationEncryptionAlgorithm, 'RSAES_OAEP_SHA_256');
    assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ KeyId: rsa2, CiphertextBlob: r.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).Plaintext!), plaintext);
    const toSym = await kms.send(new ReEncryptCommand({ CiphertextBlob: r.CiphertextBlob, SourceKeyId: rsa2, SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', DestinationKeyId: sym, DestinationEncryptionContext: { k: 'v' } }));
    assert.equal(toSym.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: toSym.CiphertextBlob, SourceEncryptionContext: { k: 'v' }, DestinationKeyId: rsa, DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ KeyId: rsa, CiphertextBlob: back.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }))).Plaintext!), plaintext);
    await rejects(kms.send(new ReEncryptCommand({ CiphertextBlob: e.CiphertextBlob, SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', DestinationKeyId: sym })), 'ValidationException', /SourceKeyId is required/);
  });

  it('SSE-KMS refuses an asymmetric key as S3 does: 400 KMS.InvalidKeyUsageException, nothing stored', async () => {
    const id = await keyFor('RSA_2048', 'ENCRYPT_DECRYPT');
    const bucket = uniqueBucket('asym');
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await assertFails(srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: id })), 400, 'KMS.InvalidKeyUsageException');
  });
});

describe('GenerateMac and VerifyMac', () => {
  it('round-trips every HMAC spec; a changed message or MAC is KMSInvalidMacException; the algorithm must be the key\'s', async () => {
    for (const [spec, alg, len] of [['HMAC_224', 'HMAC_SHA_224', 28], ['HMAC_256', 'HMAC_SHA_256', 32], ['HMAC_384', 'HMAC_SHA_384', 48], ['HMAC_512', 'HMAC_SHA_512', 64]] as const) {
      const id = await keyFor(spec, 'GENERATE_VERIFY_MAC');
      const Message = Buffer.from('some important message');
      const g = await kms.send(new GenerateMacCommand({ KeyId: id, Message, MacAlgorithm: alg as MacAlgorithmSpec }));
      assert.equal(g.Mac!.length, len);
      assert.equal(g.MacAlgorithm, alg);
      const again = await kms.send(new GenerateMacCommand({ KeyId: id, Message, MacAlgorithm: alg as MacAlgorithmSpec }));
      assert.deepEqual(again.Mac, g.Mac, 'HMAC is deterministic');
      const v = await kms.send(new VerifyMacCommand({ KeyId: id, Message, MacAlgorithm: alg as MacAlgorithmSpec, Mac: g.Mac }));
      assert.equal(v.MacValid, true);
      await rejects(kms.send(new VerifyMacCommand({ KeyId: id, Message: Buffer.from('some different important message'), MacAlgorithm: alg as MacAlgorithmSpec, Mac: g.Mac })), 'KMSInvalidMacException', '');
      const bad = Buffer.from(g.Mac!);
      bad[0]! ^= 1;
      await rejects(kms.send(new VerifyMacCommand({ KeyId: id, Message, MacAlgorithm: alg as MacAlgorithmSpec, Mac: bad })), 'KMSInvalidMacException', '');
    }
    const k224 = await keyFor('HMAC_224', 'GENERATE_VERIFY_MAC');
    await rejects(kms.send(new GenerateMacCommand({ KeyId: k224, Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' })), 'InvalidKeyUsageException', 'Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.');
    await rejects(kms.send(new GenerateMacCommand({ KeyId: k224, Message: Buffer.from('m'), MacAlgorithm: 'INVALID' as never })), 'ValidationException',
      "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]");
    await rejects(kms.send(new GenerateMacCommand({ KeyId: 'key_id', Message: Buffer.from('m'), MacAlgorithm: 'HMAC_SHA_256' })), 'NotFoundException', "Invalid keyId 'key_id'");
    await rejects(kms.send(new GenerateMacCommand({ KeyId: k224, Message: randomBytes(4097), MacAlgorithm: 'HMAC_SHA_224' })), 'ValidationException', /at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096/);
  });

  it('answers a failed VerifyMac on the wire with an empty message', async () => {
    const id = await keyFor('HMAC_256', 'GENERATE_VERIFY_MAC');
    const r = await rawKms(srv.url, 'VerifyMac', JSON.stringify({ KeyId: id, Message: 'bQ==', MacAlgorithm: 'HMAC_SHA_256', Mac: randomBytes(32).toString('base64') }));
    assert.deepEqual([r.status, r.body], [400, { __type: 'KMSInvalidMacException', message: '' }]);
  });
});

describe('GenerateDataKeyPair', () => {
  it('returns a key pair whose private key matches the public key and decrypts from its ciphertext with the same context', async () => {
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    for (const KeyPairSpec of ['RSA_2048', 'ECC_NIST_P256', 'ECC_SECG_P256K1'] as const) {
      const EncryptionContext = { purpose: 'pair', spec: KeyPairSpec };
      const r = await kms.send(new GenerateDataKeyPairCommand({ KeyId: sym, KeyPairSpec, EncryptionContext }));
      assert.equal(r.KeyPairSpec, KeyPairSpec);
      const priv = createPrivateKey({ key: Buffer.from(r.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
      assert.deepEqual(createPublicKey(priv).export({ type: 'spki', format: 'der' }), Buffer.from(r.PublicKey!));
      const d = await kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob, EncryptionContext }));
      assert.deepEqual(Buffer.from(d.Plaintext!), Buffer.from(r.PrivateKeyPlaintext!));
      await rejects(kms.send(new DecryptCommand({ CiphertextBlob: r.PrivateKeyCiphertextBlob })), 'InvalidCiphertextException', '');
    }
    const w = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: sym, KeyPairSpec: 'ECC_NIST_P384' }));
    assert.equal((w as { PrivateKeyPlaintext?: unknown }).PrivateKeyPlaintext, undefined);
    const priv = createPrivateKey({ key: Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: w.PrivateKeyCiphertextBlob }))).Plaintext!), format: 'der', type: 'pkcs8' });
    assert.deepEqual(createPublicKey(priv).export({ type: 'spki', format: 'der' }), Buffer.from(w.PublicKey!));
    await rejects(kms.send(new GenerateDataKeyPairCommand({ KeyId: sym, KeyPairSpec: 'RSA_2048', DryRun: true })), 'DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.');
    const rsa = await keyFor('RSA_2048', 'ENCRYPT_DECRYPT');
    await rejects(kms.send(new GenerateDataKeyPairCommand({ KeyId: rsa, KeyPairSpec: 'RSA_2048' })), 'InvalidKeyUsageException');
  });
});
