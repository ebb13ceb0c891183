// Ed25519 (ECC_NIST_EDWARDS25519) and ML-DSA KMS keys against the real server with the AWS
// SDK (issue 19). Ed25519 works on every Node Coffer runs on: CreateKey, DescribeKey's and
// GetPublicKey's algorithms, ED25519_SHA_512 (pure Ed25519, RAW only) verified offline with
// Node's crypto and with openssl, ED25519_PH_SHA_512 (Ed25519ph, DIGEST only: AWS still
// applies the SHA-512 prehash to the 64 bytes sent) verified offline with @noble/curves,
// the message-type and algorithm refusals, data key pairs, imported keys (RFC 8032 TEST 2
// signs to its published signature). ML-DSA is tested where the
// running Node's crypto has it (feature detection) and its refusal is asserted elsewhere.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, publicEncrypt, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateKeyCommand, DescribeKeyCommand, GenerateDataKeyPairCommand, GetParametersForImportCommand, GetPublicKeyCommand, ImportKeyMaterialCommand,
  SignCommand, VerifyCommand,
  type KMSClient, type MessageType, type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';

let srv: TestServer;
let kms: KMSClient;
let work: string;
let ed: string;

before(async () => {
  srv = await startTestServer();
  kms = srv.kms;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'coffer-eddsa-'));
  ed = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
});
after(async () => {
  await srv?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const ED_ALGORITHMS = ['ED25519_SHA_512', 'ED25519_PH_SHA_512'];
const message = Buffer.from('signed with Ed25519 by Coffer');
const arnOf = (id: string) => `arn:aws:kms:${srv.coffer.kms.region}:${srv.coffer.kms.accountId}:key/${id}`;

async function publicKeyDer(id: string): Promise<Buffer> {
  return Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: id }))).PublicKey!);
}

