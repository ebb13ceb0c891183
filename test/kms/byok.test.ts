// Imported key material (BYOK) and key agreement against the real server, through the JS
// SDK with the material wrapped by an independent implementation: the openssl command line
// (pkeyutl OAEP, enc -id-aes256-wrap-pad) and Node's crypto. What proves the material is
// really the imported one: GenerateMac equals createHmac over the known bytes, GetPublicKey
// equals the imported private key's public half, a ciphertext made before deletion decrypts
// after the same material is re-imported. Expiry runs on the scheduler's clock.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { constants, createCipheriv, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DeriveSharedSecretCommand, DescribeKeyCommand, EnableKeyRotationCommand, EncryptCommand,
  GenerateMacCommand, GetParametersForImportCommand, GetPublicKeyCommand, ImportKeyMaterialCommand, ListKeyRotationsCommand, ReplicateKeyCommand, RotateKeyOnDemandCommand, SignCommand,
  UpdatePrimaryRegionCommand, VerifyCommand, type KeySpec, type KeyUsageType,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { KmsScheduler } from '../../src/kms/scheduler.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { KmsService } from '../../src/kms/service.js';
import { callKms } from '../../src/kms/dispatch.js';

const run = promisify(execFile);
let srv: TestServer;
let work: string;

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-byok-'));
});
after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

async function externalKey(KeySpec: KeySpec = 'SYMMETRIC_DEFAULT', KeyUsage: KeyUsageType = 'ENCRYPT_DECRYPT') {
  return (await srv.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec, KeyUsage }))).KeyMetadata!;
}

async function params(KeyId: string, WrappingAlgorithm: 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | 'RSA_AES_KEY_WRAP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256' = 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' | 'RSA_3072' | 'RSA_4096' = 'RSA_2048') {
  const p = await srv.kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm, WrappingKeySpec }));
  return { token: Buffer.from(p.ImportToken!), publicKey: Buffer.from(p.PublicKey!), validTo: p.ParametersValidTo!, keyId: p.KeyId! };
}

/** OAEP-SHA-256 with Node's crypto (the openssl path has its own test). */
const oaep256 = (spki: Buffer, data: Buffer) => publicEncrypt({ key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data);

async function importMaterial(KeyId: string, material: Buffer, extra: Partial<ConstructorParameters<typeof ImportKeyMaterialCommand>[0]> = {}) {
  const p = await params(KeyId);
  return srv.kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.token, EncryptedKeyMaterial: oaep256(p.publicKey, material), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ...extra }));
}

