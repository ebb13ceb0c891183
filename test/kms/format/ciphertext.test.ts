// The KMS ciphertext blob: layout, canonical context encoding, failure kinds, limits.
// The byte-exact behaviour is pinned by the vectors (ciphertext-vectors.test.ts).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CIPHERTEXT_LABEL,
  decryptCiphertext,
  encodeCiphertext,
  MAX_PLAINTEXT,
  parseCiphertextHeader,
} from '../../../src/kms/format/ciphertext.js';
import { encodeEncryptionContext, EncryptionContextError } from '../../../src/crypto/encryption-context.js';
import { CiphertextAuthError, CiphertextParseError } from '../../../src/custody/errors.js';
import { generateKeyMaterial } from '../../../src/kms/format/key-material.js';

const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
const material = generateKeyMaterial();
const enc = (plaintext: Buffer, context: Record<string, string> = {}, materialVersion = 1) =>
  encodeCiphertext({ keyId, materialVersion, material, plaintext, context });

describe('canonical encryption context', () => {
  // The same hex appears in docs/spec/kms-ciphertext.md.
  const examples: [Record<string, string>, string][] = [
    [{}, '00000000'],
    [{ ab: 'c' }, '000000010000000261620000000163'],
    [{ a: 'bc' }, '000000010000000161000000026263'],
    [
      { object: '2024/cat.jpg', bucket: 'photos' },
      '00000002000000066275636b65740000000670686f746f73000000066f626a6563740000000c323032342f6361742e6a7067',
    ],
    [{ '\u{1F600}': '1', '\uFF61': '2', '\u00E9': '3' }, '0000000300000002c3a9000000013300000003efbda1000000013200000004f09f98800000000131'],
  ];
  for (const [context, hex] of examples) {
    it(`encodes ${JSON.stringify(context)} as the spec's worked example`, () => {
      assert.equal(encodeEncryptionContext(context).toString('hex'), hex);
    });
  }

  it('distinguishes {"ab":"c"} from {"a":"bc"}, and key/value boundaries generally', () => {
    assert.notDeepEqual(encodeEncryptionContext({ ab: 'c' }), encodeEncryptionContext({ a: 'bc' }));
    assert.notDeepEqual(encodeEncryptionContext({ a: '', b: '' }), encodeEncryptionContext({ a: 'b' }));
    assert.notDeepEqual(encodeEncryptionContext({}), encodeEncryptionContext({ '': '' }));
  });

  it('does not depend on the order pairs were inserted', () => {
    assert.deepEqual(encodeEncryptionContext({ a: '1', b: '2', c: '3' }), encodeEncryptionContext({ c: '3', a: '1', b: '2' }));
  });

  it('sorts by UTF-8 bytes, not by JavaScript string order', () => {
    const keys = ['\u{1F600}', '\uFF61'];
    assert.deepEqual([...keys].sort(), ['\u{1F600}', '\uFF61'], 'JavaScript puts the surrogate pair first');
    const e = encodeEncryptionContext({ '\u{1F600}': '', '\uFF61': '' });
    assert.equal(e.subarray(8, 11).toString('hex'), 'efbda1', 'U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80)');
  });

  it('refuses lone surrogates and non-string values', () => {
    assert.throws(() => encodeEncryptionContext({ k: '\uD800' }), EncryptionContextError);
    assert.throws(() => encodeEncryptionContext({ '\uDC00x': 'v' }), EncryptionContextError);
    assert.throws(() => encodeEncryptionContext({ k: 1 } as never), EncryptionContextError);
    assert.throws(() => encodeEncryptionContext(null as never), EncryptionContextError);
  });
});

describe('KMS ciphertext blob', () => {
  it('round-trips and names its key id and material version', () => {
    const pt = randomBytes(100);
    const blob = enc(pt, { purpose: 'test' }, 7);
    assert.deepEqual(parseCiphertextHeader(blob), { keyId, materialVersion: 7 });
    assert.deepEqual(decryptCiphertext(blob, material, { purpose: 'test' }), pt);
    assert.equal(CIPHERTEXT_LABEL, 'coffer/kms/ciphertext/v1');
  });

  it('is version byte, 36-byte ASCII key id, u32 version, 32-byte salt, ciphertext, 16-byte tag', () => {
    const blob = enc(Buffer.alloc(10), {}, 0x0a0b0c0d);
    assert.equal(blob.length, 1 + 36 + 4 + 32 + 10 + 16);
    assert.equal(blob[0], 0x01);
    assert.equal(blob.subarray(1, 37).toString('ascii'), keyId);
    assert.equal(blob.readUInt32BE(37), 0x0a0b0c0d);
  });

  it('decrypts regardless of context pair order', () => {
    const blob = enc(Buffer.from('x'), { a: '1', b: '2' });
    assert.equal(decryptCiphertext(blob, material, { b: '2', a: '1' }).toString(), 'x');
  });

  it('fails with CiphertextAuthError for {"a":"bc"} when sealed under {"ab":"c"}', () => {
    const blob = enc(Buffer.from('x'), { ab: 'c' });
    assert.throws(() => decryptCiphertext(blob, material, { a: 'bc' }), CiphertextAuthError);
  });

  it('encrypts the same plaintext differently each time', () => {
    assert.notDeepEqual(enc(Buffer.from('same')), enc(Buffer.from('same')));
  });

  it('fails on every single-bit change: header fields as parse or auth, salt/ciphertext/tag as auth', () => {
    const blob = enc(randomBytes(20), { k: 'v' });
    for (let i = 0; i < blob.length; i++) {
      const t = Buffer.from(blob);
      t[i] ^= 0x01;
      assert.throws(
        () => decryptCiphertext(t, material, { k: 'v' }),
        (e: unknown) => (i < 41 ? e instanceof CiphertextParseError || e instanceof CiphertextAuthError : e instanceof CiphertextAuthError),
        `byte ${i}`,
      );
    }
  });

  it('fails with CiphertextParseError on every truncation below 89 bytes and auth error above', () => {
    const blob = enc(randomBytes(20));
    for (let n = 0; n < blob.length; n++) {
      assert.throws(() => decryptCiphertext(blob.subarray(0, n), material, {}), n < 89 ? CiphertextParseError : CiphertextAuthError, `length ${n}`);
    }
  });

  it('fails with CiphertextAuthError under other key material', () => {
    assert.throws(() => decryptCiphertext(enc(Buffer.from('x')), generateKeyMaterial(), {}), CiphertextAuthError);
  });

  it('accepts 0 to 4096 bytes of plaintext and refuses 4097', () => {
    for (const n of [0, 1, MAX_PLAINTEXT]) {
      const pt = randomBytes(n);
      assert.deepEqual(decryptCiphertext(enc(pt), material, {}), pt);
    }
    assert.throws(() => enc(Buffer.alloc(MAX_PLAINTEXT + 1)), RangeError);
  });

  it('refuses a malformed key id, material version or key material when encrypting', () => {
    const base = { keyId, materialVersion: 1, material, plaintext: Buffer.alloc(1), context: {} };
    assert.throws(() => encodeCiphertext({ ...base, keyId: keyId.toUpperCase() }), RangeError);
    assert.throws(() => encodeCiphertext({ ...base, keyId: `arn:aws:kms:us-east-1:111122223333:key/${keyId}` }), RangeError);
    assert.throws(() => encodeCiphertext({ ...base, materialVersion: 0 }), RangeError);
    assert.throws(() => encodeCiphertext({ ...base, material: randomBytes(16) as never }), RangeError);
  });
});