describe('ECC_NIST_EDWARDS25519 keys', () => {
  it('CreateKey makes a SIGN_VERIFY Ed25519 key; DescribeKey lists ED25519_SHA_512 and ED25519_PH_SHA_512', async () => {
    const md = (await kms.send(new DescribeKeyCommand({ KeyId: ed }))).KeyMetadata!;
    assert.equal(md.KeySpec, 'ECC_NIST_EDWARDS25519');
    assert.equal(md.CustomerMasterKeySpec, 'ECC_NIST_EDWARDS25519');
    assert.equal(md.KeyUsage, 'SIGN_VERIFY');
    assert.deepEqual(md.SigningAlgorithms, ED_ALGORITHMS);
    assert.equal(md.EncryptionAlgorithms, undefined);
    assert.equal(md.KeyAgreementAlgorithms, undefined);
  });

  it('refuses the other key usages as AWS does', async () => {
    for (const KeyUsage of ['ENCRYPT_DECRYPT', 'KEY_AGREEMENT', 'GENERATE_VERIFY_MAC'] as const) {
      await assertFails(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage })), 400, 'ValidationException', `KeyUsage ${KeyUsage} is not compatible with KeySpec ECC_NIST_EDWARDS25519`);
    }
  });

  it('keeps the key as a sealed PKCS#8 private key (v2 record, kind private-key)', async () => {
    const rec = await srv.coffer.kms.store.getMaterial(ed, 1);
    assert.equal(rec!.sealed[0], 0x02);
    assert.equal(rec!.sealed[41], 0x02, 'kind: private key');
    const raw = createPublicKey({ key: await publicKeyDer(ed), format: 'der', type: 'spki' }).export({ format: 'jwk' }).x!;
    assert.ok(!rec!.sealed.includes(Buffer.from(raw, 'base64url')), 'public key is not in the clear');
  });

  it('GetPublicKey returns DER SubjectPublicKeyInfo of an Ed25519 key with its algorithms', async () => {
    const got = await kms.send(new GetPublicKeyCommand({ KeyId: ed }));
    assert.equal(got.KeySpec, 'ECC_NIST_EDWARDS25519');
    assert.equal(got.KeyUsage, 'SIGN_VERIFY');
    assert.deepEqual(got.SigningAlgorithms, ED_ALGORITHMS);
    const der = Buffer.from(got.PublicKey!);
    assert.equal(der.length, 44);
    assert.equal(der.subarray(0, 12).toString('hex'), '302a300506032b6570032100', 'id-Ed25519 SPKI prefix (RFC 8410)');
    assert.equal(createPublicKey({ key: der, format: 'der', type: 'spki' }).asymmetricKeyType, 'ed25519');
  });

  it('ED25519_SHA_512 (RAW) signs pure Ed25519: verifies with Node\'s crypto.verify(null, …) and through Verify; a changed message fails', async () => {
    const s = await kms.send(new SignCommand({ KeyId: ed, Message: message, SigningAlgorithm: 'ED25519_SHA_512' }));
    assert.equal(s.SigningAlgorithm, 'ED25519_SHA_512');
    assert.equal(s.KeyId, arnOf(ed));
    const sig = Buffer.from(s.Signature!);
    assert.equal(sig.length, 64);
    const pub = createPublicKey({ key: await publicKeyDer(ed), format: 'der', type: 'spki' });
    assert.ok(nodeVerify(null, message, pub, sig));
    // Ed25519 is deterministic (RFC 8032).
    const again = await kms.send(new SignCommand({ KeyId: ed, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' }));
    assert.deepEqual(Buffer.from(again.Signature!), sig);
    const v = await kms.send(new VerifyCommand({ KeyId: ed, Message: message, SigningAlgorithm: 'ED25519_SHA_512', Signature: sig }));
    assert.equal(v.SignatureValid, true);
    assert.equal(v.SigningAlgorithm, 'ED25519_SHA_512');
    await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message: Buffer.from('signed with Ed25519 by CoffeR'), SigningAlgorithm: 'ED25519_SHA_512', Signature: sig })), 400, 'KMSInvalidSignatureException', 'UnknownError');
    sig[3]! ^= 0x40;
    await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message: message, SigningAlgorithm: 'ED25519_SHA_512', Signature: sig })), 400, 'KMSInvalidSignatureException', 'UnknownError');
    await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message: message, SigningAlgorithm: 'ED25519_SHA_512', Signature: sig.subarray(0, 63) })), 400, 'KMSInvalidSignatureException', 'UnknownError');
  });

  it('an ED25519_SHA_512 signature verifies with openssl pkeyutl -verify -rawin using GetPublicKey\'s DER', async () => {
    const s = await kms.send(new SignCommand({ KeyId: ed, Message: message, SigningAlgorithm: 'ED25519_SHA_512' }));
    fs.writeFileSync(path.join(work, 'pub.der'), await publicKeyDer(ed));
    fs.writeFileSync(path.join(work, 'msg'), message);
    fs.writeFileSync(path.join(work, 'sig'), s.Signature!);
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', path.join(work, 'pub.der'), '-keyform', 'DER', '-rawin', '-in', path.join(work, 'msg'), '-sigfile', path.join(work, 'sig')], { stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out.toString(), /Signature Verified Successfully/);
  });

  it('ED25519_PH_SHA_512 (DIGEST) is Ed25519ph over the 64 bytes sent, SHA-512-prehashed again as AWS does; verifies offline and through Verify', async () => {
    const digest = createHash('sha512').update(message).digest();
    const s = await kms.send(new SignCommand({ KeyId: ed, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512' }));
    assert.equal(s.SigningAlgorithm, 'ED25519_PH_SHA_512');
    const sig = Buffer.from(s.Signature!);
    assert.equal(sig.length, 64);
    const rawPub = Buffer.from(createPublicKey({ key: await publicKeyDer(ed), format: 'der', type: 'spki' }).export({ format: 'jwk' }).x!, 'base64url');
    assert.ok(ed25519ph.verify(sig, digest, rawPub, { zip215: false }), 'Ed25519ph(M = the digest sent) verifies');
    assert.ok(!ed25519ph.verify(sig, message, rawPub), 'not Ed25519ph over the original message');
    const pub = createPublicKey({ key: await publicKeyDer(ed), format: 'der', type: 'spki' });
    assert.ok(!nodeVerify(null, digest, pub, sig), 'not pure Ed25519');
    const v = await kms.send(new VerifyCommand({ KeyId: ed, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512', Signature: sig }));
    assert.equal(v.SignatureValid, true);
    const other = createHash('sha512').update('another message').digest();
    await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message: other, MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512', Signature: sig })), 400, 'KMSInvalidSignatureException', 'UnknownError');
    // A pure signature is not a prehash one, and the other way round.
    const pure = Buffer.from((await kms.send(new SignCommand({ KeyId: ed, Message: digest, SigningAlgorithm: 'ED25519_SHA_512' }))).Signature!);
    await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512', Signature: pure })), 400, 'KMSInvalidSignatureException', 'UnknownError');
    await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message: digest, SigningAlgorithm: 'ED25519_SHA_512', Signature: sig })), 400, 'KMSInvalidSignatureException', 'UnknownError');
  });

  it('@noble/curves\' ed25519ph, which ED25519_PH_SHA_512 signs with, reproduces RFC 8032\'s Ed25519ph vector (TEST abc)', () => {
    // RFC 8032 §7.3, Ed25519ph test vector: SECRET KEY 833fe624…, MESSAGE "abc".
    const seed = Buffer.from('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42', 'hex');
    const expected = '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406';
    assert.equal(Buffer.from(ed25519ph.sign(Buffer.from('abc'), seed)).toString('hex'), expected);
  });

  it('imports an Ed25519 private key (Origin EXTERNAL, PKCS#8) and signs RFC 8032 TEST 2 to its published signature; another key type is IncorrectKeyMaterialException', async () => {
    const importInto = async (KeyId: string, material: Buffer) => {
      const p = await kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const wrapping = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
      const EncryptedKeyMaterial = publicEncrypt({ key: wrapping, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
      return kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    };
    const id = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'der' });
    await assertFails(importInto(id, p256), 400, 'IncorrectKeyMaterialException');
    // RFC 8032 §7.1 TEST 2: seed 4ccd08…, message 0x72.
    const pkcs8 = Buffer.from('302e020100300506032b657004220420' + '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex');
    await importInto(id, pkcs8);
    const s = await kms.send(new SignCommand({ KeyId: id, Message: Buffer.from([0x72]), SigningAlgorithm: 'ED25519_SHA_512' }));
    assert.equal(Buffer.from(s.Signature!).toString('hex'), '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00');
    const raw = createPublicKey({ key: await publicKeyDer(id), format: 'der', type: 'spki' }).export({ format: 'jwk' }).x!;
    assert.equal(Buffer.from(raw, 'base64url').toString('hex'), '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
  });

  it('refuses the wrong message type, digest length and algorithm as AWS does, in Sign and Verify', async () => {
    const digest = createHash('sha512').update(message).digest();
    const cases: [SigningAlgorithmSpec, MessageType, Buffer, string, string][] = [
      ['ED25519_SHA_512', 'DIGEST', digest, 'ValidationException', 'Message type DIGEST is incompatible with algorithm ED25519_SHA_512.'],
      ['ED25519_SHA_512', 'EXTERNAL_MU', digest, 'ValidationException', 'Message type EXTERNAL_MU is incompatible with algorithm ED25519_SHA_512.'],
      ['ED25519_PH_SHA_512', 'RAW', message, 'ValidationException', 'Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.'],
      ['ED25519_PH_SHA_512', 'EXTERNAL_MU', digest, 'ValidationException', 'Message type EXTERNAL_MU is incompatible with algorithm ED25519_PH_SHA_512.'],
      ['ED25519_PH_SHA_512', 'DIGEST', digest.subarray(0, 32), 'ValidationException', 'Digest is invalid length for algorithm ED25519_PH_SHA_512.'],
      ['ECDSA_SHA_512', 'RAW', message, 'InvalidKeyUsageException', 'Algorithm ECDSA_SHA_512 is incompatible with key spec ECC_NIST_EDWARDS25519.'],
      ['RSASSA_PSS_SHA_512', 'DIGEST', digest, 'InvalidKeyUsageException', 'Algorithm RSASSA_PSS_SHA_512 is incompatible with key spec ECC_NIST_EDWARDS25519.'],
      ['ML_DSA_SHAKE_256', 'RAW', message, 'InvalidKeyUsageException', 'Algorithm ML_DSA_SHAKE_256 is incompatible with key spec ECC_NIST_EDWARDS25519.'],
    ];
    for (const [SigningAlgorithm, MessageType, Message, code, text] of cases) {
      await assertFails(kms.send(new SignCommand({ KeyId: ed, Message, MessageType, SigningAlgorithm })), 400, code, text);
      await assertFails(kms.send(new VerifyCommand({ KeyId: ed, Message, MessageType, SigningAlgorithm, Signature: Buffer.alloc(64, 1) })), 400, code, text);
    }
    const p256 = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    await assertFails(kms.send(new SignCommand({ KeyId: p256, Message: message, SigningAlgorithm: 'ED25519_SHA_512' })), 400, 'InvalidKeyUsageException', 'Algorithm ED25519_SHA_512 is incompatible with key spec ECC_NIST_P256.');
  });

  it('GenerateDataKeyPair offers ECC_NIST_EDWARDS25519 (AWS\'s DataKeyPairSpec): an Ed25519 PKCS#8 private key matching the SPKI public key', async () => {
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const r = await kms.send(new GenerateDataKeyPairCommand({ KeyId: sym, KeyPairSpec: 'ECC_NIST_EDWARDS25519' }));
    assert.equal(r.KeyPairSpec, 'ECC_NIST_EDWARDS25519');
    const priv = createPrivateKey({ key: Buffer.from(r.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
    assert.equal(priv.asymmetricKeyType, 'ed25519');
    const pub = createPublicKey({ key: Buffer.from(r.PublicKey!), format: 'der', type: 'spki' });
    assert.ok(nodeVerify(null, message, pub, nodeSign(null, message, priv)));
    await assertFails(kms.send(new GenerateDataKeyPairCommand({ KeyId: sym, KeyPairSpec: 'SM2' })), 400, 'UnsupportedOperationException', /SM2/);
  });
});

/** Whether the running Node's crypto has ML-DSA (Node 24 with OpenSSL 3.5+). */
function nodeHasMlDsa(): boolean {
  try {
    generateKeyPairSync('ml-dsa-44' as never);
    return true;
  } catch {
    return false;
  }
}
const ML_DSA = nodeHasMlDsa();
const ML_DSA_SKIP = ML_DSA ? false : `this Node (${process.version}) has no ML-DSA in its crypto; the refusal is tested instead`;
const ML_DSA_REFUSAL_SKIP = ML_DSA ? `this Node (${process.version}) has ML-DSA; the keys are tested instead` : false;

describe('ML-DSA keys', () => {
  it('refuses ML_DSA_44/65/87 with UnsupportedOperationException naming the runtime limitation', { skip: ML_DSA_REFUSAL_SKIP }, async () => {
    for (const KeySpec of ['ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87'] as const) {
      const f = await assertFails(kms.send(new CreateKeyCommand({ KeySpec, KeyUsage: 'SIGN_VERIFY' })), 400, 'UnsupportedOperationException');
      assert.match(f.message, new RegExp(`^KeySpec ${KeySpec} \\(ML-DSA keys need ML-DSA in the Node runtime's crypto`));
      assert.ok(f.message.includes(process.version), f.message);
    }
  });

  it('makes ML_DSA_65 keys and signs with ML_DSA_SHAKE_256 (RAW): verifies offline and through Verify', { skip: ML_DSA_SKIP }, async () => {
    const id = (await kms.send(new CreateKeyCommand({ KeySpec: 'ML_DSA_65', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const md = (await kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
    assert.deepEqual(md.SigningAlgorithms, ['ML_DSA_SHAKE_256']);
    const got = await kms.send(new GetPublicKeyCommand({ KeyId: id }));
    assert.deepEqual(got.SigningAlgorithms, ['ML_DSA_SHAKE_256']);
    const pub = createPublicKey({ key: Buffer.from(got.PublicKey!), format: 'der', type: 'spki' });
    assert.equal(pub.asymmetricKeyType as string, 'ml-dsa-65');
    const s = await kms.send(new SignCommand({ KeyId: id, Message: message, SigningAlgorithm: 'ML_DSA_SHAKE_256' }));
    const sig = Buffer.from(s.Signature!);
    assert.ok(nodeVerify(null, message, pub, sig));
    assert.equal((await kms.send(new VerifyCommand({ KeyId: id, Message: message, SigningAlgorithm: 'ML_DSA_SHAKE_256', Signature: sig }))).SignatureValid, true);
    await assertFails(kms.send(new VerifyCommand({ KeyId: id, Message: Buffer.from('changed'), SigningAlgorithm: 'ML_DSA_SHAKE_256', Signature: sig })), 400, 'KMSInvalidSignatureException', 'UnknownError');
    const mu = createHash('sha512').update(message).digest();
    await assertFails(kms.send(new SignCommand({ KeyId: id, Message: mu, MessageType: 'DIGEST', SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 400, 'ValidationException', 'Message type DIGEST is incompatible with algorithm ML_DSA_SHAKE_256.');
    await assertFails(kms.send(new SignCommand({ KeyId: id, Message: mu.subarray(1), MessageType: 'EXTERNAL_MU', SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 400, 'ValidationException', 'Digest is invalid length for algorithm ML_DSA_SHAKE_256.');
    await assertFails(kms.send(new SignCommand({ KeyId: id, Message: mu, MessageType: 'EXTERNAL_MU', SigningAlgorithm: 'ML_DSA_SHAKE_256' })), 400, 'UnsupportedOperationException', /EXTERNAL_MU/);
    await assertFails(kms.send(new SignCommand({ KeyId: id, Message: message, SigningAlgorithm: 'ED25519_SHA_512' })), 400, 'InvalidKeyUsageException', 'Algorithm ED25519_SHA_512 is incompatible with key spec ML_DSA_65.');
  });
});
