// The KMS recording scenarios of imported key material, key agreement and rotation
// (aws-recordings-kms.test.ts runs them): each rebuilds the requests of one LocalStack test
// of tests/aws/services/kms/test_kms.py and compares each snapshot step.

import assert from 'node:assert/strict';
import { constants, createCipheriv, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DeriveSharedSecretCommand, DescribeKeyCommand, DisableKeyCommand,
  EnableKeyRotationCommand, EncryptCommand,
  GenerateMacCommand, GetKeyRotationStatusCommand, GetParametersForImportCommand,
  GetPublicKeyCommand, ImportKeyMaterialCommand,
  RotateKeyOnDemandCommand, SignCommand, VerifyCommand, VerifyMacCommand,
  type CreateKeyCommandInput, type KMSClient, type KeyMetadata,
} from '@aws-sdk/client-kms';
import type { TestServer } from '../../helpers/server.js';
import { createKey as create, flat, observe, type Scenario } from './replay-kms.js';

export function importScenarios(srv: TestServer): Record<string, Scenario> {
  const kms: KMSClient = srv.kms;
  const createKey = (input: CreateKeyCommandInput = {}): Promise<KeyMetadata> => create(kms, input);

  const oaep = (spki: Uint8Array, data: Buffer, hash = 'sha256') =>
    publicEncrypt({ key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
  
  async function importParams(KeyId: string, WrappingAlgorithm = 'RSAES_OAEP_SHA_256', WrappingKeySpec = 'RSA_2048') {
    return kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: WrappingAlgorithm as 'RSAES_OAEP_SHA_256', WrappingKeySpec: WrappingKeySpec as 'RSA_2048' }));
  }

  async function importRaw(KeyId: string, material: Buffer, extra: Record<string, unknown> = {}) {
    const p = await importParams(KeyId);
    return kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: oaep(p.PublicKey!, material), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ...extra }));
  }
  const CURVES: Record<string, string> = { ECC_NIST_P256: 'prime256v1', ECC_NIST_P384: 'secp384r1', ECC_NIST_P521: 'secp521r1', ECC_SECG_P256K1: 'secp256k1' };

  return {
    test_derive_shared_secret: async (r) => {
      const k1 = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
      const k2 = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
      const pub1 = (await kms.send(new GetPublicKeyCommand({ KeyId: k1.KeyId }))).PublicKey!;
      const pub2 = (await kms.send(new GetPublicKeyCommand({ KeyId: k2.KeyId }))).PublicKey!;
      const s1 = await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k1.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub2 })));
      r.compare('response', s1);
      const s2 = await kms.send(new DeriveSharedSecretCommand({ KeyId: k2.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub1 }));
      assert.equal(Buffer.from(s2.SharedSecret!).toString('base64'), s1.SharedSecret, 'both sides derive the same secret');
      const k3 = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
      r.compare('response-invalid-key-usage', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k3.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub2 }))));
      r.compare('response-invalid-key-spec', await observe(kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'KEY_AGREEMENT' }))));
      r.compare('response-invalid-key-agreement-algo', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k1.KeyId, KeyAgreementAlgorithm: 'INVALID' as 'ECDH', PublicKey: pub2 }))));
      const k4 = await createKey();
      r.compare('response-invalid-key', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k4.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub2 }))));
      r.compare('response-invalid-public-key', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k1.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: Buffer.from('InvalidPublicKey') }))));
    },
    test_derive_shared_secret_matches_openssl: async (r) => {
      const k = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
      const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      r.compare('derived-shared-key-resp', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ type: 'spki', format: 'der' }) }))));
    },
    test_get_parameters_for_import: async (r) => {
      const sv = await createKey({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256', Origin: 'EXTERNAL' });
      const p = await importParams(sv.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_4096');
      assert.equal(p.KeyId, sv.Arn);
      assert.ok(p.ImportToken?.length && p.PublicKey?.length && p.ParametersValidTo instanceof Date);
      const ed = await createKey();
      r.compare('response-error', await observe(importParams(ed.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_4096')));
    },
    test_get_parameters_for_import_raises_for_non_external_kms_keys: async (r) => {
      const k = await createKey();
      r.compare('get-import-parameters-error', await observe(importParams(k.KeyId!)));
    },
    test_import_key_asymmetric: async (r) => {
      // LocalStack's kms_create_key fixture describes a key created without a description ("<description:1>").
      const k = await createKey({ Origin: 'EXTERNAL', KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'test key' });
      r.compare('created-key', flat(k));
      const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const p = await importParams(k.KeyId!);
      const enc = oaep(p.PublicKey!, pair.privateKey.export({ type: 'pkcs8', format: 'der' }));
      r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
      r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      const pub = (await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!;
      assert.ok(Buffer.from(pub).equals(pair.publicKey.export({ type: 'spki', format: 'der' })));
      const msg = Buffer.from('test content 123 !#');
      const sig = await kms.send(new SignCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
      assert.equal((await kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256', Signature: sig.Signature }))).SignatureValid, true);
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
      r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    },
    test_import_key_ecc_keys: async (r, [spec]) => {
      const [oaepHash, signing, wrapSpec, wrapAlg] = {
        ECC_NIST_P256: ['sha1', 'ECDSA_SHA_256', 'RSA_2048', 'RSAES_OAEP_SHA_1'], ECC_NIST_P384: ['sha1', 'ECDSA_SHA_384', 'RSA_2048', 'RSAES_OAEP_SHA_1'],
        ECC_NIST_P521: ['sha256', 'ECDSA_SHA_512', 'RSA_4096', 'RSAES_OAEP_SHA_256'], ECC_SECG_P256K1: ['sha1', 'ECDSA_SHA_256', 'RSA_2048', 'RSAES_OAEP_SHA_1'],
      }[spec as 'ECC_NIST_P256']!;
      const k = await createKey({ Origin: 'EXTERNAL', KeySpec: spec as 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'test ecc key import' });
      const pair = generateKeyPairSync('ec', { namedCurve: CURVES[spec!]! });
      const p = await importParams(k.KeyId!, wrapAlg, wrapSpec);
      const enc = oaep(p.PublicKey!, pair.privateKey.export({ type: 'pkcs8', format: 'der' }), oaepHash);
      r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
      r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      assert.ok(Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!).equals(pair.publicKey.export({ type: 'spki', format: 'der' })));
      const msg = Buffer.from('test sign verify 123 !%$@ 1234567890');
      const sig = await observe(kms.send(new SignCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: signing as 'ECDSA_SHA_256' })));
      r.compare('sign-result', sig);
      r.compare('verify-result', await observe(kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: signing as 'ECDSA_SHA_256', Signature: Buffer.from(sig.Signature as string, 'base64') }))));
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
      r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    },
    test_import_key_hmac_keys: async (r, [spec]) => {
      const [len, algo] = { HMAC_224: [28, 'HMAC_SHA_224'], HMAC_256: [32, 'HMAC_SHA_256'], HMAC_384: [48, 'HMAC_SHA_384'], HMAC_512: [64, 'HMAC_SHA_512'] }[spec as 'HMAC_224']! as [number, 'HMAC_SHA_224'];
      const k = await createKey({ Origin: 'EXTERNAL', KeySpec: spec as 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'test import hmac key' });
      const p = await importParams(k.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_4096');
      const enc = oaep(p.PublicKey!, randomBytes(len));
      r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
      r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      const msg = Buffer.from('test-mac-message');
      const mac = await observe(kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: algo })));
      r.compare('generate-mac-response', mac);
      r.compare('verify-mac-response', await observe(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: algo, Mac: Buffer.from(mac.Mac as string, 'base64') }))));
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
      r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    },
    test_import_key_material_raises_if_there_is_already_key_material_pending: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      r.compare('import-initial-material-response', await observe(importRaw(k.KeyId!, randomBytes(32))));
      r.compare('import-pending-material-response', await observe(importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })));
      r.compare('existing-pending-material-error', await observe(importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })));
    },
    test_import_key_rsa_aes_wrap_sha256: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL', KeySpec: 'RSA_4096', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      const pair = generateKeyPairSync('rsa', { modulusLength: 4096 });
      const aesKey = randomBytes(32);
      const c = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
      const kwp = Buffer.concat([c.update(pair.privateKey.export({ type: 'pkcs8', format: 'der' })), c.final()]);
      const p = await importParams(k.KeyId!, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096');
      const blob = Buffer.concat([oaep(p.PublicKey!, aesKey), kwp]);
      r.compare('describe-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: blob, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
      r.compare('import-key-material-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      assert.ok(Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!).equals(pair.publicKey.export({ type: 'spki', format: 'der' })));
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
      r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    },
    test_import_key_symmetric: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL', Description: 'test key' });
      r.compare('created-key', flat(k));
      const plaintext = Buffer.from('test content 123 !#');
      r.compare('encrypt-before-import-error', await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext }))));
      const p = await importParams(k.KeyId!);
      const enc = oaep(p.PublicKey!, randomBytes(32));
      r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      r.compare('import-expiring-key-without-valid-to', await observe(kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc }))));
      await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
      r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      const ct = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext }));
      assert.ok(Buffer.from((await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ct.CiphertextBlob }))).Plaintext!).equals(plaintext));
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
      r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      r.compare('encrypt-after-delete-error', await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext }))));
    },
    test_key_enable_rotation_status: async (r, [days]) => {
      const k = await createKey();
      await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId, RotationPeriodInDays: Number(days) }));
      r.compare('match_response', await observe(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))));
    },
    test_key_rotation_updates_current_key_material_id_for_aws_symmetric_keys: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      r.compare('describe-key-before-rotation', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
      r.compare('describe-key-after-rotation', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    },
    test_key_rotations_encryption_decryption: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
      const ct = (await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('test message 123 !%$@ 1234567890'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }))).CiphertextBlob!;
      await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
      await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }));
      r.compare('bad-ciphertext', await observe(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: Buffer.concat([ct, Buffer.from('bad_data')]), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }))));
    },
    test_key_rotations_limits: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
      for (let i = 0; i < 25; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
      r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_for_external_keys_decrypts_with_previous_material: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      r.compare('create-kms-external-key', flat(k));
      r.compare('import-key-material-response', await observe(importRaw(k.KeyId!, randomBytes(32))));
      const plaintext = Buffer.from('Hello World!1/?');
      const enc = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })));
      r.compare('kms-encrypt-initial-response', enc);
      await importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
      r.compare('rotate-key-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
      assert.ok(Buffer.from((await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: Buffer.from(enc.CiphertextBlob as string, 'base64') }))).Plaintext!).equals(plaintext));
    },
    test_rotate_key_on_demand_modifies_key_material: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
      r.compare('rotate-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_on_external_key_with_no_key_material: async (r, [spec]) => {
      // The test passes no KeySpec (its parameter only names the step): both keys are symmetric.
      const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      r.compare('create-kms-external-key', flat(k));
      r.compare(`rotate-key-on-demand-error-response-${spec}`, await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_raises_error_given_key_is_disabled: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'RSA_4096' });
      await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
      r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_raises_error_given_key_that_does_not_exist: async (r) => {
      r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }))));
    },
    test_rotate_key_on_demand_raises_error_given_key_with_imported_key_material: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL' });
      await importRaw(k.KeyId!, randomBytes(32));
      r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_raises_error_given_non_symmetric_key: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'RSA_4096' });
      r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_raises_for_no_pending_key_material: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      await importRaw(k.KeyId!, randomBytes(32));
      r.compare('rotate-key-on-demand-invalid-state-error', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_updates_current_key_material_for_external_keys: async (r) => {
      const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
      r.compare('create-kms-external-key', flat(k));
      const p = await observe(importParams(k.KeyId!));
      r.compare('get-import-parameters-response', p);
      const enc = oaep(Buffer.from(p.PublicKey as string, 'base64'), randomBytes(32));
      r.compare('describe-empty-key-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      r.compare('import-key-material-response', await observe(kms.send(new ImportKeyMaterialCommand({
        KeyId: k.KeyId, ImportToken: Buffer.from(p.ImportToken as string, 'base64'), EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }))));
      r.compare('describe-key-with-material-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      const plaintext = Buffer.from('Hello World!1/?');
      const first = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })));
      r.compare('kms-encrypt-initial-response', first);
      r.compare('import-new-key-material-response', await observe(importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })));
      r.compare('describe-key-with-new-material-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      r.compare('rotate-key-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
      r.compare('describe-key-after-rotation', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      const second = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })));
      r.compare('kms-encrypt-rotated-key-response', second);
      assert.ok(Buffer.from((await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: Buffer.from(second.CiphertextBlob as string, 'base64') }))).Plaintext!).equals(plaintext));
    },
    test_rotate_key_on_demand_with_symmetric_key_and_automatic_rotation_disabled: async (r) => {
      const k = await createKey();
      r.compare('rotate-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
      r.compare('rotation-status-response-after-rotation', await observe(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))));
    },
    test_rotate_key_on_demand_with_symmetric_key_and_automatic_rotation_enabled: async (r) => {
      const k = await createKey();
      await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId }));
      const before = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }));
      r.compare('rotate-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
      const status = await observe(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId })));
      assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))).NextRotationDate?.getTime(), before.NextRotationDate?.getTime());
      r.compare('rotation-status-response-after-rotation', status);
    },
    test_rotate_on_demand_returns_arn_for_key_id: async (r) => {
      const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
      const o = await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId })));
      r.compare('rotate-on-demand-aws-key', o);
      assert.equal(o.KeyId, k.Arn);
    },
  };
}
