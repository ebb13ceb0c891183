// Sealed key material: round trip under each root-key kind, binding to key id and version,
// and the failure kinds.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { EnvRootKeyProvider } from '../../../src/custody/env-root-key.js';
import { SealedKeyAuthError } from '../../../src/custody/errors.js';
import {
  asKeyMaterial,
  generateKeyMaterial,
  openKeyMaterial,
  SEAL_LABEL,
  sealKeyMaterial,
} from '../../../src/kms/format/key-material.js';
import { PassphraseRootKeyProvider } from '../../../src/custody/passphrase-root-key.js';
import { rejectsWith } from '../../custody/root-key.contract.js';
import { tempDirs } from '../../custody/tmp-dirs.js';

const fresh = tempDirs('key-material');
const root = () => EnvRootKeyProvider.fromBase64(randomBytes(32).toString('base64'));
const K1 = '1234abcd-12ab-34cd-56ef-1234567890ab';
const K2 = '0987dcba-09fe-87dc-65ba-ab0987654321';

describe('key material at rest', () => {
  it('opens what it sealed, under a raw root key and a passphrase root key', async () => {
    for (const provider of [root(), (await PassphraseRootKeyProvider.open(fresh(), 'p')).provider]) {
      const m = generateKeyMaterial();
      const sealed = await sealKeyMaterial(provider, K1, 1, m);
      assert.deepEqual(await openKeyMaterial(provider, K1, 1, sealed), m);
      assert.ok(!sealed.includes(m), 'material appears in the sealed record');
    }
  });

  it('starts with version 0x01, the key id in ASCII and the version as u32 big-endian', async () => {
    const sealed = await sealKeyMaterial(root(), 'mrk-0123456789abcdef0123456789abcdef', 0x01020304, generateKeyMaterial());
    assert.equal(sealed[0], 0x01);
    assert.equal(sealed.subarray(1, 37).toString('ascii'), 'mrk-0123456789abcdef0123456789abcdef');
    assert.equal(sealed.readUInt32BE(37), 0x01020304);
    assert.equal(sealed[41], 0x01, 'then the wrapped-key format, version 1');
    assert.equal(sealed.length, 41 + 22 + 32 + 16);
    assert.equal(SEAL_LABEL, 'coffer/kms/key-material/v1');
  });

  it('cannot be moved to another key or another version', async () => {
    const p = root();
    const sealed = await sealKeyMaterial(p, K1, 3, generateKeyMaterial());
    await rejectsWith(openKeyMaterial(p, K2, 3, sealed), 'auth');
    await rejectsWith(openKeyMaterial(p, K1, 4, sealed), 'auth');
  });

  it('is bound by the AAD, not only by the header check: a rewritten header still fails', async () => {
    const p = root();
    const sealed = await sealKeyMaterial(p, K1, 3, generateKeyMaterial());
    const moved = Buffer.from(sealed);
    moved.write(K2, 1, 'ascii');
    await assert.rejects(openKeyMaterial(p, K2, 3, moved), SealedKeyAuthError);
    const bumped = Buffer.from(sealed);
    bumped.writeUInt32BE(4, 37);
    await assert.rejects(openKeyMaterial(p, K1, 4, bumped), SealedKeyAuthError);
  });

  it('fails with kind wrong-key under another root key', async () => {
    const sealed = await sealKeyMaterial(root(), K1, 1, generateKeyMaterial());
    await rejectsWith(openKeyMaterial(root(), K1, 1, sealed), 'wrong-key');
  });

  it('fails with kind parse on a malformed record', async () => {
    const p = root();
    const sealed = await sealKeyMaterial(p, K1, 1, generateKeyMaterial());
    await rejectsWith(openKeyMaterial(p, K1, 1, Buffer.alloc(0)), 'parse');
    await rejectsWith(openKeyMaterial(p, K1, 1, Buffer.concat([Buffer.of(2), sealed.subarray(1)])), 'parse');
    await rejectsWith(openKeyMaterial(p, K1, 1, sealed.subarray(0, 41)), 'parse');
    await rejectsWith(openKeyMaterial(p, K1, 1, sealed.subarray(0, 60)), 'parse');
    const badId = Buffer.from(sealed);
    badId.write('X', 1, 'ascii');
    await rejectsWith(openKeyMaterial(p, K1, 1, badId), 'parse');
  });

  it('fails on any changed byte', async () => {
    const p = root();
    const sealed = await sealKeyMaterial(p, K1, 1, generateKeyMaterial());
    for (let i = 0; i < sealed.length; i++) {
      const t = Buffer.from(sealed);
      t[i] ^= 0x80;
      await rejectsWith(openKeyMaterial(p, K1, 1, t), undefined, `byte ${i}`);
    }
  });

  it('checks sizes and identifiers at the boundary', async () => {
    assert.throws(() => asKeyMaterial(randomBytes(31)), RangeError);
    assert.throws(() => asKeyMaterial(randomBytes(33)), RangeError);
    const p = root();
    await assert.rejects(sealKeyMaterial(p, K1, 1, randomBytes(16) as never), RangeError);
    await assert.rejects(sealKeyMaterial(p, K1.toUpperCase(), 1, generateKeyMaterial()), RangeError);
    await assert.rejects(sealKeyMaterial(p, 'alias/my-key', 1, generateKeyMaterial()), RangeError);
    for (const v of [0, -1, 1.5, 2 ** 32]) await assert.rejects(sealKeyMaterial(p, K1, v, generateKeyMaterial()), RangeError);
    await sealKeyMaterial(p, K1, 2 ** 32 - 1, generateKeyMaterial());
  });
});

describe('sealed key material v2 (private keys and HMAC keys)', () => {
  it('round-trips an RSA 4096 private key (beyond what a root key wraps directly) and is bound to key, version and kind', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { openSecret, sealSecret } = await import('../../../src/kms/format/key-material.js');
    const p = root();
    const der = generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey.export({ type: 'pkcs8', format: 'der' });
    assert.ok(der.length > 1024);
    const sealed = await sealSecret(p, K1, 2, 'private-key', der);
    assert.equal(sealed[0], 0x02);
    assert.equal(sealed[41], 0x02);
    assert.deepEqual(await openSecret(p, K1, 2, 'private-key', sealed), der);
    assert.ok(!sealed.includes(der.subarray(100, 132)), 'no part of the key appears in the record');
    await rejectsWith(openSecret(p, K2, 2, 'private-key', sealed), 'auth');
    await rejectsWith(openSecret(p, K1, 3, 'private-key', sealed), 'auth');
    await rejectsWith(openSecret(p, K1, 2, 'hmac', sealed), 'auth');
    await rejectsWith(openSecret(root(), K1, 2, 'private-key', sealed), 'wrong-key');
    await rejectsWith(openKeyMaterial(p, K1, 2, sealed), 'parse');
  });
});
