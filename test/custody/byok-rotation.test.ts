// Root-key rotation with imported key material: `coffer custody rotate` re-seals imported
// material like any other and skips the versions whose material was deleted (empty sealed
// bytes: nothing is sealed there); after it, the imported key still decrypts, and the key
// whose material was deleted takes the same material again and decrypts its old ciphertext.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, EncryptCommand, GetParametersForImportCommand, ImportKeyMaterialCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CLI_MAIN } from '../interop/support.js';
import { startTestServer } from '../helpers/server.js';
import { tempDirs } from './tmp-dirs.js';

const run = promisify(execFile);
const dir = tempDirs('byok-rotate');

async function importInto(kms: KMSClient, KeyId: string, material: Buffer): Promise<void> {
  const p = await kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const enc = publicEncrypt({ key: createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  await kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
}

describe('coffer custody rotate with imported key material', () => {
  it('re-seals imported material, skips deleted material, and both keys work after it', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    let s = await startTestServer({}, { dataDir });
    const kept = randomBytes(32);
    const deleted = randomBytes(32);
    let keptId: string;
    let deletedId: string;
    let keptBlob: Uint8Array;
    let deletedBlob: Uint8Array;
    try {
      keptId = (await s.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
      deletedId = (await s.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
      await importInto(s.kms, keptId, kept);
      await importInto(s.kms, deletedId, deleted);
      keptBlob = (await s.kms.send(new EncryptCommand({ KeyId: keptId, Plaintext: Buffer.from('kept') }))).CiphertextBlob!;
      deletedBlob = (await s.kms.send(new EncryptCommand({ KeyId: deletedId, Plaintext: Buffer.from('deleted') }))).CiphertextBlob!;
      await s.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: deletedId }));
    } finally {
      await s.stop();
    }
    const done = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir]);
    assert.match(done.stdout, /of 1 KMS key material versions/, 'the deleted version is not an item');
    s = await startTestServer({}, { dataDir });
    try {
      assert.equal(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: keptBlob }))).Plaintext!).toString(), 'kept');
      assert.equal((await s.kms.send(new DescribeKeyCommand({ KeyId: deletedId }))).KeyMetadata!.KeyState, 'PendingImport');
      await importInto(s.kms, deletedId, deleted);
      assert.equal(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: deletedBlob }))).Plaintext!).toString(), 'deleted');
    } finally {
      await s.stop();
    }
  });
});
