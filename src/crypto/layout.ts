// Layout of the v1 object encryption format and the range arithmetic over it: how big
// a ciphertext is, and which ciphertext bytes a plaintext range needs. Pure functions
// of sizes; no keys here. Spec: docs/spec/object-encryption.md ("Layout", "Ranges").
//
//   part ciphertext = seg_0 || seg_1 || ... || seg_{n-1}
//   seg_i           = AES-256-GCM(plaintext[i*S .. min((i+1)*S, size)]) || tag (16 bytes)
//   n               = max(1, ceil(size / S))      (an empty part is one empty final segment)

// Layout constants of v1. Changing any of them breaks every stored object; a change
// means a new format version (and a new label), never an edit here.
export const SEGMENT_SIZE = 65536;
export const TAG_LENGTH = 16;
export const SEALED_SEGMENT_SIZE = SEGMENT_SIZE + TAG_LENGTH;
export const NONCE_LENGTH = 12;
export const KEY_LENGTH = 32;
export const OBJECT_ID_LENGTH = 16;

/** An S3 object (5 TiB) or a part (5 GiB) is far below this; it keeps arithmetic exact in doubles. */
export const MAX_PLAINTEXT_SIZE = Number.MAX_SAFE_INTEGER - 2 ** 40;

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PLAINTEXT_SIZE) throw new RangeError(`${what} must be an integer from 0 to ${MAX_PLAINTEXT_SIZE}`);
}

/** Number of segments of a part of `plaintextSize` bytes: at least 1 (the empty final segment). */
export function segmentCount(plaintextSize: number): number {
  checkSize(plaintextSize, 'plaintext size');
  return Math.max(1, Math.ceil(plaintextSize / SEGMENT_SIZE));
}

/** Ciphertext size of a part: plaintext + 16 bytes per segment. */
export function ciphertextSize(plaintextSize: number): number {
  return plaintextSize + TAG_LENGTH * segmentCount(plaintextSize);
}

/** Plaintext bytes in segment `index` of a part of `plaintextSize` bytes. */
export function segmentPlaintextLength(index: number, plaintextSize: number): number {
  const n = segmentCount(plaintextSize);
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) throw new RangeError(`segment index must be an integer from 0 to ${n - 1}`);
  return index < n - 1 ? SEGMENT_SIZE : plaintextSize - (n - 1) * SEGMENT_SIZE;
}

export interface SegmentRange {
  /** First segment the range touches. */
  firstSegment: number;
  /** Last segment the range touches (inclusive). */
  lastSegment: number;
  /** Ciphertext offset where firstSegment starts (read from here). */
  cipherStart: number;
  /** Ciphertext offset just past lastSegment's tag (read up to here, exclusive). */
  cipherEnd: number;
  /** Plaintext bytes of firstSegment to drop before the range begins. */
  skipBytes: number;
  /** Plaintext bytes in the range: plainEnd - plainStart. */
  length: number;
}

/**
 * The segments and ciphertext bytes needed for plaintext bytes [plainStart, plainEnd)
 * (end exclusive; an HTTP range `bytes=a-b` is [a, b+1)) of a part of `plaintextSize`
 * bytes. Exactly the segments the range touches: a 1-byte range needs 1, a range over
 * one boundary 2. The range must be non-empty and inside the part.
 */
export function segmentRange(plainStart: number, plainEnd: number, plaintextSize: number): SegmentRange {
  checkSize(plaintextSize, 'plaintext size');
  if (!Number.isSafeInteger(plainStart) || !Number.isSafeInteger(plainEnd) || plainStart < 0 || plainEnd <= plainStart || plainEnd > plaintextSize) {
    throw new RangeError('range must satisfy 0 <= start < end <= plaintext size');
  }
  const firstSegment = Math.floor(plainStart / SEGMENT_SIZE);
  const lastSegment = Math.floor((plainEnd - 1) / SEGMENT_SIZE);
  const cipherStart = firstSegment * SEALED_SEGMENT_SIZE;
  const cipherEnd = lastSegment * SEALED_SEGMENT_SIZE + segmentPlaintextLength(lastSegment, plaintextSize) + TAG_LENGTH;
  return { firstSegment, lastSegment, cipherStart, cipherEnd, skipBytes: plainStart - firstSegment * SEGMENT_SIZE, length: plainEnd - plainStart };
}
