// No plaintext, data key or key material at rest or in logs: runs a batch of data-plane
// calls with known plaintexts (over HTTP and in-process), collects every data key and
// random value Coffer handed out, imported key material (accepted and refused), the
// wrapping private keys inside import tokens and an ECDH shared secret, then scans every file under the data dir (raw bytes,
// recursively, while running and after shutdown), the audit log and a trace-level
// server log for those bytes in raw, hex, base64 and base64url form.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ReEncryptCommand,
} from '@aws-sdk/client-kms';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { callKms } from '../../src/kms/dispatch.js';
import { openImportToken } from '../../src/kms/format/import-token.js';
import type { Caller } from '../../src/kms/service.js';
import { ROOT_KEY_ID, ROOT_SECRET, type TestServer } from '../helpers/server.js';
import { createTestKey } from './fixture-key.js';

let base = '';
let dataDir = '';
let logPath = '';
let coffer: RunningCoffer;
let kms: KMSClient;
let closed = false;
/** Every secret value seen: known plaintexts, returned data keys and random bytes, key material. */
const secrets: { what: string; bytes: Buffer }[] = [];

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'coffer-no-secrets-'));
  dataDir = join(base, 'data');
  logPath = join(base, 'server.log');
  const config = loadConfig({ port: 0, dataDir, fsync: false }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET });
  coffer = await startCoffer(config, pino({ level: 'trace' }, pino.destination({ dest: logPath, sync: true })));
  kms = new KMSClient({ endpoint: coffer.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
});
after(async () => {
  kms?.destroy();
  if (coffer && !closed) await coffer.close();
  await rm(base, { recursive: true, force: true });
});

function keep(what: string, b: Uint8Array | undefined): Buffer {
  assert.ok(b && b.length > 0, `${what} is present`);
  const copy = Buffer.from(b);
  secrets.push({ what, bytes: copy });
  return copy;
}

/** Forms a secret could take on disk or in a log line. Needles of 16+ bytes only, so chance matches are out of the question. */
function needles(b: Buffer): Buffer[] {
  const b64 = b.toString('base64');
  const forms = [b, Buffer.from(b.toString('hex')), Buffer.from(b.toString('hex').toUpperCase()), Buffer.from(b64), Buffer.from(b.toString('base64url'))];
  // base64 of a buffer is position dependent; the middle of it is what survives inside a larger base64 text.
  if (b64.length > 24) forms.push(Buffer.from(b64.slice(4, -4)));
  return forms.filter((n) => n.length >= 16);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function scan(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const p of paths) {
    const content = await readFile(p);
    for (const s of secrets) {
      for (const n of needles(s.bytes)) if (content.includes(n)) found.push(`${s.what} in ${p}`);
    }
  }
  return found;
}

