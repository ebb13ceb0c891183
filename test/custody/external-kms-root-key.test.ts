// The external-KMS root-key provider against a second, real Coffer server acting as the
// external KMS: the contract suite; a main server whose root key is held there (SSE-KMS
// and SSE-S3 objects, KMS Encrypt/Decrypt, an IAM user's sign-in, across a restart); the
// key disabled there failing the main server closed (fresh start: a clear refusal naming
// the endpoint; mid-run: KMSInternalException, and service again once it is enabled).

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { RootKeyConfigError, RootKeyUnavailableError } from '../../src/custody/errors.js';
import type { RootKeyRing } from '../../src/custody/root-key-ring.js';
import { ExternalKmsRootKeyProvider, EXTERNAL_KMS_FILE } from '../../src/custody/external-kms-root-key.js';
import { externalKmsSettings } from '../../src/custody/external-kms-settings.js';
import { KmsJsonClient } from '../../src/kms/external/kms-json-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { kmsOn, userFactory } from '../helpers/sse-principals.js';
import { rejectsWith, runRootKeyContract } from './root-key.contract.js';
import { SoftwareRootKey } from '../../src/custody/software-root-key.js';
import { tempDirs } from './tmp-dirs.js';

let external: TestServer;
let keyId: string;
let env: Record<string, string>;
const dir = tempDirs('external-kms');

before(async () => {
  external = await startTestServer();
  const key = await external.kms.send(new CreateKeyCommand({ Description: 'coffer root keys' }));
  keyId = key.KeyMetadata!.KeyId!;
  // Coffer's own credentials there: a user allowed only the two calls the provider makes.
  const users = userFactory(external);
  const u = await users.create('coffer-custody', { kms: [kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], key.KeyMetadata!.Arn!)] });
  users.destroy();
  const secretFile = path.join(path.dirname(dir()), 'external-kms.secret');
  await fs.writeFile(secretFile, `${u.credentials.secretAccessKey}\n`, { mode: 0o600 });
  env = {
    COFFER_EXTERNAL_KMS_ENDPOINT: external.url,
    COFFER_EXTERNAL_KMS_KEY_ID: keyId,
    COFFER_EXTERNAL_KMS_ACCESS_KEY_ID: u.credentials.accessKeyId,
    COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE: secretFile,
  };
});
after(async () => external?.stop());

const openProvider = async (dataDir: string, over: Record<string, string> = {}) => {
  const s = externalKmsSettings({ ...env, ...over });
  return ExternalKmsRootKeyProvider.open(dataDir, s, new KmsJsonClient(s), { create: true });
};

runRootKeyContract('ExternalKmsRootKeyProvider (a second Coffer)', async () => {
  const { provider } = await openProvider(dir());
  provider.close();
  return provider;
});

describe('ExternalKmsRootKeyProvider', () => {
  it('wraps in the v1 format with kind 0x04 and the usual fingerprint (spec: 32 bytes of 0x11 -> 06dcdceee57fdb8f); a kind-key root of the same bytes refuses it', async () => {
    const k = new SoftwareRootKey('external-kms', Buffer.alloc(32, 0x11));
    assert.equal(k.id, 'external-kms:06dcdceee57fdb8f');
    const w = await k.wrap(Buffer.from('secret'), Buffer.alloc(0));
    assert.equal(w.subarray(0, 10).toString('hex'), '010406dcdceee57fdb8f');
    await rejectsWith(new SoftwareRootKey('key', Buffer.alloc(32, 0x11)).unwrap(w, Buffer.alloc(0)), 'wrong-key');
  });

  it('stores only the ciphertext of the data key, bound to a deployment id, and reopens the same key', async () => {
    const d = dir();
    const a = await openProvider(d);
    a.provider.close();
    assert.equal(a.created, true);
    assert.match(a.provider.id, /^external-kms:[0-9a-f]{16}$/);
    const file = JSON.parse(await fs.readFile(path.join(d, EXTERNAL_KMS_FILE), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(file).sort(), ['ciphertext', 'deployment', 'endpoint', 'keyId', 'version']);
    assert.match(file.deployment!, /^[0-9a-f-]{36}$/);
    const w = await a.provider.wrap(Buffer.from('sealed'), Buffer.from('aad'));
    const b = await openProvider(d);
    b.provider.close();
    assert.equal(b.created, false);
    assert.equal(b.provider.id, a.provider.id);
    assert.equal((await b.provider.unwrap(w, Buffer.from('aad'))).toString(), 'sealed');
    // The ciphertext opens only with this deployment's encryption context.
    const s = externalKmsSettings(env);
    await assert.rejects(new KmsJsonClient(s).decrypt(keyId, Buffer.from(file.ciphertext!, 'base64'), { 'coffer:deployment': 'another', 'coffer:purpose': 'root-key' }), /InvalidCiphertextException/);
  });

  it('an unreachable endpoint, a wrong key, a wrong secret: start errors that name the endpoint, never the secret', async () => {
    await assert.rejects(openProvider(dir(), { COFFER_EXTERNAL_KMS_ENDPOINT: 'http://127.0.0.1:1' }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, /^cannot reach the external KMS at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)$/);
      return true;
    });
    await assert.rejects(openProvider(dir(), { COFFER_EXTERNAL_KMS_KEY_ID: '11111111-2222-3333-4444-555555555555' }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, new RegExp(`^the external KMS at ${external.url} refused GenerateDataKey with key 11111111-2222-3333-4444-555555555555: NotFoundException`));
      return true;
    });
    const wrong = 'wrong-secret-0123456789abcdef';
    await assert.rejects(openProvider(dir(), { COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE: '', COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY: wrong }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, /refused GenerateDataKey .*: (InvalidSignatureException|IncompleteSignature|UnrecognizedClientException|AccessDeniedException)/);
      assert.ok(!e.message.includes(wrong) && !(e.hint ?? '').includes(wrong));
      return true;
    });
  });

  it('a disabled key closes a running provider within one check, and it opens again once the key is enabled', async () => {
    const d = dir();
    const { provider } = await openProvider(d, { COFFER_EXTERNAL_KMS_CHECK_SECONDS: '0.2' });
    try {
      const w = await provider.wrap(Buffer.from('x'), Buffer.alloc(0));
      await external.kms.send(new DisableKeyCommand({ KeyId: keyId }));
      try {
        await waitFor(() => provider.failure !== undefined);
        assert.match(provider.failure!, /DisabledException/);
        await assert.rejects(provider.unwrap(w, Buffer.alloc(0)), RootKeyUnavailableError);
        await assert.rejects(provider.wrap(Buffer.from('y'), Buffer.alloc(0)), /external KMS at .* no longer allows the root key \(DisabledException/);
      } finally {
        await external.kms.send(new EnableKeyCommand({ KeyId: keyId }));
      }
      await waitFor(() => provider.failure === undefined);
      assert.equal((await provider.unwrap(w, Buffer.alloc(0))).toString(), 'x');
    } finally {
      provider.close();
    }
  });
});

