// The KMS ciphertext blob: what Encrypt returns as CiphertextBlob and Decrypt accepts
// without a KeyId. It names the key and the material version in a cleartext header, so
// Decrypt finds the material itself, and after a rotation old blobs still open with the
// material that sealed them. Spec (byte table, labels, vectors): docs/spec/kms-ciphertext.md.
//
//   header    = 0x01 || keyId (36 ASCII) || materialVersion (u32 BE) || salt (32 random)
//   K || N    = HKDF-SHA256(ikm = material, salt = salt, info = CIPHERTEXT_LABEL, 44 bytes)
//   blob      = header || AES-256-GCM(K, N, plaintext, aad = header || canon(context)) || tag
//
// A fresh key per message (rather than a random nonce under the material) removes the
// 2^32-messages-per-key limit of random 96-bit GCM nonces: a long-lived KMS key may
// encrypt far more than that. Only a repeated 256-bit salt would repeat a key and nonce.

import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import { encodeEncryptionContext, type EncryptionContext } from '../../crypto/encryption-context.js';
import { CiphertextAuthError, CiphertextParseError } from '../../custody/errors.js';
import { isKeyId, isMaterialVersion, KEY_ID_LENGTH, keyIdBytes } from './key-id.js';
import { asKeyMaterial, type KeyMaterial } from './key-material.js';

// Layout of ciphertext v1. Changing any of these breaks every stored ciphertext; the
// vectors in test/vectors/kms-ciphertext pin them.
export const CIPHERTEXT_VERSION = 0x01;
const KEY_ID_OFFSET = 1;
const MATERIAL_VERSION_OFFSET = KEY_ID_OFFSET + KEY_ID_LENGTH; // 37
const SALT_OFFSET = MATERIAL_VERSION_OFFSET + 4; // 41
const SALT_LENGTH = 32;
export const CIPHERTEXT_HEADER_LENGTH = SALT_OFFSET + SALT_LENGTH; // 73
const KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
/** AWS KMS's limit for Encrypt. Checked before decrypting, like every length. */
export const MAX_PLAINTEXT = 4096;
export const MIN_CIPHERTEXT_LENGTH = CIPHERTEXT_HEADER_LENGTH + TAG_LENGTH; // 89
export const MAX_CIPHERTEXT_LENGTH = CIPHERTEXT_HEADER_LENGTH + MAX_PLAINTEXT + TAG_LENGTH; // 4185
// Label from the spec, verbatim. Changing it breaks every stored ciphertext.
export const CIPHERTEXT_LABEL = 'coffer/kms/ciphertext/v1';

export interface CiphertextHeader {
  keyId: string;
  materialVersion: number;
}

export interface EncryptInput extends CiphertextHeader {
  material: KeyMaterial;
  plaintext: Buffer;
  context: EncryptionContext;
}

/**
 * Encrypts up to 4096 bytes under one version of a key's material. `random` is for
 * test vectors only; production uses the default.
 */
export function encodeCiphertext(input: EncryptInput, random: (size: number) => Buffer = saltBytes): Buffer {
  const material = asKeyMaterial(input.material);
  if (input.plaintext.length > MAX_PLAINTEXT) {
    throw new RangeError(`plaintext is ${input.plaintext.length} bytes; the limit is ${MAX_PLAINTEXT}`);
  }
  if (!isMaterialVersion(input.materialVersion)) throw new RangeError('material version must be an integer from 1 to 2^32-1');
  const header = Buffer.alloc(CIPHERTEXT_HEADER_LENGTH);
  header[0] = CIPHERTEXT_VERSION;
  keyIdBytes(input.keyId).copy(header, KEY_ID_OFFSET);
  header.writeUInt32BE(input.materialVersion, MATERIAL_VERSION_OFFSET);
  const salt = random(SALT_LENGTH);
  if (salt.length !== SALT_LENGTH) throw new RangeError(`random source returned ${salt.length} bytes, not ${SALT_LENGTH}`);
  salt.copy(header, SALT_OFFSET);
  const aad = Buffer.concat([header, encodeEncryptionContext(input.context)]);

  const okm = derive(material, salt);
  try {
    const cipher = createCipheriv('aes-256-gcm', okm.subarray(0, KEY_LENGTH), okm.subarray(KEY_LENGTH), { authTagLength: TAG_LENGTH });
    cipher.setAAD(aad);
    return Buffer.concat([header, cipher.update(input.plaintext), cipher.final(), cipher.getAuthTag()]);
  } finally {
    okm.fill(0);
  }
}