test('BYOK end to end with the openssl command line: OAEP-SHA-256 wrap of 32 random bytes, import, Encrypt/Decrypt round trip', async () => {
  const key = await externalKey();
  assert.equal(key.KeyState, 'PendingImport');
  assert.equal(key.Origin, 'EXTERNAL');
  assert.equal(key.Enabled, false);
  await rejects(srv.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /is pending import\.$/);

  const p = await params(key.KeyId!);
  assert.equal(p.keyId, key.Arn);
  const hoursValid = (p.validTo.getTime() - Date.now()) / 3_600_000;
  assert.ok(hoursValid > 23.9 && hoursValid <= 24, `ParametersValidTo is 24 h ahead (${hoursValid})`);
  await fs.writeFile(path.join(work, 'wrapping.der'), p.publicKey);
  const material = randomBytes(32);
  await fs.writeFile(path.join(work, 'material.bin'), material);
  await run('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', path.join(work, 'wrapping.der'), '-keyform', 'DER',
    '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256',
    '-in', path.join(work, 'material.bin'), '-out', path.join(work, 'material.enc')]);
  const encrypted = await fs.readFile(path.join(work, 'material.enc'));

  // ExpirationModel defaults to KEY_MATERIAL_EXPIRES, which needs a ValidTo (recorded: test_import_key_symmetric).
  await rejects(srv.kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ImportToken: p.token, EncryptedKeyMaterial: encrypted })), 'ValidationException', /^A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES$/);
  const imported = await srv.kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ImportToken: p.token, EncryptedKeyMaterial: encrypted, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
  assert.equal(imported.KeyId, key.Arn);
  assert.match(imported.KeyMaterialId!, /^[0-9a-f]{64}$/);

  const md = (await srv.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
  assert.equal(md.KeyState, 'Enabled');
  assert.equal(md.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  assert.equal(md.ValidTo, undefined);
  assert.equal(md.CurrentKeyMaterialId, imported.KeyMaterialId);
  const ct = await srv.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('imported material at work') }));
  const pt = await srv.kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }));
  assert.equal(Buffer.from(pt.Plaintext!).toString(), 'imported material at work');

  // The token is one use.
  await rejects(srv.kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ImportToken: p.token, EncryptedKeyMaterial: encrypted, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), 'InvalidImportTokenException');

  // Delete → PendingImport, the ciphertext is unusable; the same material again → it decrypts again.
  await srv.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }));
  const deleted = (await srv.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
  assert.equal(deleted.KeyState, 'PendingImport');
  assert.equal(deleted.ExpirationModel, undefined);
  assert.equal(deleted.CurrentKeyMaterialId, imported.KeyMaterialId, 'AWS keeps showing the material id (recorded: describe-key-after-deleted-import)');
  await rejects(srv.kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob })), 'KMSInvalidStateException', /is pending import\.$/);
  await rejects(importMaterial(key.KeyId!, randomBytes(32)), 'IncorrectKeyMaterialException');
  const again = await importMaterial(key.KeyId!, material);
  assert.equal(again.KeyMaterialId, imported.KeyMaterialId);
  assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }))).Plaintext!).toString(), 'imported material at work');
});

test('RSA_AES_KEY_WRAP_SHA_256 with openssl: an RSA 3072 private key under AES-KWP (enc -id-aes256-wrap-pad), the AES key under OAEP; GetPublicKey is its public half and Sign verifies offline', async () => {
  const key = await externalKey('RSA_3072', 'SIGN_VERIFY');
  const p = await params(key.KeyId!, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_3072');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const aesKey = randomBytes(32);
  await fs.writeFile(path.join(work, 'rsa.p8'), privateKey.export({ type: 'pkcs8', format: 'der' }));
  await fs.writeFile(path.join(work, 'aes.bin'), aesKey);
  await fs.writeFile(path.join(work, 'wrap3072.der'), p.publicKey);
  await run('openssl', ['enc', '-id-aes256-wrap-pad', '-K', aesKey.toString('hex'), '-iv', 'A65959A6', '-in', path.join(work, 'rsa.p8'), '-out', path.join(work, 'rsa.kwp')]);
  await run('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', path.join(work, 'wrap3072.der'), '-keyform', 'DER',
    '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256', '-in', path.join(work, 'aes.bin'), '-out', path.join(work, 'aes.enc')]);
  const blob = Buffer.concat([await fs.readFile(path.join(work, 'aes.enc')), await fs.readFile(path.join(work, 'rsa.kwp'))]);
  await srv.kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ImportToken: p.token, EncryptedKeyMaterial: blob, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
  const pub = await srv.kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }));
  assert.ok(Buffer.from(pub.PublicKey!).equals(publicKey.export({ type: 'spki', format: 'der' })));
  const sig = await srv.kms.send(new SignCommand({ KeyId: key.KeyId, Message: Buffer.from('m'), SigningAlgorithm: 'RSASSA_PSS_SHA_256' }));
  assert.equal((await srv.kms.send(new VerifyCommand({ KeyId: key.KeyId, Message: Buffer.from('m'), Signature: sig.Signature, SigningAlgorithm: 'RSASSA_PSS_SHA_256' }))).SignatureValid, true);
});