describe('no secrets at rest or in logs', () => {
  it('runs a batch of data-plane calls and finds none of their secrets in the data dir, audit log or trace log', async () => {
    const srvLike = { coffer, kms } as unknown as TestServer;
    const key = await createTestKey(srvLike, 'no-secrets key');
    const second = await createTestKey(srvLike, 'no-secrets second key');
    const ctx = { bucket: 'no-secrets', key: 'object-1' };

    for (let i = 0; i < 5; i++) {
      const plaintext = keep(`known plaintext ${i}`, Buffer.from(`known-plaintext-${i}-${randomBytes(16).toString('hex')}`));
      const enc = await kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: plaintext, EncryptionContext: ctx }));
      const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx }));
      assert.deepEqual(Buffer.from(dec.Plaintext!), plaintext);
      const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ctx, DestinationKeyId: second.keyId }));
      await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob }));
      // Failures must not leak either (the error path logs and audits too).
      await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { wrong: 'context' } })));

      const gdk = await kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', EncryptionContext: ctx }));
      keep(`data key ${i}`, gdk.Plaintext);
      const gdkDec = await kms.send(new DecryptCommand({ CiphertextBlob: gdk.CiphertextBlob, EncryptionContext: ctx }));
      assert.deepEqual(Buffer.from(gdkDec.Plaintext!), Buffer.from(gdk.Plaintext!));

      const hidden = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.keyId, NumberOfBytes: 64 }));
      keep(`data key without plaintext ${i}`, (await kms.send(new DecryptCommand({ CiphertextBlob: hidden.CiphertextBlob }))).Plaintext);

      keep(`random ${i}`, (await kms.send(new GenerateRandomCommand({ NumberOfBytes: 48 }))).Plaintext);
    }

    // The in-process path S3 uses.
    const caller: Caller = { principal: coffer.root.credential.principal, requestId: 'no-secrets', secureTransport: false, viaService: 's3.us-east-1.amazonaws.com' };
    for (let i = 0; i < 5; i++) {
      const out = await callKms(coffer.kms, caller, 'GenerateDataKey', { KeyId: key.arn, KeySpec: 'AES_256', EncryptionContext: { 'aws:s3:arn': `arn:aws:s3:::b/o${i}` } });
      keep(`in-process data key ${i}`, out.Plaintext as Buffer);
      const plaintext = keep(`in-process plaintext ${i}`, Buffer.from(`in-process-plaintext-${randomBytes(16).toString('hex')}`));
      const enc = await callKms(coffer.kms, caller, 'Encrypt', { KeyId: key.keyId, Plaintext: plaintext });
      await callKms(coffer.kms, caller, 'Decrypt', { CiphertextBlob: enc.CiphertextBlob });
    }

    // The KMS key material itself must only exist sealed.
    for (const k of [key, second]) keep(`key material of ${k.keyId}`, Buffer.from(await coffer.kms.material((await coffer.kms.store.getKey(k.keyId))!)));

    // Imported material, the wrapping private key inside the import token, and an ECDH shared secret.
    for (const [spec, usage, length] of [['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 32], ['HMAC_512', 'GENERATE_VERIFY_MAC', 100]] as const) {
      const ext = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: spec, KeyUsage: usage }))).KeyMetadata!;
      const p = await kms.send(new GetParametersForImportCommand({ KeyId: ext.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      keep(`wrapping private key of ${ext.KeyId}`, (await openImportToken(coffer.kms.rootKey, Buffer.from(p.ImportToken!))).wrappingKeyPkcs8);
      const material = keep(`imported ${spec} material`, randomBytes(length));
      const wrapped = publicEncrypt({ key: createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
      await kms.send(new ImportKeyMaterialCommand({ KeyId: ext.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
      // A refused re-import (different material) must not leak the material either.
      const other = keep(`refused ${spec} material`, randomBytes(length));
      const p2 = await kms.send(new GetParametersForImportCommand({ KeyId: ext.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const wrapped2 = publicEncrypt({ key: createPublicKey({ key: Buffer.from(p2.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, other);
      await assert.rejects(kms.send(new ImportKeyMaterialCommand({ KeyId: ext.KeyId, ImportToken: p2.ImportToken, EncryptedKeyMaterial: wrapped2, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' })));
    }
    const agreement = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
    keep('ECDH shared secret', (await kms.send(new DeriveSharedSecretCommand({ KeyId: agreement.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer }))).SharedSecret);

    await coffer.audit.flush();
    const audit = await readFile(join(dataDir, 'audit', 'kms.log'), 'utf8');
    assert.match(audit, /"eventName":"GenerateDataKey"/, 'the audit log recorded the batch');
    assert.ok((await readFile(logPath)).length > 0, 'the trace log has content');

    const whileRunning = await scan([...(await filesUnder(dataDir)), logPath]);
    assert.deepEqual(whileRunning, [], `secrets found while running:\n${whileRunning.join('\n')}`);
    await coffer.close();
    closed = true;
    const afterClose = await scan([...(await filesUnder(dataDir)), logPath]);
    assert.deepEqual(afterClose, [], `secrets found after shutdown:\n${afterClose.join('\n')}`);
    assert.equal(secrets.length, 39, `scanned for ${secrets.length} secrets`);
  });

  it('the scan finds a secret that is there (the test can fail)', async () => {
    const probe = join(base, 'probe.bin');
    const secret = randomBytes(32);
    for (const form of [secret, Buffer.from(`{"Plaintext":"${secret.toString('base64')}"}`), Buffer.from(`x${secret.toString('hex')}y`)]) {
      await writeFile(probe, Buffer.concat([randomBytes(100), form, randomBytes(100)]));
      secrets.push({ what: 'probe', bytes: secret });
      assert.notDeepEqual(await scan([probe]), []);
      secrets.pop();
    }
  });
});
