// The part-list tag of a multipart object. Each part authenticates itself (its key is
// bound to its part number and the object id, its final flag to its size), but the list
// of which parts make up the object lives in metadata: without this tag, a part could be
// dropped from the list, or the list reordered in a way the per-part keys do not see.
// Computed once at CompleteMultipartUpload, checked before a GET releases plaintext.
// Spec: docs/spec/object-encryption.md ("Multipart objects").
//
//   K   = HKDF-SHA256(IKM = ObjectKey, salt = object_id, info = PART_LIST_LABEL, L = 32)
//   tag = HMAC-SHA256(K, u32be(count) || for each part in object order: u32be(part_number) || u64be(plaintext_size))

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { ObjectCryptoError } from './errors.js';
import { asObjectId, asObjectKey, MAX_PART_NUMBER, type ObjectId, type ObjectKey } from './keys.js';
import { KEY_LENGTH, MAX_PLAINTEXT_SIZE } from './layout.js';

// Label from the spec, verbatim. Changing it breaks every stored multipart object.
export const PART_LIST_LABEL = 'coffer/object-encryption/v1/part-list';
export const PART_LIST_TAG_LENGTH = 32;

/** The stored part list does not match its tag: a part dropped, added, reordered or resized. */
export class PartListAuthError extends ObjectCryptoError {
  override readonly name = 'PartListAuthError';
  readonly kind = 'auth';
}

export interface PartListEntry {
  partNumber: number;
  plaintextSize: number;
}

/** K_list: the MAC key of an object's part list. Secret; zero it when done. */
export function partListKey(objectKey: ObjectKey, objectId: ObjectId): Buffer {
  asObjectKey(objectKey);
  asObjectId(objectId);
  return Buffer.from(hkdfSync('sha256', objectKey, objectId, Buffer.from(PART_LIST_LABEL, 'ascii'), KEY_LENGTH));
}

export function partListTag(objectKey: ObjectKey, objectId: ObjectId, parts: readonly PartListEntry[]): Buffer {
  const key = partListKey(objectKey, objectId);
  try {
    return partListTagWithKey(key, parts);
  } finally {
    key.fill(0);
  }
}

/** The tag from K_list itself (a writer that kept K_list but not the object key: SSE-C completion). */
export function partListTagWithKey(key: Buffer, parts: readonly PartListEntry[]): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== KEY_LENGTH) throw new RangeError(`a part-list key is ${KEY_LENGTH} bytes`);
  if (parts.length === 0 || parts.length > MAX_PART_NUMBER) throw new RangeError(`a part list has 1 to ${MAX_PART_NUMBER} parts`);
  const msg = Buffer.alloc(4 + 12 * parts.length);
  let off = msg.writeUInt32BE(parts.length, 0);
  for (const p of parts) {
    if (!Number.isInteger(p.partNumber) || p.partNumber < 1 || p.partNumber > MAX_PART_NUMBER) throw new RangeError('part numbers are 1 to 10000');
    if (!Number.isSafeInteger(p.plaintextSize) || p.plaintextSize < 0 || p.plaintextSize > MAX_PLAINTEXT_SIZE) throw new RangeError('part size out of range');
    off = msg.writeUInt32BE(p.partNumber, off);
    off = msg.writeUInt32BE(Math.floor(p.plaintextSize / 2 ** 32), off);
    off = msg.writeUInt32BE(p.plaintextSize % 2 ** 32, off);
  }
  return createHmac('sha256', key).update(msg).digest();
}

/** Throws PartListAuthError unless `tag` is the tag of exactly this part list. */
export function verifyPartListTag(objectKey: ObjectKey, objectId: ObjectId, parts: readonly PartListEntry[], tag: Buffer): void {
  const expected = partListTag(objectKey, objectId, parts);
  if (!Buffer.isBuffer(tag) || tag.length !== PART_LIST_TAG_LENGTH || !timingSafeEqual(expected, tag)) {
    throw new PartListAuthError('the part list does not match its tag');
  }
}