test('RSA_AES_KEY_WRAP_SHA_1 built with Node crypto (id-aes256-wrap-pad); an EC private key of the wrong curve is IncorrectKeyMaterialException', async () => {
  const key = await externalKey('ECC_NIST_P384', 'SIGN_VERIFY');
  const wrap = async (pkcs8: Buffer) => {
    const p = await params(key.KeyId!, 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_2048');
    const aesKey = randomBytes(32);
    const c = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
    const kwp = Buffer.concat([c.update(pkcs8), c.final()]);
    const head = publicEncrypt({ key: createPublicKey({ key: p.publicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, aesKey);
    return { ImportToken: p.token, EncryptedKeyMaterial: Buffer.concat([head, kwp]) };
  };
  const wrong = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'der' });
  await rejects(srv.kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ...(await wrap(wrong)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), 'IncorrectKeyMaterialException');
  const right = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  await srv.kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ...(await wrap(right.privateKey.export({ type: 'pkcs8', format: 'der' }))), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
  const pub = await srv.kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }));
  assert.ok(Buffer.from(pub.PublicKey!).equals(right.publicKey.export({ type: 'spki', format: 'der' })));
});

test('an HMAC key with imported material: GenerateMac equals createHmac over the same known bytes', async () => {
  const key = await externalKey('HMAC_384', 'GENERATE_VERIFY_MAC');
  const material = randomBytes(100); // AWS allows 48..128 bytes for HMAC_384
  await importMaterial(key.KeyId!, material);
  const mac = await srv.kms.send(new GenerateMacCommand({ KeyId: key.KeyId, Message: Buffer.from('known message'), MacAlgorithm: 'HMAC_SHA_384' }));
  assert.ok(Buffer.from(mac.Mac!).equals(createHmac('sha384', material).update('known message').digest()));
  await rejects(importMaterial((await externalKey('HMAC_384', 'GENERATE_VERIFY_MAC')).KeyId!, randomBytes(47)), 'IncorrectKeyMaterialException');
});

