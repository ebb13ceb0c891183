// discard(): a decrypt worker hands a dead decipher output's memory back at once
// (src/crypto/discard.ts), and never memory another Buffer may still use.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { discard } from '../../src/crypto/discard.js';
import { SEGMENT_SIZE } from '../../src/crypto/layout.js';
import { openSegment, sealSegment } from '../../src/crypto/segment.js';
import { asPartKey } from '../../src/crypto/keys.js';

const major = Number(process.versions.node.split('.')[0]);

function segmentPlaintext(): { pt: Buffer; expected: Buffer } {
  const key = asPartKey(randomBytes(32));
  const expected = randomBytes(SEGMENT_SIZE);
  const [ct, tag] = sealSegment(key, 0, false, expected);
  return { pt: openSegment(key, 0, false, ct, tag), expected };
}

describe('discard', () => {
  it("frees a decipher's output after its plaintext was copied out, and the copy keeps it (Node 20 and 22 must free it)", () => {
    const { pt, expected } = segmentPlaintext();
    const slot = Buffer.from(new SharedArrayBuffer(SEGMENT_SIZE));
    slot.fill(pt);
    const freed = discard(pt);
    if (major === 20 || major === 22) assert.equal(freed, true, `Node ${major} detaches a decipher output`);
    if (freed) {
      assert.equal(pt.length, 0);
      assert.equal(pt.buffer.byteLength, 0);
    } else assert.deepEqual(pt, expected, 'memory that is not freed is left as it was');
    assert.deepEqual(slot, expected);
  });

  it("leaves a slice of Buffer's pool alone: other Buffers share that memory", () => {
    const a = Buffer.from('one small buffer');
    const b = Buffer.from('and another one');
    assert.equal(a.buffer, b.buffer, 'both come from the pool');
    assert.equal(discard(a), false);
    assert.equal(a.toString(), 'one small buffer');
    assert.equal(b.toString(), 'and another one');
  });

  it('leaves shared memory alone (a ring slot)', () => {
    const slot = Buffer.from(new SharedArrayBuffer(SEGMENT_SIZE)).fill(7);
    assert.equal(discard(slot), false);
    assert.equal(slot.length, SEGMENT_SIZE);
    assert.equal(slot[SEGMENT_SIZE - 1], 7);
  });
});
