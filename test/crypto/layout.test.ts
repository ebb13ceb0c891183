// Sizes and range arithmetic of the v1 layout (docs/spec/object-encryption.md, "Layout", "Ranges").

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ciphertextSize, segmentCount, segmentRange, SEGMENT_SIZE, SEALED_SEGMENT_SIZE } from '../../src/crypto/index.js';

const S = SEGMENT_SIZE;

describe('layout', () => {
  it('pins the layout constants (changing them breaks every stored object)', () => {
    assert.equal(S, 65536);
    assert.equal(SEALED_SEGMENT_SIZE, 65552);
  });

  it('ciphertext size is plaintext + 16 per segment, with one empty final segment for an empty part', () => {
    const cases: [number, number, number][] = [
      [0, 1, 16],
      [1, 1, 17],
      [S - 1, 1, S + 15],
      [S, 1, S + 16],
      [S + 1, 2, S + 33],
      [3 * S, 3, 3 * S + 48],
      [5 * 2 ** 30, 81920, 5 * 2 ** 30 + 16 * 81920],
    ];
    for (const [size, n, ct] of cases) {
      assert.equal(segmentCount(size), n, `segments of ${size}`);
      assert.equal(ciphertextSize(size), ct, `ciphertext of ${size}`);
    }
  });

  it('refuses negative, fractional and unsafe sizes', () => {
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER, NaN]) assert.throws(() => ciphertextSize(bad), RangeError);
  });

  it('a 1-byte range touches exactly one segment, a range over one boundary two', () => {
    const size = 2 ** 30;
    const mid = size / 2 + 12345;
    const one = segmentRange(mid, mid + 1, size);
    assert.equal(one.lastSegment - one.firstSegment + 1, 1);
    assert.equal(one.cipherEnd - one.cipherStart, SEALED_SEGMENT_SIZE);
    const two = segmentRange(S - 1, S + 1, size);
    assert.deepEqual(two, { firstSegment: 0, lastSegment: 1, cipherStart: 0, cipherEnd: 2 * SEALED_SEGMENT_SIZE, skipBytes: S - 1, length: 2 });
  });

  it('a range ending in a short final segment reads only to the end of the ciphertext', () => {
    const size = 2 * S + 10;
    assert.deepEqual(segmentRange(2 * S + 3, 2 * S + 10, size), {
      firstSegment: 2,
      lastSegment: 2,
      cipherStart: 2 * SEALED_SEGMENT_SIZE,
      cipherEnd: ciphertextSize(size),
      skipBytes: 3,
      length: 7,
    });
    assert.equal(segmentRange(0, size, size).cipherEnd, ciphertextSize(size));
  });

  it('refuses empty, reversed and out-of-part ranges', () => {
    assert.throws(() => segmentRange(5, 5, 10), RangeError);
    assert.throws(() => segmentRange(6, 5, 10), RangeError);
    assert.throws(() => segmentRange(0, 11, 10), RangeError);
    assert.throws(() => segmentRange(-1, 1, 10), RangeError);
    assert.throws(() => segmentRange(0, 1, 0), RangeError);
  });
});
