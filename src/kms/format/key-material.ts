// KMS key material at rest. Each KMS key has numbered versions of 256-bit material
// (rotation adds one; old ones are kept forever so old ciphertexts still decrypt). Each
// version is stored sealed under the root key, bound to its key id and version so a
// record cannot be moved to another key or version. Spec: docs/spec/kms-key-material.md.
//
//   header = 0x01 || keyId (36 ASCII) || version (u32 BE)
//   sealed = header || rootKey.wrap(material, aad = SEAL_LABEL || header)

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SealedKeyAuthError, SealedKeyParseError } from '../../custody/errors.js';
import { isKeyId, isMaterialVersion, KEY_ID_LENGTH, keyIdBytes } from './key-id.js';
import type { RootKeyProvider } from '../../custody/root-key.js';

// Layout of sealed key material v1. Changing any of these breaks every stored key.
export const SEALED_MATERIAL_VERSION = 0x01;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH + 4;
const VERSION_OFFSET = 1 + KEY_ID_LENGTH;
export const KEY_MATERIAL_LENGTH = 32;
// Label from the spec, verbatim. Changing it breaks every stored key.
export const SEAL_LABEL = 'coffer/kms/key-material/v1';

declare const keyMaterialBrand: unique symbol;
/** 32 bytes of KMS key material. Only asKeyMaterial and generateKeyMaterial make one. Never log it. */
export type KeyMaterial = Buffer & { readonly [keyMaterialBrand]: true };

/** Checks the length at the boundary; the buffer is not copied. */
export function asKeyMaterial(bytes: Buffer): KeyMaterial {
  if (!Buffer.isBuffer(bytes) || bytes.length !== KEY_MATERIAL_LENGTH) {
    throw new RangeError(`key material is ${KEY_MATERIAL_LENGTH} bytes, got ${Buffer.isBuffer(bytes) ? bytes.length : typeof bytes}`);
  }
  return bytes as KeyMaterial;
}

export function generateKeyMaterial(): KeyMaterial {
  return asKeyMaterial(randomBytes(KEY_MATERIAL_LENGTH));
}

function header(keyId: string, version: number): Buffer {
  if (!isMaterialVersion(version)) throw new RangeError('material version must be an integer from 1 to 2^32-1');
  const h = Buffer.alloc(HEADER_LENGTH);
  h[0] = SEALED_MATERIAL_VERSION;
  keyIdBytes(keyId).copy(h, 1);
  h.writeUInt32BE(version, VERSION_OFFSET);
  return h;
}

const aadFor = (h: Buffer) => Buffer.concat([Buffer.from(SEAL_LABEL, 'utf8'), h]);

/** Seals one version of a key's material under the root key. */
export async function sealKeyMaterial(provider: RootKeyProvider, keyId: string, version: number, material: KeyMaterial): Promise<Buffer> {
  asKeyMaterial(material);
  const h = header(keyId, version);
  return Buffer.concat([h, await provider.wrap(material, aadFor(h))]);
}

/**
 * Opens sealed material for `keyId` and `version`. Throws SealedKeyParseError (not a v1
 * record), SealedKeyAuthError (tampered, or sealed for another key or version) or
 * WrongRootKeyError (sealed under another root key).
 */
export async function openKeyMaterial(provider: RootKeyProvider, keyId: string, version: number, sealed: Buffer): Promise<KeyMaterial> {
  const expected = header(keyId, version);
  if (sealed.length === 0 || sealed[0] !== SEALED_MATERIAL_VERSION) throw new SealedKeyParseError('unsupported sealed key material version');
  if (sealed.length <= HEADER_LENGTH) throw new SealedKeyParseError(`sealed key material is ${sealed.length} bytes, too short`);
  const h = sealed.subarray(0, HEADER_LENGTH);
  if (!isKeyId(h.subarray(1, VERSION_OFFSET).toString('latin1'))) throw new SealedKeyParseError('sealed key material has a malformed key id');
  if (!h.equals(expected)) {
    // Checked before unwrapping only for a clearer message; the AAD enforces it anyway.
    throw new SealedKeyAuthError(
      `sealed key material belongs to key ${h.subarray(1, VERSION_OFFSET).toString('latin1')} version ${h.readUInt32BE(VERSION_OFFSET)}, not ${keyId} version ${version}`,
    );
  }
  const material = await provider.unwrap(sealed.subarray(HEADER_LENGTH), aadFor(expected));
  if (material.length !== KEY_MATERIAL_LENGTH) {
    material.fill(0);
    throw new SealedKeyParseError(`sealed key material holds ${material.length} bytes, not ${KEY_MATERIAL_LENGTH}`);
  }
  return asKeyMaterial(material);
}

