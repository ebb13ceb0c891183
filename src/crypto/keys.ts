// The keys of an encrypted object. Each object (or multipart upload) has a fresh 256-bit
// ObjectKey — the data key that KMS or the root key wraps — and a random 16-byte object
// id stored in its envelope. Each part's segments are sealed under a PartKey derived from
// both, so ciphertext cannot move between parts, objects or versions: another part
// number or object id derives another key, and its segments fail to authenticate.
// Spec: docs/spec/object-encryption.md ("Keys").
//
//   PartKey = HKDF-SHA256(IKM = ObjectKey, salt = object_id, info = PART_KEY_LABEL || u32be(part_number), L = 32)
//   part_number = 0 for a single-part object, 1..10000 for the parts of a multipart object

import { createHmac, randomFillSync } from 'node:crypto';
import { KEY_LENGTH, OBJECT_ID_LENGTH } from './layout.js';

// Label from the spec, verbatim. Changing it breaks every stored object.
export const PART_KEY_LABEL = 'coffer/object-encryption/v1/part-key';

/** Part number of a single-part object; multipart parts are 1..MAX_PART_NUMBER. */
export const SINGLE_PART = 0;
export const MAX_PART_NUMBER = 10000;

declare const objectKeyBrand: unique symbol;
declare const partKeyBrand: unique symbol;
declare const objectIdBrand: unique symbol;
/** The 32-byte data key of one object. Never stored in plaintext, never logged; zero it (`fill(0)`) when done. */
export type ObjectKey = Buffer & { readonly [objectKeyBrand]: true };
/** The 32-byte key that seals one part's segments. Never logged; zero it when done. */
export type PartKey = Buffer & { readonly [partKeyBrand]: true };
/** The random 16-byte identity of one object version or multipart upload. Not secret. */
export type ObjectId = Buffer & { readonly [objectIdBrand]: true };

/** A source of random bytes; tests inject a deterministic one. */
export type RandomSource = (size: number) => Buffer;

function exact(bytes: Buffer, length: number, what: string): void {
  if (!Buffer.isBuffer(bytes) || bytes.length !== length) {
    throw new RangeError(`${what} is ${length} bytes, got ${Buffer.isBuffer(bytes) ? bytes.length : typeof bytes}`);
  }
}

/** Checks the length at the boundary (e.g. a data key from KMS); the buffer is not copied. */
export function asObjectKey(bytes: Buffer): ObjectKey {
  exact(bytes, KEY_LENGTH, 'an object key');
  return bytes as ObjectKey;
}

export function asObjectId(bytes: Buffer): ObjectId {
  exact(bytes, OBJECT_ID_LENGTH, 'an object id');
  return bytes as ObjectId;
}

/** Checks the length at the boundary (test vectors); real part keys come from derivePartKey. */
export function asPartKey(bytes: Buffer): PartKey {
  exact(bytes, KEY_LENGTH, 'a part key');
  return bytes as PartKey;
}

/** A fresh object key (SSE-S3; for SSE-KMS the data key comes from GenerateDataKey). */
/**
 * Bytes from the system CSPRNG, drawn 4 KiB at a time: one call per ~60 objects instead of
 * two per object (each call has a fixed cost on the small-object path). Each buffer
 * returned is a fresh copy; the pool's used bytes are zeroed as they are handed out.
 */
export function pooledRandomBytes(size: number): Buffer {
  if (size > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(size));
  if (poolOffset + size > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + size));
  pool.fill(0, poolOffset, poolOffset + size);
  poolOffset += size;
  return out;
}
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolOffset = POOL_SIZE;

export function newObjectKey(random: RandomSource = pooledRandomBytes): ObjectKey {
  return asObjectKey(random(KEY_LENGTH));
}

/** A fresh object id, for each new object version and each multipart upload. */
export function newObjectId(random: RandomSource = pooledRandomBytes): ObjectId {
  return asObjectId(random(OBJECT_ID_LENGTH));
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < SINGLE_PART || partNumber > MAX_PART_NUMBER) {
    throw new RangeError(`part number must be ${SINGLE_PART} (single part) or 1 to ${MAX_PART_NUMBER}`);
  }
}

/** The key for part `partNumber` (0 for a single-part object) of the object `objectId`. */
export function derivePartKey(objectKey: ObjectKey, objectId: ObjectId, partNumber: number): PartKey {
  asObjectKey(objectKey);
  asObjectId(objectId);
  checkPartNumber(partNumber);
  const info = Buffer.alloc(PART_KEY_LABEL.length + 4);
  info.write(PART_KEY_LABEL, 0, 'ascii');
  info.writeUInt32BE(partNumber, PART_KEY_LABEL.length);
  return hkdfSha256Key(objectKey, objectId, info) as PartKey;
}

/**
 * HKDF-SHA256 (RFC 5869) for one 32-byte output: PRK = HMAC(salt, IKM), OKM = HMAC(PRK, info || 0x01).
 * The same bytes as hkdfSync('sha256', ikm, salt, info, 32), about twice as fast per call
 * (this runs for every object and part).
 */
export function hkdfSha256Key(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const okm = createHmac('sha256', prk).update(info).update(ONE).digest();
  prk.fill(0);
  return okm;
}
const ONE = Buffer.of(1);
