// Sealing and opening one segment: AES-256-GCM under the part key, with the STREAM nonce
// (as in age): an 11-byte big-endian segment counter and a final-segment flag byte.
// The counter stops segments being reordered or dropped from the middle; the flag stops
// a stream being cut at a segment boundary and passed off as whole, and stops an extra
// segment being appended. The associated data is empty: everything that identifies the
// part is already in its key (keys.ts). Spec: docs/spec/object-encryption.md ("Segments").

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SegmentAuthError } from './errors.js';
import { NONCE_LENGTH, SEGMENT_SIZE, TAG_LENGTH } from './layout.js';
import type { PartKey } from './keys.js';

const FINAL = 0x01;
const NOT_FINAL = 0x00;

/** nonce = u88be(index) || (final ? 0x01 : 0x00). Written into `out` (12 bytes) when given. */
export function segmentNonce(index: number, final: boolean, out: Buffer = Buffer.alloc(NONCE_LENGTH)): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError('segment index must be a non-negative integer');
  out.fill(0, 0, 5);
  // Indexes stay far below 2^48 (MAX_PLAINTEXT_SIZE / SEGMENT_SIZE), so bytes 0..4 are zero.
  out.writeUIntBE(index, 5, 6);
  out[NONCE_LENGTH - 1] = final ? FINAL : NOT_FINAL;
  return out;
}

/**
 * Seals one segment: returns [ciphertext, tag]. Only the final segment may be shorter
 * than SEGMENT_SIZE (or empty). Exported for the vector generator, which forges segments.
 */
export function sealSegment(key: PartKey, index: number, final: boolean, plaintext: Buffer, nonce?: Buffer): [Buffer, Buffer] {
  if (plaintext.length > SEGMENT_SIZE || (!final && plaintext.length !== SEGMENT_SIZE)) {
    throw new RangeError('a segment is SEGMENT_SIZE bytes; only the final one may be shorter');
  }
  const cipher = createCipheriv('aes-256-gcm', key, segmentNonce(index, final, nonce), { authTagLength: TAG_LENGTH });
  const ct = cipher.update(plaintext);
  cipher.final();
  return [ct, cipher.getAuthTag()];
}

/**
 * Opens one segment (ciphertext without its tag, and the tag). Throws SegmentAuthError
 * and releases nothing if it does not authenticate as segment `index` with this `final`.
 */
export function openSegment(key: PartKey, index: number, final: boolean, ciphertext: Buffer, tag: Buffer, nonce?: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, segmentNonce(index, final, nonce), { authTagLength: TAG_LENGTH });
  decipher.setAuthTag(tag);
  const pt = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch {
    pt.fill(0);
    throw new SegmentAuthError(`segment ${index} does not authenticate${final ? ' as the final segment' : ''}`);
  }
  return pt;
}
