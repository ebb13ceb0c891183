// How an object key comes from, or is sealed under, something other than a plain KMS data
// key: an S3 Bucket Key (the object key is derived from it), a customer-provided key
// (SSE-C: the object key is sealed under it), and DSSE-KMS (one 64-byte KMS data key gives
// two independent layer keys). Spec: docs/spec/object-encryption.md ("Bucket keys",
// "Customer-provided keys", "Dual-layer encryption"). The labels are copied verbatim.
//
//   bucket key   OK        = HKDF-SHA256(IKM = bucket key, salt = object_id, info = BUCKET_KEY_LABEL, L = 32)
//   SSE-C        KEK       = HKDF-SHA256(IKM = customer key, salt = object_id, info = CUSTOMER_KEY_LABEL, L = 32)
//                wrapped   = nonce (12) || AES-256-GCM(KEK, nonce, OK, AAD = SEALED_KEY_LABEL || header) || tag (16)
//   DSSE-KMS     inner OK  = data key bytes 0..31, outer OK = bytes 32..63 (two independent random keys);
//                body      = STREAM(outer layer, STREAM(inner layer, plaintext)), outer part keys
//                            derived with DSSE_OUTER_LABEL instead of PART_KEY_LABEL

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ObjectCryptoError } from './errors.js';
import { asObjectId, asObjectKey, hkdfSha256Key, MAX_PART_NUMBER, SINGLE_PART, type ObjectId, type ObjectKey, type PartKey } from './keys.js';
import { KEY_LENGTH, NONCE_LENGTH, TAG_LENGTH } from './layout.js';

// Labels from the spec, verbatim. Changing one breaks every object stored with it.
export const BUCKET_KEY_LABEL = 'coffer/object-encryption/v1/bucket-key';
export const CUSTOMER_KEY_LABEL = 'coffer/object-encryption/v1/customer-key';
export const DSSE_OUTER_LABEL = 'coffer/object-encryption/v1/dsse-outer-part-key';

const BUCKET_KEY_INFO = Buffer.from(BUCKET_KEY_LABEL, 'ascii');

/** Length of a DSSE-KMS data key: two 32-byte layer keys. */
export const DSSE_DATA_KEY_LENGTH = 64;

/** A sealed object key does not open under the given customer key (wrong key, or tampered). */
export class CustomerKeyMismatchError extends ObjectCryptoError {
  override readonly name = 'CustomerKeyMismatchError';
  readonly kind = 'auth';
}

/** The object key of one object under an S3 Bucket Key. */
export function deriveObjectKeyFromBucketKey(bucketKey: Buffer, objectId: ObjectId): ObjectKey {
  if (!Buffer.isBuffer(bucketKey) || bucketKey.length !== KEY_LENGTH) throw new RangeError(`a bucket key is ${KEY_LENGTH} bytes`);
  asObjectId(objectId);
  return asObjectKey(hkdfSha256Key(bucketKey, objectId, BUCKET_KEY_INFO));
}

function customerKek(customerKey: Buffer, objectId: ObjectId): Buffer {
  if (!Buffer.isBuffer(customerKey) || customerKey.length !== KEY_LENGTH) throw new RangeError(`a customer key is ${KEY_LENGTH} bytes`);
  asObjectId(objectId);
  return hkdfSha256Key(customerKey, objectId, Buffer.from(CUSTOMER_KEY_LABEL, 'ascii'));
}

/** Seals an object key under a customer key (SSE-C); `aad` is sealedKeyAad(envelope fields). */
export function sealUnderCustomerKey(objectKey: ObjectKey, customerKey: Buffer, objectId: ObjectId, aad: Buffer, nonce: Buffer = randomBytes(NONCE_LENGTH)): Buffer {
  const kek = customerKek(customerKey, objectId);
  try {
    const c = createCipheriv('aes-256-gcm', kek, nonce);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(asObjectKey(objectKey)), c.final()]);
    return Buffer.concat([nonce, ct, c.getAuthTag()]);
  } finally {
    kek.fill(0);
  }
}

/** Opens an object key sealed by sealUnderCustomerKey; CustomerKeyMismatchError for a wrong key or tampering. */
export function openUnderCustomerKey(wrapped: Buffer, customerKey: Buffer, objectId: ObjectId, aad: Buffer): ObjectKey {
  if (wrapped.length !== NONCE_LENGTH + KEY_LENGTH + TAG_LENGTH) throw new CustomerKeyMismatchError('the sealed customer-key object key has the wrong length');
  const kek = customerKek(customerKey, objectId);
  try {
    const d = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, NONCE_LENGTH));
    d.setAAD(aad);
    d.setAuthTag(wrapped.subarray(NONCE_LENGTH + KEY_LENGTH));
    return asObjectKey(Buffer.concat([d.update(wrapped.subarray(NONCE_LENGTH, NONCE_LENGTH + KEY_LENGTH)), d.final()]));
  } catch {
    throw new CustomerKeyMismatchError('the object key does not open under this customer key');
  } finally {
    kek.fill(0);
  }
}

/** The two layer keys of a DSSE-KMS data key (64 bytes): [inner, outer]. Copies; zero the input when done. */
export function splitDsseDataKey(dataKey: Buffer): [ObjectKey, ObjectKey] {
  if (!Buffer.isBuffer(dataKey) || dataKey.length !== DSSE_DATA_KEY_LENGTH) throw new RangeError(`a DSSE-KMS data key is ${DSSE_DATA_KEY_LENGTH} bytes`);
  return [asObjectKey(Buffer.from(dataKey.subarray(0, KEY_LENGTH))), asObjectKey(Buffer.from(dataKey.subarray(KEY_LENGTH)))];
}

/** The outer-layer key of part `partNumber` of a DSSE-KMS object. */
export function deriveOuterPartKey(outerKey: ObjectKey, objectId: ObjectId, partNumber: number): PartKey {
  asObjectKey(outerKey);
  asObjectId(objectId);
  if (!Number.isInteger(partNumber) || partNumber < SINGLE_PART || partNumber > MAX_PART_NUMBER) throw new RangeError('part number must be 0 to 10000');
  const label = Buffer.from(DSSE_OUTER_LABEL, 'ascii');
  const info = Buffer.alloc(label.length + 4);
  label.copy(info);
  info.writeUInt32BE(partNumber, label.length);
  return hkdfSha256Key(outerKey, objectId, info) as PartKey;
}