test('import tokens: bound to their key, authenticated, expired after 24 hours on the service clock; SM2 is unsupported; AWS_KMS keys refuse import', async () => {
  const a = await externalKey();
  const b = await externalKey();
  const pa = await params(a.KeyId!);
  await rejects(srv.kms.send(new ImportKeyMaterialCommand({ KeyId: b.KeyId, ImportToken: pa.token, EncryptedKeyMaterial: oaep256(pa.publicKey, randomBytes(32)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), 'InvalidImportTokenException');
  const tampered = Buffer.from(pa.token);
  tampered[tampered.length - 1]! ^= 1;
  await rejects(srv.kms.send(new ImportKeyMaterialCommand({ KeyId: a.KeyId, ImportToken: tampered, EncryptedKeyMaterial: oaep256(pa.publicKey, randomBytes(32)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), 'InvalidImportTokenException');
  await rejects(srv.kms.send(new ImportKeyMaterialCommand({ KeyId: a.KeyId, ImportToken: pa.token, EncryptedKeyMaterial: randomBytes(256), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), 'InvalidCiphertextException');
  // The same token 24 hours later, through the one audited path on a service whose clock moved.
  const base = srv.coffer.kms;
  const later = new KmsService({ store: base.store, rootKey: base.rootKey, accountId: base.accountId, region: base.region, identityPolicies: async () => [], audit: srv.coffer.audit, log: srv.coffer.log, now: () => Date.now() + 24 * 3_600_000 + 1000 });
  const caller = { principal: { arn: `arn:aws:iam::${base.accountId}:root`, accountId: base.accountId, userName: 'root', kind: 'root' as const }, requestId: 'byok-test', secureTransport: true, sourceIp: '127.0.0.1' };
  await rejects(callKms(later, caller, 'ImportKeyMaterial', { KeyId: a.KeyId, ImportToken: pa.token, EncryptedKeyMaterial: oaep256(pa.publicKey, randomBytes(32)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'ExpiredImportTokenException');
  await rejects(srv.kms.send(new GetParametersForImportCommand({ KeyId: a.KeyId, WrappingAlgorithm: 'SM2PKE', WrappingKeySpec: 'SM2' })), 'UnsupportedOperationException');
  const own = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  await rejects(srv.kms.send(new GetParametersForImportCommand({ KeyId: own.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })), 'UnsupportedOperationException', /origin is AWS_KMS which is not valid for this operation\.$/);
  await rejects(srv.kms.send(new EnableKeyRotationCommand({ KeyId: a.KeyId })), 'KMSInvalidStateException');
});

test('expiry on the scheduler clock: KEY_MATERIAL_EXPIRES with ValidTo shows in DescribeKey; past ValidTo the sweep deletes the material, the key is PendingImport, audited as DeleteExpiredKeyMaterial', async () => {
  const key = await externalKey();
  const validTo = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 86_400_000);
  await importMaterial(key.KeyId!, randomBytes(32), { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo });
  const md = (await srv.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
  assert.equal(md.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(md.ValidTo?.getTime(), validTo.getTime());
  const scheduler = new KmsScheduler(srv.coffer.kms);
  assert.ok(!(await scheduler.runOnce(validTo.getTime() - 1)).expired.includes(key.KeyId!), 'not before ValidTo');
  assert.ok((await scheduler.runOnce(validTo.getTime())).expired.includes(key.KeyId!));
  const after = (await srv.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
  assert.equal(after.KeyState, 'PendingImport');
  assert.equal(after.ValidTo, undefined);
  await rejects(srv.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');
  let events: unknown[] = [];
  for (let i = 0; i < 500 && !events.length; i++) { // 10 s and more: a loaded machine writes the log late
    events = await readAudit(`${srv.dataDir}/audit`, { key: key.Arn!, eventName: 'DeleteExpiredKeyMaterial' });
    if (!events.length) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(events.length, 1);
  await rejects(importMaterial(key.KeyId!, randomBytes(32), { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(Date.now() - 1000) }), 'ValidationException');
});

test('on-demand rotation of an imported symmetric key: NEW_KEY_MATERIAL waits, RotateKeyOnDemand makes it current, old ciphertexts still decrypt', async () => {
  const key = await externalKey();
  await rejects(srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /is pending import\.$/);
  const first = await importMaterial(key.KeyId!, randomBytes(32));
  await rejects(srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /^No available key material pending rotation for the key: /);
  const ct = await srv.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('before rotation') }));
  const second = await importMaterial(key.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
  assert.notEqual(second.KeyMaterialId, first.KeyMaterialId);
  await rejects(importMaterial(key.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' }), 'KMSInvalidStateException', /because another key material \(id: [0-9a-f]{64}\) is pending rotation\.$/);
  assert.equal((await srv.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.CurrentKeyMaterialId, first.KeyMaterialId);
  const listed = (await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations!;
  assert.deepEqual(listed.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.ImportState]), [[first.KeyMaterialId, 'CURRENT', 'IMPORTED'], [second.KeyMaterialId, 'PENDING_ROTATION', 'IMPORTED']]);
  assert.deepEqual((await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations, [], 'pending material is not a rotation yet');
  assert.equal((await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }))).KeyId, key.Arn);
  assert.deepEqual((await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations!.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.RotationType]), [[second.KeyMaterialId, 'CURRENT', 'ON_DEMAND']]);
  assert.equal((await srv.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.CurrentKeyMaterialId, second.KeyMaterialId);
  assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }))).Plaintext!).toString(), 'before rotation');
  await rejects(srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId })), 'UnsupportedOperationException', /origin is EXTERNAL which is not valid for this operation\.$/);
});

test('DeriveSharedSecret equals ECDH computed offline with the peer private key, for P-256, P-384 and P-521', async () => {
  for (const [spec, curve] of [['ECC_NIST_P256', 'prime256v1'], ['ECC_NIST_P384', 'secp384r1'], ['ECC_NIST_P521', 'secp521r1']] as const) {
    const key = (await srv.kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
    assert.deepEqual(key.KeyAgreementAlgorithms, ['ECDH']);
    const peer = generateKeyPairSync('ec', { namedCurve: curve });
    const r = await srv.kms.send(new DeriveSharedSecretCommand({ KeyId: key.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ type: 'spki', format: 'der' }) }));
    assert.equal(r.KeyId, key.Arn);
    assert.equal(r.KeyAgreementAlgorithm, 'ECDH');
    assert.equal(r.KeyOrigin, 'AWS_KMS');
    const kmsPublic = createPublicKey({ key: Buffer.from((await srv.kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }))).PublicKey!), format: 'der', type: 'spki' });
    const offline = diffieHellman({ privateKey: peer.privateKey, publicKey: kmsPublic });
    assert.ok(Buffer.from(r.SharedSecret!).equals(offline), spec);
    // And with openssl pkeyutl -derive, an independent implementation.
    await fs.writeFile(path.join(work, 'peer.pem'), peer.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await fs.writeFile(path.join(work, 'kms-pub.der'), kmsPublic.export({ type: 'spki', format: 'der' }));
    await run('openssl', ['pkeyutl', '-derive', '-inkey', path.join(work, 'peer.pem'), '-peerkey', path.join(work, 'kms-pub.der'), '-peerform', 'DER', '-out', path.join(work, 'z.bin')]);
    assert.ok(Buffer.from(r.SharedSecret!).equals(await fs.readFile(path.join(work, 'z.bin'))), `${spec} (openssl)`);
  }
  const sign = (await srv.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
  const peerPub = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
  await rejects(srv.kms.send(new DeriveSharedSecretCommand({ KeyId: sign.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peerPub })), 'InvalidKeyUsageException', /key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret\.$/);
  const agree = (await srv.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
  await rejects(srv.kms.send(new DeriveSharedSecretCommand({ KeyId: agree.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: Buffer.from('InvalidPublicKey') })), 'ValidationException');
  await rejects(srv.kms.send(new DeriveSharedSecretCommand({ KeyId: agree.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peerPub, Recipient: { AttestationDocument: Buffer.from('x'), KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' } })), 'UnsupportedOperationException');
});

test('audit: the import operations are management events with their parameters and no secret; DeriveSharedSecret is a data event', async () => {
  const key = await externalKey();
  await importMaterial(key.KeyId!, randomBytes(32));
  const agree = (await srv.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
  await srv.kms.send(new DeriveSharedSecretCommand({ KeyId: agree.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }) }));
  await srv.coffer.audit.flush();
  const one = async (arn: string, eventName: string) => {
    const ev = (await readAudit(`${srv.dataDir}/audit`, { key: arn, eventName })) as unknown as Array<Record<string, unknown>>;
    assert.equal(ev.length, 1, eventName);
    return ev[0]!;
  };
  const gp = await one(key.Arn!, 'GetParametersForImport');
  assert.deepEqual([gp.managementEvent, gp.readOnly], [true, false]);
  assert.deepEqual(gp.requestParameters, { keyId: key.KeyId, wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' });
  const im = await one(key.Arn!, 'ImportKeyMaterial');
  assert.deepEqual([im.managementEvent, im.readOnly], [true, false]);
  assert.deepEqual(im.requestParameters, { keyId: key.KeyId, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }, 'no token, no encrypted material');
  const ds = await one(agree.Arn!, 'DeriveSharedSecret');
  assert.deepEqual([ds.managementEvent, ds.readOnly], [false, false]);
  assert.deepEqual(ds.requestParameters, { keyId: agree.KeyId, keyAgreementAlgorithm: 'ECDH' });
});

test('multi-Region keys stay a clear UnsupportedOperationException naming the feature', async () => {
  await rejects(srv.kms.send(new CreateKeyCommand({ MultiRegion: true })), 'UnsupportedOperationException', /multi-Region keys/);
  const own = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!;
  await rejects(srv.kms.send(new ReplicateKeyCommand({ KeyId: own.KeyId, ReplicaRegion: 'eu-west-1' })), 'UnsupportedOperationException', /multi-Region keys/);
  await rejects(srv.kms.send(new UpdatePrimaryRegionCommand({ KeyId: own.KeyId, PrimaryRegion: 'eu-west-1' })), 'UnsupportedOperationException', /multi-Region keys/);
});

test('the wrapping private key never reaches disk in the clear: the token holds it sealed', async () => {
  const key = await externalKey();
  const p = await params(key.KeyId!);
  const token = p.token;
  // A PKCS#8 RSA key starts with its DER header; the token must not contain one.
  const pkcs8Marker = Buffer.from('020100300d06092a864886f70d0101010500', 'hex');
  assert.equal(token.indexOf(pkcs8Marker), -1);
});
