// Review of the KMS memo of data keys opened for S3 (src/kms/opened-ciphertexts.ts): an
// encryption context that differs only in Unicode normalization, or in a member's name
// against its value, is another context (KMS compares contexts byte for byte), and a DSSE
// pair (64 bytes) comes back whole, as a copy.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { OpenedCiphertexts } from '../../src/kms/opened-ciphertexts.js';
import { CIPHERTEXT_HEADER_LENGTH } from '../../src/kms/format/ciphertext.js';
import type { KeyMaterial } from '../../src/kms/format/key-material.js';

describe('OpenedCiphertexts (review)', () => {
  it('contexts equal only after Unicode normalization, or trading a name for a value, are misses', () => {
    const memo = new OpenedCiphertexts();
    const m = randomBytes(32) as KeyMaterial;
    const b = randomBytes(CIPHERTEXT_HEADER_LENGTH + 32 + 16);
    const key = randomBytes(32);
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    assert.equal(nfc.normalize('NFC'), nfd.normalize('NFC'));
    memo.remember(m, b, { k: nfc }, key);
    assert.ok(memo.lookup(m, b, { k: nfc })!.equals(key));
    assert.equal(memo.lookup(m, b, { k: nfd }), undefined, 'the value in NFD');
    memo.remember(m, b, { [nfc]: 'v' }, key);
    assert.equal(memo.lookup(m, b, { [nfd]: 'v' }), undefined, 'the name in NFD');
    memo.remember(m, b, { a: 'b' }, key);
    assert.equal(memo.lookup(m, b, { b: 'a' }), undefined, 'name and value traded');
    assert.equal(memo.lookup(m, b, { 'a","b': '' }), undefined, 'quotes in a name');
  });

  it('a DSSE pair (64 bytes) answers whole, as a copy the caller may zero', () => {
    const memo = new OpenedCiphertexts();
    const m = randomBytes(32) as KeyMaterial;
    const b = randomBytes(CIPHERTEXT_HEADER_LENGTH + 64 + 16);
    const pair = randomBytes(64);
    memo.remember(m, b, {}, pair);
    pair.fill(0); // the caller zeroes its own after remembering
    const got = memo.lookup(m, b, {})!;
    assert.equal(got.length, 64);
    assert.ok(!got.equals(Buffer.alloc(64)), 'the remembered copy was not the caller\'s buffer');
    got.fill(0);
    assert.ok(!memo.lookup(m, b, {})!.equals(Buffer.alloc(64)), 'zeroing an answer leaves the entry');
  });
});