describe('a server whose root key is held by another Coffer', () => {
  it('serves SSE-KMS and SSE-S3 objects, KMS calls and IAM users across a restart; refuses a fresh start while the key is disabled', async () => {
    const dataDir = dir();
    let main = await startTestServer(env, { dataDir });
    let blob: Uint8Array;
    let user: { accessKeyId: string; secretAccessKey: string };
    try {
      assert.match(main.coffer.rootKey.id, /^external-kms:/);
      const k = (await main.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      blob = (await main.kms.send(new EncryptCommand({ KeyId: k, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      await main.s3.send(new CreateBucketCommand({ Bucket: 'ext' }));
      await main.s3.send(new PutObjectCommand({ Bucket: 'ext', Key: 'kms', Body: 'sse-kms body', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k }));
      await main.s3.send(new PutObjectCommand({ Bucket: 'ext', Key: 's3', Body: 'sse-s3 body', ServerSideEncryption: 'AES256' }));
      const users = userFactory(main);
      user = (await users.create('alice')).credentials;
      users.destroy();
    } finally {
      await main.stop();
    }
    const record = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; where: string };
    assert.match(record.rootKey, /^external-kms:[0-9a-f]{16}$/);
    assert.match(record.where, new RegExp(`^key arn:aws:kms:us-east-1:\\d{12}:key/${keyId} at ${external.url}$`));
    await assert.rejects(fs.stat(path.join(dataDir, 'root.key')), /ENOENT/);

    main = await startTestServer({ ...env, COFFER_EXTERNAL_KMS_CHECK_SECONDS: '0.2' }, { dataDir });
    try {
      assert.equal(main.coffer.rootKey.id, record.rootKey);
      // Mid-run: the key disabled there fails root-key use closed (KMSInternalException), until it is enabled again.
      const provider = (main.coffer.rootKey as RootKeyRing).sealing as ExternalKmsRootKeyProvider;
      await external.kms.send(new DisableKeyCommand({ KeyId: keyId }));
      try {
        await waitFor(() => provider.failure !== undefined);
        await assert.rejects(main.kms.send(new CreateKeyCommand({})), (e: Error) => e.name === 'KMSInternalException');
      } finally {
        await external.kms.send(new EnableKeyCommand({ KeyId: keyId }));
      }
      await waitFor(() => provider.failure === undefined);
      await main.kms.send(new CreateKeyCommand({}));
      assert.equal(Buffer.from((await main.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
      assert.equal(await (await main.s3.send(new GetObjectCommand({ Bucket: 'ext', Key: 'kms' }))).Body!.transformToString(), 'sse-kms body');
      assert.equal(await (await main.s3.send(new GetObjectCommand({ Bucket: 'ext', Key: 's3' }))).Body!.transformToString(), 'sse-s3 body');
      const sts = new STSClient({ endpoint: main.url, region: 'us-east-1', credentials: user });
      assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/alice$/);
      sts.destroy();
    } finally {
      await main.stop();
    }

    await external.kms.send(new DisableKeyCommand({ KeyId: keyId }));
    try {
      await assert.rejects(startTestServer(env, { dataDir }), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.match(e.message, new RegExp(`^the external KMS at ${external.url} refused Decrypt with key ${keyId}: DisabledException`));
        assert.match(e.hint ?? '', /enable the key in the external KMS/);
        return true;
      });
    } finally {
      await external.kms.send(new EnableKeyCommand({ KeyId: keyId }));
    }
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
