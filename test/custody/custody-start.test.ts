// Issue 16 §1, safety at start: a server started with another root key, without its
// root.key, or with a passphrase on a directory sealed under root.key refuses to start,
// naming the provider and fingerprint the data expects — instead of creating a new key,
// starting, and failing every encrypted read. Real servers on real data directories.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { startTestServer } from '../helpers/server.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});
async function freshDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-custody-start-'));
  dirs.push(d);
  return d;
}

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');

/** Starts on dataDir, creates a KMS key, encrypts, puts an SSE-S3 object; returns the ciphertext and the recorded root key id. */
async function seal(dataDir: string, env: Record<string, string> = {}): Promise<{ blob: Uint8Array; keyId: string; rootKeyId: string }> {
  const s = await startTestServer(env, { dataDir });
  try {
    const { KeyMetadata } = await s.kms.send(new CreateKeyCommand({}));
    const { CiphertextBlob } = await s.kms.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: Buffer.from('hello') }));
    await s.s3.send(new CreateBucketCommand({ Bucket: 'custody-b' }));
    await s.s3.send(new PutObjectCommand({ Bucket: 'custody-b', Key: 'o', Body: 'object body' }));
    return { blob: CiphertextBlob!, keyId: KeyMetadata!.KeyId!, rootKeyId: s.coffer.rootKey.id };
  } finally {
    await s.stop();
  }
}

async function refuses(dataDir: string, env: Record<string, string>, ...patterns: RegExp[]): Promise<RootKeyConfigError> {
  let err: RootKeyConfigError | undefined;
  await assert.rejects(startTestServer(env, { dataDir }), (e: unknown) => {
    assert.ok(e instanceof RootKeyConfigError, `expected RootKeyConfigError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    err = e;
    return true;
  });
  return err!;
}

async function readsBack(dataDir: string, env: Record<string, string>, blob: Uint8Array): Promise<void> {
  const s = await startTestServer(env, { dataDir });
  try {
    const { Plaintext } = await s.kms.send(new DecryptCommand({ CiphertextBlob: blob }));
    assert.equal(Buffer.from(Plaintext!).toString(), 'hello');
    const obj = await s.s3.send(new GetObjectCommand({ Bucket: 'custody-b', Key: 'o' }));
    assert.equal(await obj.Body!.transformToString(), 'object body');
  } finally {
    await s.stop();
  }
}

const exists = (f: string) => fs.stat(f).then(() => true, () => false);

describe('custody at start', () => {
  it('records the root key in custody.json on first start: version, id, canary, and no key bytes', async () => {
    const dataDir = await freshDir();
    const { rootKeyId } = await seal(dataDir, { COFFER_ROOT_KEY: KEY_A });
    const record = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(record.version, 1);
    assert.equal(record.rootKey, rootKeyId);
    assert.match(rootKeyId, /^key:[0-9a-f]{16}$/);
    assert.equal(typeof record.canary, 'string');
    assert.ok(!(await fs.readFile(path.join(dataDir, 'custody.json'))).includes(Buffer.from(KEY_A, 'base64')));
  });

  it('root key A, then root key B: refuses, naming the provider and fingerprint the data expects', async () => {
    const dataDir = await freshDir();
    const { blob, rootKeyId } = await seal(dataDir, { COFFER_ROOT_KEY: KEY_A });
    const e = await refuses(dataDir, { COFFER_ROOT_KEY: KEY_B }, /refusing to start/, new RegExp(`sealed under root key ${rootKeyId}`), /COFFER_ROOT_KEY/, /the configured root key \(COFFER_ROOT_KEY\) is key:[0-9a-f]{16}/);
    assert.ok(!e.message.includes(KEY_A) && !e.message.includes(KEY_B));
    await readsBack(dataDir, { COFFER_ROOT_KEY: KEY_A }, blob);
  });

  it('root.key deleted: refuses and creates no new root.key', async () => {
    const dataDir = await freshDir();
    const { rootKeyId } = await seal(dataDir);
    await fs.rm(path.join(dataDir, 'root.key'));
    const e = await refuses(dataDir, {}, new RegExp(`sealed under root key ${rootKeyId}`), /root\.key is missing/);
    assert.match(e.hint ?? '', /restore root\.key from a backup/);
    assert.equal(await exists(path.join(dataDir, 'root.key')), false);
  });

  it('a passphrase on a directory sealed under root.key: refuses and writes no root.salt', async () => {
    const dataDir = await freshDir();
    const { blob } = await seal(dataDir);
    await refuses(dataDir, { COFFER_ROOT_PASSPHRASE: 'correct horse battery staple' }, /sealed under root key key:/, /COFFER_ROOT_PASSPHRASE is configured/);
    assert.equal(await exists(path.join(dataDir, 'root.salt')), false);
    await readsBack(dataDir, {}, blob);
  });

  it('a data directory from before custody.json (root.key, no record) starts, and gets its record', async () => {
    const dataDir = await freshDir();
    const { blob, rootKeyId } = await seal(dataDir);
    await fs.rm(path.join(dataDir, 'custody.json'));
    await readsBack(dataDir, {}, blob);
    const record = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string };
    assert.equal(record.rootKey, rootKeyId);
  });

  it('a pre-custody directory started with another key: refuses, naming the item that does not open', async () => {
    const dataDir = await freshDir();
    const { keyId } = await seal(dataDir, { COFFER_ROOT_KEY: KEY_A });
    await fs.rm(path.join(dataDir, 'custody.json'));
    await refuses(dataDir, { COFFER_ROOT_KEY: KEY_B }, new RegExp(`KMS key ${keyId}`), /does not open with the configured root key/, /wrapped under root key key:/);
    assert.equal(await exists(path.join(dataDir, 'custody.json')), false);
  });

  it('a pre-custody directory whose root.key was deleted: refuses (its sealed material is found), no new root.key', async () => {
    const dataDir = await freshDir();
    await seal(dataDir);
    await fs.rm(path.join(dataDir, 'custody.json'));
    await fs.rm(path.join(dataDir, 'root.key'));
    await refuses(dataDir, {}, /root\.key is missing, but this data directory holds KMS key/);
    assert.equal(await exists(path.join(dataDir, 'root.key')), false);
  });

  it('a pre-custody directory with only SSE-S3 objects and root.key deleted: the object key is found, start refused', async () => {
    const dataDir = await freshDir();
    const s = await startTestServer({}, { dataDir });
    await s.s3.send(new CreateBucketCommand({ Bucket: 'custody-b' }));
    await s.s3.send(new PutObjectCommand({ Bucket: 'custody-b', Key: 'o', Body: 'object body' }));
    await s.stop();
    await fs.rm(path.join(dataDir, 'custody.json'));
    await fs.rm(path.join(dataDir, 'root.key'));
    await refuses(dataDir, {}, /holds the SSE-S3 key of object custody-b\/o/);
  });

  it('a passphrase on a pre-custody root.key directory: refuses, points at the migration, writes no root.salt', async () => {
    const dataDir = await freshDir();
    await seal(dataDir);
    await fs.rm(path.join(dataDir, 'custody.json'));
    const e = await refuses(dataDir, { COFFER_ROOT_PASSPHRASE: 'p' }, /COFFER_ROOT_PASSPHRASE is set, but this data directory is sealed under .*root\.key/);
    assert.match(e.hint ?? '', /coffer custody migrate --to PROVIDER`/);
    assert.equal(await exists(path.join(dataDir, 'root.salt')), false);
  });
});
