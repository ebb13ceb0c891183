// The real AWS CLI (v1) importing key material: create-key --origin EXTERNAL,
// get-parameters-for-import (the public key and token as base64 in the JSON output),
// material wrapped by openssl pkeyutl (OAEP-SHA-256), import-key-material through fileb://
// files, then encrypt/decrypt round trip through the CLI, delete-imported-key-material, and
// the error codes a script sees (a used token, different material).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv } from './aws-cli-runner.js';

const run = promisify(execFile);
let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

const { json, fails } = awsCli<Record<string, string>>(() => ({ endpoint: srv.url, env, output: 'json' }));

const file = (name: string) => path.join(work, name);

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-kms-cli-import-'));
  env = awsCliEnv(work, { extra: { AWS_MAX_ATTEMPTS: '1' } });
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function parameters(keyId: string, tag: string) {
  const p = await json<{ KeyId: string; PublicKey: string; ImportToken: string; ParametersValidTo: number | string }>(
    'kms', 'get-parameters-for-import', '--key-id', keyId, '--wrapping-algorithm', 'RSAES_OAEP_SHA_256', '--wrapping-key-spec', 'RSA_2048');
  await fs.writeFile(file(`wrapping-${tag}.der`), Buffer.from(p.PublicKey, 'base64'));
  await fs.writeFile(file(`token-${tag}.bin`), Buffer.from(p.ImportToken, 'base64'));
  return p;
}

async function wrap(material: string, tag: string): Promise<void> {
  await run('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', file(`wrapping-${tag}.der`), '-keyform', 'DER',
    '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256', '-in', file(material), '-out', file(`encrypted-${tag}.bin`)]);
}

const importArgs = (keyId: string, tag: string) => ['kms', 'import-key-material', '--key-id', keyId, '--encrypted-key-material', `fileb://${file(`encrypted-${tag}.bin`)}`,
  '--import-token', `fileb://${file(`token-${tag}.bin`)}`, '--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE'];

test('create-key --origin EXTERNAL, get-parameters-for-import, openssl wrap, import-key-material, encrypt/decrypt, delete and re-import through the CLI', async () => {
  const created = await json<{ KeyMetadata: { KeyId: string; Arn: string; KeyState: string; Origin: string } }>('kms', 'create-key', '--origin', 'EXTERNAL', '--description', 'cli byok');
  const keyId = created.KeyMetadata.KeyId;
  assert.equal(created.KeyMetadata.KeyState, 'PendingImport');
  assert.equal(created.KeyMetadata.Origin, 'EXTERNAL');

  const p = await parameters(keyId, 'a');
  assert.equal(p.KeyId, created.KeyMetadata.Arn);
  await fs.writeFile(file('material.bin'), randomBytes(32));
  await wrap('material.bin', 'a');
  const imported = await json<{ KeyId: string; KeyMaterialId: string }>(...importArgs(keyId, 'a'));
  assert.match(imported.KeyMaterialId, /^[0-9a-f]{64}$/);
  await fails('InvalidImportTokenException', ...importArgs(keyId, 'a'));

  const described = await json<{ KeyMetadata: { KeyState: string; ExpirationModel: string } }>('kms', 'describe-key', '--key-id', keyId);
  assert.equal(described.KeyMetadata.KeyState, 'Enabled');
  assert.equal(described.KeyMetadata.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');

  await fs.writeFile(file('plain.txt'), 'through the CLI with imported material');
  const enc = await json<{ CiphertextBlob: string }>('kms', 'encrypt', '--key-id', keyId, '--plaintext', `fileb://${file('plain.txt')}`);
  await fs.writeFile(file('ct.bin'), Buffer.from(enc.CiphertextBlob, 'base64'));
  const dec = await json<{ Plaintext: string }>('kms', 'decrypt', '--ciphertext-blob', `fileb://${file('ct.bin')}`);
  assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'through the CLI with imported material');

  await json('kms', 'delete-imported-key-material', '--key-id', keyId);
  await fails('KMSInvalidStateException', 'kms', 'decrypt', '--ciphertext-blob', `fileb://${file('ct.bin')}`);
  // Different material is refused; the same material brings the ciphertext back.
  await parameters(keyId, 'b');
  await fs.writeFile(file('other.bin'), randomBytes(32));
  await wrap('other.bin', 'b');
  await fails('IncorrectKeyMaterialException', ...importArgs(keyId, 'b'));
  await parameters(keyId, 'c');
  await wrap('material.bin', 'c');
  await json(...importArgs(keyId, 'c'));
  const again = await json<{ Plaintext: string }>('kms', 'decrypt', '--ciphertext-blob', `fileb://${file('ct.bin')}`);
  assert.equal(Buffer.from(again.Plaintext, 'base64').toString(), 'through the CLI with imported material');
});
