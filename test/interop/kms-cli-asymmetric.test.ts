// The real AWS CLI (v1) with asymmetric and HMAC keys: create-key --key-spec, sign and
// verify through fileb:// files (RAW and DIGEST), get-public-key whose DER verifies the CLI's
// signature offline, generate-mac and verify-mac, and the error codes a script sees.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv } from './aws-cli-runner.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

const { json, fails } = awsCli<Record<string, string>>(() => ({ endpoint: srv.url, env, output: 'json' }));

const file = (name: string) => path.join(work, name);

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-kms-cli-asym-'));
  env = awsCliEnv(work, { extra: { AWS_MAX_ATTEMPTS: '1' } });
  await fs.writeFile(file('msg'), 'a message signed through the AWS CLI');
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('create-key --key-spec ECC_NIST_P256, sign, get-public-key: the signature verifies offline, verify says so, a changed message fails', async () => {
  const k = await json<{ KeyMetadata: { KeyId: string; KeySpec: string; SigningAlgorithms: string[] } }>('kms', 'create-key', '--key-spec', 'ECC_NIST_P256', '--key-usage', 'SIGN_VERIFY');
  assert.equal(k.KeyMetadata.KeySpec, 'ECC_NIST_P256');
  assert.deepEqual(k.KeyMetadata.SigningAlgorithms, ['ECDSA_SHA_256']);
  const id = k.KeyMetadata.KeyId;
  const s = await json('kms', 'sign', '--key-id', id, '--message', `fileb://${file('msg')}`, '--message-type', 'RAW', '--signing-algorithm', 'ECDSA_SHA_256');
  assert.equal(s.SigningAlgorithm, 'ECDSA_SHA_256');
  const sig = Buffer.from(s.Signature!, 'base64');
  const pub = await json('kms', 'get-public-key', '--key-id', id);
  assert.equal(pub.KeyUsage, 'SIGN_VERIFY');
  const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!, 'base64'), format: 'der', type: 'spki' });
  assert.ok(verify('sha256', await fs.readFile(file('msg')), publicKey, sig));
  await fs.writeFile(file('sig'), sig);
  const v = await json<{ SignatureValid: boolean }>('kms', 'verify', '--key-id', id, '--message', `fileb://${file('msg')}`, '--signature', `fileb://${file('sig')}`, '--signing-algorithm', 'ECDSA_SHA_256');
  assert.equal(v.SignatureValid, true);
  await fs.writeFile(file('other'), 'another message');
  await fails('KMSInvalidSignatureException', 'kms', 'verify', '--key-id', id, '--message', `fileb://${file('other')}`, '--signature', `fileb://${file('sig')}`, '--signing-algorithm', 'ECDSA_SHA_256');
});

test('sign --message-type DIGEST with an RSA key: the signature is over the message the digest was made from', async () => {
  const k = await json<{ KeyMetadata: { KeyId: string } }>('kms', 'create-key', '--key-spec', 'RSA_2048', '--key-usage', 'SIGN_VERIFY');
  const message = await fs.readFile(file('msg'));
  await fs.writeFile(file('digest'), createHash('sha512').update(message).digest());
  const s = await json('kms', 'sign', '--key-id', k.KeyMetadata.KeyId, '--message', `fileb://${file('digest')}`, '--message-type', 'DIGEST', '--signing-algorithm', 'RSASSA_PKCS1_V1_5_SHA_512');
  const pub = await json('kms', 'get-public-key', '--key-id', k.KeyMetadata.KeyId);
  const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!, 'base64'), format: 'der', type: 'spki' });
  assert.ok(verify('sha512', message, publicKey, Buffer.from(s.Signature!, 'base64')));
  await fails('ValidationException', 'kms', 'sign', '--key-id', k.KeyMetadata.KeyId, '--message', `fileb://${file('msg')}`, '--message-type', 'DIGEST', '--signing-algorithm', 'RSASSA_PKCS1_V1_5_SHA_512');
});

test('generate-mac and verify-mac with an HMAC key; a changed MAC is KMSInvalidMacException', async () => {
  const k = await json<{ KeyMetadata: { KeyId: string; MacAlgorithms: string[] } }>('kms', 'create-key', '--key-spec', 'HMAC_384', '--key-usage', 'GENERATE_VERIFY_MAC');
  assert.deepEqual(k.KeyMetadata.MacAlgorithms, ['HMAC_SHA_384']);
  const g = await json('kms', 'generate-mac', '--key-id', k.KeyMetadata.KeyId, '--message', `fileb://${file('msg')}`, '--mac-algorithm', 'HMAC_SHA_384');
  const mac = Buffer.from(g.Mac!, 'base64');
  assert.equal(mac.length, 48);
  await fs.writeFile(file('mac'), mac);
  const v = await json<{ MacValid: boolean }>('kms', 'verify-mac', '--key-id', k.KeyMetadata.KeyId, '--message', `fileb://${file('msg')}`, '--mac-algorithm', 'HMAC_SHA_384', '--mac', `fileb://${file('mac')}`);
  assert.equal(v.MacValid, true);
  mac[0]! ^= 1;
  await fs.writeFile(file('mac'), mac);
  await fails('KMSInvalidMacException', 'kms', 'verify-mac', '--key-id', k.KeyMetadata.KeyId, '--message', `fileb://${file('msg')}`, '--mac-algorithm', 'HMAC_SHA_384', '--mac', `fileb://${file('mac')}`);
  await fails('InvalidKeyUsageException', 'kms', 'sign', '--key-id', k.KeyMetadata.KeyId, '--message', `fileb://${file('msg')}`, '--signing-algorithm', 'ECDSA_SHA_256');
});