/** Fresh material for version 1 of a new key, sealed under the root key (the plaintext is wiped at once). */
export async function newSealedMaterial(provider: RootKeyProvider, keyId: string, createdAt: number): Promise<{ keyId: string; version: number; materialId: string; sealed: Buffer; createdAt: number }> {
  const material = generateKeyMaterial();
  try {
    const sealed = await sealKeyMaterial(provider, keyId, 1, material);
    return { keyId, version: 1, materialId: randomBytes(32).toString('hex'), sealed, createdAt };
  } finally {
    material.fill(0);
  }
}

// ---- Sealed key material, version 2: private keys and HMAC keys ----
//
// Asymmetric private keys (PKCS#8 DER, up to ~2.4 KB for RSA 4096) exceed what a root key
// wraps (1024 bytes), so a v2 record is an envelope: a fresh 32-byte record key is wrapped
// under the root key, and the secret is AES-256-GCM-encrypted under the record key. The
// kind of secret is a header byte, never guessed from the bytes; v1 records are still read.
//
//   header  = 0x02 || keyId (36 ASCII) || version (u32 BE) || kind (1)
//   wrapped = rootKey.wrap(recordKey, aad = SEAL_LABEL_V2 || header)
//   record  = header || u16 BE(len(wrapped)) || wrapped || nonce (12)
//             || AES-256-GCM(recordKey, nonce, secret, aad = PAYLOAD_LABEL_V2 || header) || tag (16)

// Layout of sealed key material v2. Changing any of these breaks every stored key.
export const SEALED_MATERIAL_VERSION_2 = 0x02;
const V2_HEADER_LENGTH = 1 + KEY_ID_LENGTH + 4 + 1;
const V2_KIND_OFFSET = 1 + KEY_ID_LENGTH + 4;
const RECORD_KEY_LENGTH = 32;
const PAYLOAD_NONCE_LENGTH = 12;
const PAYLOAD_TAG_LENGTH = 16;
/** Longest secret a v2 record holds: an RSA 4096 PKCS#8 key is about 2,400 bytes. */
export const MAX_SEALED_SECRET = 16384;
// Labels from the spec, verbatim. Changing them breaks every stored key.
export const SEAL_LABEL_V2 = 'coffer/kms/key-material/v2';
export const PAYLOAD_LABEL_V2 = 'coffer/kms/key-material/v2/payload';

/** Kinds of secret in a v2 record (byte 41). Changing a value breaks every stored key. */
export const SecretKind = {
  /** An asymmetric private key, PKCS#8 DER (RSA, EC). */
  'private-key': 0x02,
  /** An HMAC key, raw bytes (28, 32, 48 or 64). */
  hmac: 0x03,
} as const;
export type SecretKindName = keyof typeof SecretKind;

function v2Header(keyId: string, version: number, kind: SecretKindName): Buffer {
  if (!isMaterialVersion(version)) throw new RangeError('material version must be an integer from 1 to 2^32-1');
  const h = Buffer.alloc(V2_HEADER_LENGTH);
  h[0] = SEALED_MATERIAL_VERSION_2;
  keyIdBytes(keyId).copy(h, 1);
  h.writeUInt32BE(version, VERSION_OFFSET);
  h[V2_KIND_OFFSET] = SecretKind[kind];
  return h;
}

const labelled = (label: string, h: Buffer) => Buffer.concat([Buffer.from(label, 'utf8'), h]);

