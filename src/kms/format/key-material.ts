// KMS key material at rest. Each KMS key has numbered versions of 256-bit material
// (rotation adds one; old ones are kept forever so old ciphertexts still decrypt). Each
// version is stored sealed under the root key, bound to its key id and version so a
// record cannot be moved to another key or version. Spec: docs/spec/kms-key-material.md.
//
//   header = 0x01 || keyId (36 ASCII) || version (u32 BE)
//   sealed = header || rootKey.wrap(material, aad = SEAL_LABEL || header)

import { randomBytes } from 'node:crypto';
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
