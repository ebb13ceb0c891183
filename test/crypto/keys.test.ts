// Part keys: bound to the object key, the object id and the part number
// (docs/spec/object-encryption.md, "Keys"); the part-list tag of multipart objects.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  asObjectId,
  asObjectKey,
  derivePartKey,
  newObjectId,
  newObjectKey,
  PART_KEY_LABEL,
  PART_LIST_LABEL,
  PartListAuthError,
  partListTag,
  verifyPartListTag,
} from '../../src/crypto/index.js';
import { deterministicRandom } from './helpers.js';

const rnd = deterministicRandom('keys.test');
const key = newObjectKey(rnd);
const id = newObjectId(rnd);

describe('part keys', () => {
  it('pins the labels (changing them breaks every stored object)', () => {
    assert.equal(PART_KEY_LABEL, 'coffer/object-encryption/v1/part-key');
    assert.equal(PART_LIST_LABEL, 'coffer/object-encryption/v1/part-list');
  });

  it('are HKDF-SHA256(object key, salt = object id, info = label || u32be(part number)), written out with HMAC', () => {
    const prk = createHmac('sha256', id).update(key).digest();
    const info = Buffer.concat([Buffer.from(PART_KEY_LABEL), Buffer.from([0, 0, 0, 2])]);
    const okm = createHmac('sha256', prk).update(info).update(Buffer.of(1)).digest();
    assert.deepEqual(derivePartKey(key, id, 2), okm);
  });

  it('differ by part number, object id and object key', () => {
    const seen = new Set<string>();
    for (const [k, i, p] of [
      [key, id, 0],
      [key, id, 1],
      [key, id, 2],
      [key, id, 10000],
      [key, newObjectId(rnd), 1],
      [newObjectKey(rnd), id, 1],
    ] as const) {
      seen.add(derivePartKey(k, i, p).toString('hex'));
    }
    assert.equal(seen.size, 6);
  });

  it('refuse wrong lengths and part numbers outside 0..10000', () => {
    assert.throws(() => asObjectKey(Buffer.alloc(31)), RangeError);
    assert.throws(() => asObjectId(Buffer.alloc(32)), RangeError);
    for (const p of [-1, 10001, 1.5]) assert.throws(() => derivePartKey(key, id, p), RangeError);
  });

  it('never put key bytes in an error message', () => {
    try {
      asObjectKey(Buffer.alloc(33, 0xab));
      assert.fail('accepted a 33-byte key');
    } catch (err) {
      assert.doesNotMatch(String((err as Error).message), /ab/);
    }
  });
});

describe('part-list tag', () => {
  const parts = [
    { partNumber: 1, plaintextSize: 5 * 2 ** 20 },
    { partNumber: 2, plaintextSize: 5 * 2 ** 20 },
    { partNumber: 4, plaintextSize: 17 },
  ];
  const tag = partListTag(key, id, parts);

  it('verifies the list it was made for', () => {
    verifyPartListTag(key, id, parts, tag);
  });

  it('detects a dropped, reordered, resized or renumbered part, another object id and a changed tag', () => {
    const variants = [
      parts.slice(0, 2),
      [parts[1]!, parts[0]!, parts[2]!],
      [parts[0]!, parts[1]!, { partNumber: 4, plaintextSize: 18 }],
      [parts[0]!, parts[1]!, { partNumber: 3, plaintextSize: 17 }],
    ];
    for (const v of variants) assert.throws(() => verifyPartListTag(key, id, v, tag), PartListAuthError);
    assert.throws(() => verifyPartListTag(key, newObjectId(rnd), parts, tag), PartListAuthError);
    const bad = Buffer.from(tag);
    bad[31] ^= 1;
    assert.throws(() => verifyPartListTag(key, id, parts, bad), PartListAuthError);
    assert.throws(() => verifyPartListTag(key, id, parts, tag.subarray(0, 16)), PartListAuthError);
  });

  it('encodes sizes above 4 GiB without losing the high bits', () => {
    const a = partListTag(key, id, [{ partNumber: 1, plaintextSize: 2 ** 32 }]);
    const b = partListTag(key, id, [{ partNumber: 1, plaintextSize: 0 }]);
    assert.notDeepEqual(a, b);
  });
});
