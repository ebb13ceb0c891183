// boto3's `kms` client with asymmetric and HMAC keys (issue 19's boto3 flows). The flow
// (fixtures/kms_boto3_asymmetric_flow.py) signs, verifies, makes MACs, encrypts with RSA
// OAEP and makes a data key pair; this file checks the signatures offline with Node's
// crypto and the public keys the flow fetched, and holds every expectation.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, constants, verify } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, runPythonFlow, type PythonFlowRun } from './support.js';

type Step = { ok: boolean; error?: string; trace?: string } & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let srv: TestServer;
let run: PythonFlowRun<Step>;
const MESSAGE = Buffer.from('signed by boto3 through Coffer');
const b64 = (s: string) => Buffer.from(s, 'base64');

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<Step>('kms_boto3_asymmetric_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET], 60_000);
});
after(async () => srv?.stop());

function stepOf(name: string): Step {
  const s = run.steps[name];
  assert.ok(s, `step ${name} did not run; stderr: ${run.stderr}`);
  assert.ok(s.ok, `step ${name} failed: ${s.error}\n${s.trace ?? ''}`);
  return s;
}

test('the boto3 asymmetric flow runs to the end', () => {
  assert.equal(run.code, 0, run.stderr);
});

test('boto3: an RSA-PSS signature from Sign verifies offline with GetPublicKey\'s key, Verify agrees, and a changed message is KMSInvalidSignatureException', () => {
  const s = stepOf('rsa_pss_sign_verify');
  assert.equal(s.spec, 'RSA_2048');
  assert.ok(s.signingAlgorithms.includes('RSASSA_PSS_SHA_256'));
  assert.deepEqual([s.pubSpec, s.pubUsage, s.algorithm, s.valid], ['RSA_2048', 'SIGN_VERIFY', 'RSASSA_PSS_SHA_256', true]);
  const key = createPublicKey({ key: b64(s.publicKey), format: 'der', type: 'spki' });
  assert.ok(verify('sha256', MESSAGE, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, b64(s.signature)));
  assert.ok(!verify('sha256', Buffer.concat([MESSAGE, Buffer.from('!')]), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, b64(s.signature)));
  assert.equal(s.tamperedCode, 'KMSInvalidSignatureException');
});

test('boto3: an ECDSA signature over a SHA-256 digest verifies offline over the message; a short digest is refused', () => {
  const s = stepOf('ecdsa_digest_sign');
  const key = createPublicKey({ key: b64(s.publicKey), format: 'der', type: 'spki' });
  assert.ok(verify('sha256', MESSAGE, key, b64(s.signature)));
  assert.equal(s.shortDigestCode, 'ValidationException');
});

test('boto3: GenerateMac / VerifyMac with an HMAC_256 key; a changed message is KMSInvalidMacException', () => {
  const s = stepOf('hmac');
  assert.deepEqual([s.macLength, s.valid, s.tamperedCode], [32, true, 'KMSInvalidMacException']);
  assert.deepEqual(s.macAlgorithms, ['HMAC_SHA_256']);
});

test('boto3: RSA OAEP Encrypt/Decrypt round-trips; GenerateDataKey under an RSA key is InvalidKeyUsageException', () => {
  const s = stepOf('rsa_oaep');
  assert.deepEqual([s.ciphertextLength, s.plaintext, s.generateDataKeyCode], [256, 'oaep plaintext', 'InvalidKeyUsageException']);
});

test('boto3: GenerateDataKeyPair gives a P-256 pair whose private key matches its public key and decrypts back under its context', () => {
  const s = stepOf('data_key_pair');
  assert.equal(s.decryptedMatches, true);
  const priv = createPrivateKey({ key: b64(s.privateKey), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  assert.ok(Buffer.from(pub).equals(b64(s.publicKey)));
});