/** Reads the key id and material version. Throws CiphertextParseError if `blob` is not a v1 ciphertext. */
export function parseCiphertextHeader(blob: Buffer): CiphertextHeader {
  if (blob.length === 0) throw new CiphertextParseError('ciphertext is empty');
  if (blob[0] !== CIPHERTEXT_VERSION) {
    throw new CiphertextParseError(`unsupported ciphertext version 0x${blob[0]!.toString(16).padStart(2, '0')}`);
  }
  if (blob.length < MIN_CIPHERTEXT_LENGTH || blob.length > MAX_CIPHERTEXT_LENGTH) {
    throw new CiphertextParseError(`ciphertext is ${blob.length} bytes; version 1 is ${MIN_CIPHERTEXT_LENGTH} to ${MAX_CIPHERTEXT_LENGTH}`);
  }
  const keyId = blob.subarray(KEY_ID_OFFSET, MATERIAL_VERSION_OFFSET).toString('latin1');
  if (!isKeyId(keyId)) throw new CiphertextParseError('ciphertext has a malformed key id');
  const materialVersion = blob.readUInt32BE(MATERIAL_VERSION_OFFSET);
  if (!isMaterialVersion(materialVersion)) throw new CiphertextParseError('ciphertext has material version 0');
  return { keyId, materialVersion };
}

/**
 * Decrypts with the material named by the blob's header (the caller looks it up with
 * parseCiphertextHeader). Throws CiphertextParseError (not a v1 ciphertext) or
 * CiphertextAuthError (tampered, other material, or a different encryption context).
 */
export function decryptCiphertext(blob: Buffer, material: KeyMaterial, context: EncryptionContext): Buffer {
  asKeyMaterial(material);
  parseCiphertextHeader(blob);
  const header = blob.subarray(0, CIPHERTEXT_HEADER_LENGTH);
  const aad = Buffer.concat([header, encodeEncryptionContext(context)]);
  const okm = derive(material, header.subarray(SALT_OFFSET));
  try {
    const decipher = createDecipheriv('aes-256-gcm', okm.subarray(0, KEY_LENGTH), okm.subarray(KEY_LENGTH), { authTagLength: TAG_LENGTH });
    decipher.setAAD(aad);
    decipher.setAuthTag(blob.subarray(blob.length - TAG_LENGTH));
    const plaintext = decipher.update(blob.subarray(CIPHERTEXT_HEADER_LENGTH, blob.length - TAG_LENGTH));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0);
      throw new CiphertextAuthError('ciphertext did not authenticate: tampered, other key material, or a different encryption context');
    }
    return plaintext;
  } finally {
    okm.fill(0);
  }
}

/**
 * Fresh random bytes for a salt (public: it is in the header), taken from a pool the CSPRNG
 * refills 4 KiB at a time, which saves a CSPRNG call per Encrypt/GenerateDataKey. Each
 * byte is handed out once, copied.
 */
const SALT_POOL = Buffer.alloc(4096);
let saltPoolUsed = SALT_POOL.length;
function saltBytes(size: number): Buffer {
  if (size > SALT_POOL.length) return randomFillSync(Buffer.alloc(size));
  if (saltPoolUsed + size > SALT_POOL.length) {
    randomFillSync(SALT_POOL);
    saltPoolUsed = 0;
  }
  const out = Buffer.from(SALT_POOL.subarray(saltPoolUsed, saltPoolUsed + size));
  saltPoolUsed += size;
  return out;
}

/** HKDF-SHA256 → 32-byte AES key || 12-byte GCM nonce, unique per salt. */
const INFO = Buffer.from(CIPHERTEXT_LABEL, 'utf8');

/**
 * HKDF-SHA256 (RFC 5869) of the material with the salt and the label as info, 44 bytes:
 * written out with HMAC because that is about twice as fast here as hkdfSync's job
 * dispatch, and this runs on every Encrypt/Decrypt. The vectors pin the equivalence.
 */
function derive(material: KeyMaterial, salt: Buffer): Buffer {
  const prk = createHmac('sha256', salt).update(material).digest();
  const t1 = createHmac('sha256', prk).update(INFO).update(ONE).digest();
  const t2 = createHmac('sha256', prk).update(t1).update(INFO).update(TWO).digest();
  prk.fill(0);
  const okm = Buffer.concat([t1, t2.subarray(0, KEY_LENGTH + NONCE_LENGTH - 32)]);
  t1.fill(0);
  t2.fill(0);
  return okm;
}
const ONE = Buffer.from([1]);
const TWO = Buffer.from([2]);
