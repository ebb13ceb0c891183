// Issue 16 §2 end to end: the real server with its root key in a SoftHSM2 token. The key is
// made by `coffer custody init --pkcs11 --create-key`; SSE-KMS objects and KMS
// Encrypt/Decrypt work and survive a restart; the token going away mid-run fails KMS use
// closed (KMSInternalException, S3 500) and service resumes when it returns; nothing in the
// data directory is a root key.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import type { Pkcs11RootKeyProvider } from '../../src/custody/pkcs11-root-key.js';
import type { RootKeyRing } from '../../src/custody/root-key-ring.js';
import { CLI_MAIN } from '../interop/support.js';
import { startTestServer } from '../helpers/server.js';
import { makeSoftHsm, SOFTHSM_MODULE, skipWithoutSoftHsm, USER_PIN, type SoftHsm } from './softhsm.js';

const run = promisify(execFile);
const skip = skipWithoutSoftHsm();

describe('server with a PKCS#11 root key (SoftHSM2)', { skip }, () => {
  let hsm: SoftHsm;
  let dataDir: string;
  let env: Record<string, string>;
  before(async () => {
    hsm = await makeSoftHsm();
    hsm.initToken('coffer-e2e');
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-pkcs11-data-'));
    const pinFile = path.join(hsm.root, 'user.pin');
    await fs.writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    env = { COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: 'coffer-e2e', COFFER_PKCS11_PIN_FILE: pinFile };
  });
  after(async () => {
    await hsm?.remove();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('coffer custody init --pkcs11 --create-key makes a non-extractable key; the server uses it across a restart; no root key on disk', async () => {
    const init = await run(process.execPath, [CLI_MAIN, 'custody', 'init', '--pkcs11', '--create-key', '--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', 'coffer-e2e', '--pkcs11-pin-file', env.COFFER_PKCS11_PIN_FILE!], { env: { ...process.env } });
    assert.match(init.stdout, /^created root key pkcs11:[0-9a-f]{16} \(token "coffer-e2e", key label "coffer-root-key"\)\n  extractable: no, sensitive: yes, on the token: yes/);
    const rootKeyId = /pkcs11:[0-9a-f]{16}/.exec(init.stdout)![0];
    assert.ok(!init.stdout.includes(USER_PIN));
    const again = await run(process.execPath, [CLI_MAIN, 'custody', 'init', '--pkcs11', '--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', 'coffer-e2e', '--pkcs11-pin-file', env.COFFER_PKCS11_PIN_FILE!]);
    assert.match(again.stdout, new RegExp(`^found root key ${rootKeyId}`));

    let s = await startTestServer(env, { dataDir });
    let blob: Uint8Array;
    let dataKeyBlob: Uint8Array;
    let plaintextDataKey: Uint8Array;
    let keyId: string;
    try {
      assert.equal(s.coffer.rootKey.id, rootKeyId);
      assert.deepEqual(((s.coffer.rootKey as RootKeyRing).sealing as Pkcs11RootKeyProvider).attributes(), { extractable: false, sensitive: true, token: true });
      keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      const dk = await s.kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
      dataKeyBlob = dk.CiphertextBlob!;
      plaintextDataKey = dk.Plaintext!;
      await s.s3.send(new CreateBucketCommand({ Bucket: 'hsm-bucket' }));
      await s.s3.send(new PutObjectCommand({ Bucket: 'hsm-bucket', Key: 'kms', Body: 'sse-kms body', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
      await s.s3.send(new PutObjectCommand({ Bucket: 'hsm-bucket', Key: 's3', Body: 'sse-s3 body' }));
    } finally {
      await s.stop();
    }
    const record = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; where: string };
    assert.equal(record.rootKey, rootKeyId);
    assert.equal(record.where, 'token "coffer-e2e", key label "coffer-root-key"');

    s = await startTestServer(env, { dataDir });
    try {
      assert.equal(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
      assert.deepEqual(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: dataKeyBlob }))).Plaintext!), Buffer.from(plaintextDataKey));
      assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'hsm-bucket', Key: 'kms' }))).Body!.transformToString(), 'sse-kms body');
      assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'hsm-bucket', Key: 's3' }))).Body!.transformToString(), 'sse-s3 body');
    } finally {
      await s.stop();
    }

    // No root key in the data directory: no root.key or root.salt, and no file of a key's 32 bytes.
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await fs.readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) files.push(p);
      }
    };
    await walk(dataDir);
    assert.ok(files.length > 0);
    for (const f of files) {
      assert.notEqual(path.basename(f), 'root.key');
      assert.notEqual(path.basename(f), 'root.salt');
      assert.notEqual((await fs.stat(f)).size, 32, `${f} is 32 bytes, the size of a root key`);
    }
  });

  it('the token gone mid-run: KMS use that needs the token fails closed, then recovers when it returns', async () => {
    const s = await startTestServer(env, { dataDir });
    try {
      // A new key: its material is not cached yet, so using it needs the token.
      const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await fs.rename(hsm.tokenDir, `${hsm.tokenDir}.away`);
      try {
        await assert.rejects(s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(e.name, 'KMSInternalException');
          assert.equal(e.$metadata?.httpStatusCode, 500);
          return true;
        });
        await assert.rejects(s.s3.send(new PutObjectCommand({ Bucket: 'hsm-bucket', Key: 'during', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.ok([500, 503].includes(e.$metadata?.httpStatusCode ?? 0), `status ${e.$metadata?.httpStatusCode}`);
          return true;
        });
      } finally {
        await fs.rename(`${hsm.tokenDir}.away`, hsm.tokenDir);
      }
      const ct = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('back') }))).CiphertextBlob!;
      assert.equal(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: ct }))).Plaintext!).toString(), 'back');
      await s.s3.send(new PutObjectCommand({ Bucket: 'hsm-bucket', Key: 'after', Body: 'y', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    } finally {
      await s.stop();
    }
  });

  it('the PKCS#11 data directory started with root.key or COFFER_ROOT_KEY: refused, naming the token key it expects', async () => {
    await assert.rejects(startTestServer({}, { dataDir }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, /sealed under root key pkcs11:[0-9a-f]{16}, a key in a PKCS#11 token \(token "coffer-e2e", key label "coffer-root-key"\), but root\.key is configured/);
      return true;
    });
    await assert.rejects(fs.stat(path.join(dataDir, 'root.key')), { code: 'ENOENT' });
  });
});
