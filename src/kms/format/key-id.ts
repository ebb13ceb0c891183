// KMS key ids as they appear inside persisted records: exactly 36 ASCII characters, a
// lower-case UUID (`1234abcd-12ab-34cd-56ef-1234567890ab`) or a multi-Region id
// (`mrk-` and 32 hex digits). Fixed length keeps every header that holds one
// fixed-length and unambiguous.

// Changing this breaks every stored ciphertext and sealed key.
export const KEY_ID_LENGTH = 36;
const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

export function isKeyId(s: string): boolean {
  return KEY_ID.test(s);
}

/** The key id's 36 ASCII bytes; throws RangeError for anything that is not a key id. */
export function keyIdBytes(keyId: string): Buffer {
  if (!isKeyId(keyId)) throw new RangeError('key id must be a lower-case UUID or mrk- and 32 hex digits');
  return Buffer.from(keyId, 'ascii');
}

/** Material versions are 1 to 2^32-1 (u32 big-endian on disk; 0 is never valid). */
export function isMaterialVersion(v: number): boolean {
  return Number.isInteger(v) && v >= 1 && v <= 0xffffffff;
}