/** Seals a private key (PKCS#8 DER) or HMAC key under the root key as a v2 record. `random` is for test vectors only. */
export async function sealSecret(
  provider: RootKeyProvider, keyId: string, version: number, kind: SecretKindName, secret: Buffer, random: (n: number) => Buffer = randomBytes,
): Promise<Buffer> {
  if (secret.length < 1 || secret.length > MAX_SEALED_SECRET) throw new RangeError(`a sealed secret is 1 to ${MAX_SEALED_SECRET} bytes, got ${secret.length}`);
  const h = v2Header(keyId, version, kind);
  const recordKey = random(RECORD_KEY_LENGTH);
  try {
    const wrapped = await provider.wrap(recordKey, labelled(SEAL_LABEL_V2, h));
    const nonce = random(PAYLOAD_NONCE_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', recordKey, nonce);
    cipher.setAAD(labelled(PAYLOAD_LABEL_V2, h));
    const body = Buffer.concat([cipher.update(secret), cipher.final()]);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(wrapped.length);
    return Buffer.concat([h, len, wrapped, nonce, body, cipher.getAuthTag()]);
  } finally {
    recordKey.fill(0);
  }
}

/** The format version of a sealed record (its first byte), for callers that hold v1 and v2 records. */
export function sealedRecordVersion(sealed: Buffer): number | undefined {
  return sealed.length === 0 ? undefined : sealed[0];
}

/**
 * Opens a v2 record for `keyId`, `version` and the kind the key's spec calls for.
 * SealedKeyParseError (not a v2 record, truncated, malformed), SealedKeyAuthError (tampered,
 * or sealed for another key, version or kind) or WrongRootKeyError.
 */
export async function openSecret(provider: RootKeyProvider, keyId: string, version: number, kind: SecretKindName, sealed: Buffer): Promise<Buffer> {
  const expected = v2Header(keyId, version, kind);
  if (sealed.length === 0 || sealed[0] !== SEALED_MATERIAL_VERSION_2) throw new SealedKeyParseError('unsupported sealed key material version');
  if (sealed.length < V2_HEADER_LENGTH + 2) throw new SealedKeyParseError(`sealed key material is ${sealed.length} bytes, too short`);
  const h = sealed.subarray(0, V2_HEADER_LENGTH);
  if (!isKeyId(h.subarray(1, VERSION_OFFSET).toString('latin1'))) throw new SealedKeyParseError('sealed key material has a malformed key id');
  const kindByte = h[V2_KIND_OFFSET]!;
  if (!Object.values(SecretKind).includes(kindByte as 0x02)) throw new SealedKeyParseError(`sealed key material has unknown kind 0x${kindByte.toString(16).padStart(2, '0')}`);
  if (!h.equals(expected)) {
    throw new SealedKeyAuthError(`sealed key material belongs to key ${h.subarray(1, VERSION_OFFSET).toString('latin1')} version ${h.readUInt32BE(VERSION_OFFSET)} kind 0x${kindByte.toString(16)}, not ${keyId} version ${version} ${kind}`);
  }
  const wrappedLength = sealed.readUInt16BE(V2_HEADER_LENGTH);
  const wrappedEnd = V2_HEADER_LENGTH + 2 + wrappedLength;
  const bodyLength = sealed.length - wrappedEnd - PAYLOAD_NONCE_LENGTH - PAYLOAD_TAG_LENGTH;
  if (wrappedLength === 0 || bodyLength < 1) throw new SealedKeyParseError(`sealed key material is ${sealed.length} bytes, too short for its parts`);
  const recordKey = await provider.unwrap(sealed.subarray(V2_HEADER_LENGTH + 2, wrappedEnd), labelled(SEAL_LABEL_V2, expected));
  try {
    if (recordKey.length !== RECORD_KEY_LENGTH) throw new SealedKeyParseError(`sealed record key is ${recordKey.length} bytes, not ${RECORD_KEY_LENGTH}`);
    const nonce = sealed.subarray(wrappedEnd, wrappedEnd + PAYLOAD_NONCE_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', recordKey, nonce);
    decipher.setAAD(labelled(PAYLOAD_LABEL_V2, expected));
    decipher.setAuthTag(sealed.subarray(sealed.length - PAYLOAD_TAG_LENGTH));
    const body = sealed.subarray(wrappedEnd + PAYLOAD_NONCE_LENGTH, sealed.length - PAYLOAD_TAG_LENGTH);
    const out = decipher.update(body);
    try {
      decipher.final();
    } catch {
      out.fill(0);
      throw new SealedKeyAuthError('sealed key material failed authentication');
    }
    return out;
  } finally {
    recordKey.fill(0);
  }
}
