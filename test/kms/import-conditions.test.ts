// The condition keys of imported key material and key agreement reach the policy engine
// through the one audited path (callKms → operation → KmsService.authorize): identity
// policies that allow kms:* but deny on kms:WrappingAlgorithm, kms:WrappingKeySpec,
// kms:ExpirationModel, kms:ValidTo, kms:KeyOrigin (CreateKey) and kms:KeyAgreementAlgorithm
// refuse exactly the requests that match, and let the others through.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { callKms } from '../../src/kms/dispatch.js';
import type { KmsService } from '../../src/kms/service.js';
import { callerFor, serviceWithIdentityPolicies, userPrincipal } from './fixtures.js';

let srv: TestServer;
let svc: KmsService;
let acct: string;

const allowAll = { Effect: 'Allow', Action: 'kms:*', Resource: '*' };
const deny = (action: string, condition: Record<string, Record<string, string>>) => ({ Version: '2012-10-17', Statement: [allowAll, { Effect: 'Deny', Action: action, Resource: '*', Condition: condition }] });

before(async () => {
  srv = await startTestServer();
  acct = srv.coffer.kms.accountId;
  svc = serviceWithIdentityPolicies(srv.coffer, {
    wrapper: [deny('kms:GetParametersForImport', { StringEquals: { 'kms:WrappingAlgorithm': 'RSAES_OAEP_SHA_1' } }), deny('kms:GetParametersForImport', { StringEquals: { 'kms:WrappingKeySpec': 'RSA_3072' } })],
    expirer: [deny('kms:ImportKeyMaterial', { StringEquals: { 'kms:ExpirationModel': 'KEY_MATERIAL_DOES_NOT_EXPIRE' } })],
    shortlived: [deny('kms:ImportKeyMaterial', { NumericGreaterThan: { 'kms:ValidTo': String(Math.floor(Date.now() / 1000) + 86_400) } })],
    creator: [deny('kms:CreateKey', { StringEquals: { 'kms:KeyOrigin': 'EXTERNAL' } })],
    agreer: [deny('kms:DeriveSharedSecret', { StringEquals: { 'kms:KeyAgreementAlgorithm': 'ECDH' } })],
  });
});
after(async () => {
  await srv?.stop();
});

const as = (name: string) => callerFor(userPrincipal(acct, name));
async function refused(p: Promise<unknown>, action: string): Promise<void> {
  await assert.rejects(p, (e: { name: string; message: string }) => {
    assert.equal(e.name, 'AccessDeniedException', e.message);
    assert.match(e.message, new RegExp(`not authorized to perform: ${action} `));
    return true;
  });
}

async function externalKey(name: string): Promise<string> {
  const out = (await callKms(svc, as(name), 'CreateKey', { Origin: 'EXTERNAL' })) as { KeyMetadata: { KeyId: string } };
  return out.KeyMetadata.KeyId;
}

test('kms:WrappingAlgorithm and kms:WrappingKeySpec decide GetParametersForImport', async () => {
  const keyId = await externalKey('wrapper');
  await refused(callKms(svc, as('wrapper'), 'GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }), 'kms:GetParametersForImport');
  await refused(callKms(svc, as('wrapper'), 'GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_3072' }), 'kms:GetParametersForImport');
  const ok = await callKms(svc, as('wrapper'), 'GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
  assert.ok(Buffer.isBuffer(ok.ImportToken));
});

async function importInput(name: string, keyId: string, extra: Record<string, unknown>) {
  const p = (await callKms(svc, as(name), 'GetParametersForImport', { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })) as { ImportToken: Buffer; PublicKey: Buffer };
  const enc = publicEncrypt({ key: createPublicKey({ key: p.PublicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
  return { KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ...extra };
}

test('kms:ExpirationModel and kms:ValidTo (epoch seconds) decide ImportKeyMaterial', async () => {
  const k1 = await externalKey('expirer');
  await refused(callKms(svc, as('expirer'), 'ImportKeyMaterial', await importInput('expirer', k1, { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })), 'kms:ImportKeyMaterial');
  await callKms(svc, as('expirer'), 'ImportKeyMaterial', await importInput('expirer', k1, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: Date.now() / 1000 + 3600 }));

  const k2 = await externalKey('shortlived');
  await refused(callKms(svc, as('shortlived'), 'ImportKeyMaterial', await importInput('shortlived', k2, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: Date.now() / 1000 + 10 * 86_400 })), 'kms:ImportKeyMaterial');
  await callKms(svc, as('shortlived'), 'ImportKeyMaterial', await importInput('shortlived', k2, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: Date.now() / 1000 + 3600 }));
});

test('kms:KeyOrigin decides CreateKey', async () => {
  await refused(callKms(svc, as('creator'), 'CreateKey', { Origin: 'EXTERNAL' }), 'kms:CreateKey');
  await callKms(svc, as('creator'), 'CreateKey', {});
});

test('kms:KeyAgreementAlgorithm decides DeriveSharedSecret', async () => {
  const key = (await callKms(svc, as('agreer'), 'CreateKey', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' })) as { KeyMetadata: { KeyId: string } };
  const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
  await refused(callKms(svc, as('agreer'), 'DeriveSharedSecret', { KeyId: key.KeyMetadata.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer }), 'kms:DeriveSharedSecret');
  // Another user without the deny derives with the same key.
  const other = serviceWithIdentityPolicies(srv.coffer, { free: [{ Version: '2012-10-17', Statement: [allowAll] }] });
  const out = await callKms(other, as('free'), 'DeriveSharedSecret', { KeyId: key.KeyMetadata.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer });
  assert.equal((out.SharedSecret as Buffer).length, 32);
});
