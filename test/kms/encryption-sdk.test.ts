// The AWS Encryption SDK for JavaScript with a KMS keyring against Coffer's KMS: the
// SDK calls GenerateDataKey, Encrypt and Decrypt (with KeyId and its own encryption
// context) the way it would against AWS, so this pins wire compatibility of the data
// plane with a real consumer, including how it sees a disabled key.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { KMS } from '@aws-sdk/client-kms';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';
import { createTestKey, setKeyState } from './fixture-key.js';
import type { KmsKeyRecord } from '../../src/kms/store/types.js';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

let srv: TestServer;
let keyA: KmsKeyRecord;
let keyB: KmsKeyRecord;
const clients: KMS[] = [];

before(async () => {
  srv = await startTestServer();
  keyA = await createTestKey(srv, 'encryption sdk generator');
  keyB = await createTestKey(srv, 'encryption sdk second key');
});
after(async () => {
  for (const c of clients) c.destroy();
  await srv?.stop();
});

/** A keyring whose KMS clients (the aggregated KMS class the keyring expects) talk to the test server. */
function keyring(generatorKeyId?: string, keyIds: string[] = []): KmsKeyringNode {
  return new KmsKeyringNode({
    generatorKeyId,
    keyIds,
    clientProvider: (region: string) => {
      const c = new KMS({ endpoint: srv.url, region, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      clients.push(c);
      return c;
    },
  });
}

describe('AWS Encryption SDK with a KMS keyring', () => {
  it('encrypts and decrypts a message through GenerateDataKey and Decrypt', async () => {
    const plaintext = randomBytes(100_000);
    const context = { purpose: 'coffer-test', tenant: 't1' };
    const { result, messageHeader } = await encrypt(keyring(keyA.arn), plaintext, { encryptionContext: context });
    assert.equal(messageHeader.encryptedDataKeys.length, 1);
    assert.equal(messageHeader.encryptedDataKeys[0]!.providerInfo, keyA.arn);
    assert.ok(!result.includes(plaintext.subarray(0, 64)), 'the message does not hold the plaintext');

    const out = await decrypt(keyring(keyA.arn), result);
    assert.deepEqual(Buffer.from(out.plaintext), plaintext);
    assert.equal(out.messageHeader.encryptionContext.purpose, 'coffer-test');
    assert.equal(out.messageHeader.encryptionContext.tenant, 't1');
  });

  it('wraps the data key under a second key with Encrypt; either key alone decrypts', async () => {
    const plaintext = Buffer.from('two keys, one message');
    const { result, messageHeader } = await encrypt(keyring(keyA.arn, [keyB.arn]), plaintext);
    assert.deepEqual(messageHeader.encryptedDataKeys.map((k) => k.providerInfo), [keyA.arn, keyB.arn]);
    assert.deepEqual(Buffer.from((await decrypt(keyring(undefined, [keyB.arn]), result)).plaintext), plaintext);
    assert.deepEqual(Buffer.from((await decrypt(keyring(keyA.arn), result)).plaintext), plaintext);
  });

  it('fails to decrypt with a different key, and with the right key once it is disabled', async () => {
    const k = await createTestKey(srv, 'encryption sdk, soon disabled');
    const { result } = await encrypt(keyring(k.arn), Buffer.from('locked away'));
    // A keyring for another (disabled) key has no encrypted data key it may open; the
    // SDK says so by having no data key.
    const stranger = await createTestKey(srv, 'encryption sdk stranger');
    await setKeyState(srv, stranger.keyId, 'Disabled');
    await assert.rejects(() => decrypt(keyring(stranger.arn), result), /unencryptedDataKey has not been set/);
    // The right key, disabled: Coffer answers DisabledException and the SDK gives up.
    await setKeyState(srv, k.keyId, 'Disabled');
    await assert.rejects(
      () => decrypt(keyring(k.arn), result),
      (e: Error) => /Unable to decrypt data key/.test(e.message) && /is disabled/.test(e.message),
    );
    await setKeyState(srv, k.keyId, 'Enabled');
    assert.equal(Buffer.from((await decrypt(keyring(k.arn), result)).plaintext).toString(), 'locked away');
  });
});
