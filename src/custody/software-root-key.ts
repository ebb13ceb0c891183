// The wrapped-key format v1 for root keys held in process memory (file, COFFER_ROOT_KEY,
// passphrase): AES-256-GCM under the root key with a fresh random nonce, behind a header
// that names the format version, the root-key kind and the root key's fingerprint.
// Spec: docs/spec/kms-key-material.md, "Wrapped key". Labels are copied from it verbatim.
//
//   wrapped = 0x01 || kind || fingerprint(8) || nonce(12) || AES-256-GCM(rootKey, nonce,
//             plaintextKey, aad = WRAP_LABEL || wrapped[0..22] || callerAad) || tag(16)

import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { pooledRandomBytes } from '../crypto/keys.js';
import { SealedKeyAuthError, SealedKeyParseError, WrongRootKeyError } from './errors.js';
import type { RootKeyProvider } from './root-key.js';

// Layout of the wrapped-key format v1. Changing any of these breaks every stored key.
export const WRAP_VERSION = 0x01;
const HEADER_LENGTH = 22; // version(1) kind(1) fingerprint(8) nonce(12)
const FINGERPRINT_OFFSET = 2;
const FINGERPRINT_LENGTH = 8;
const NONCE_OFFSET = 10;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
export const ROOT_KEY_LENGTH = 32;
/** Longest secret a root key wraps; KMS key material is 32 bytes. */
export const MAX_WRAPPED_SECRET = 1024;

// Labels from the spec, verbatim. Changing them breaks every stored key.
export const WRAP_LABEL = 'coffer/root-key/wrap/v1';
const WRAP_LABEL_BYTES = Buffer.from(WRAP_LABEL, 'utf8');
export const FINGERPRINT_LABEL = 'coffer/root-key/fingerprint/v1';

/** Root-key kinds as stored in byte 1 of a wrapped key. Changing a value breaks every stored key. */
export const RootKeyKind = {
  /** A raw 256-bit key: root.key or COFFER_ROOT_KEY (interchangeable: same bytes, same kind). */
  key: 0x01,
  /** A key derived with scrypt from COFFER_ROOT_PASSPHRASE and the data directory's root.salt. */
  passphrase: 0x02,
  /** Reserved for a PKCS#11 provider, which defines its own body after the version and kind bytes. */
  pkcs11: 0x03,
  /** A data key from an external AWS-KMS-compatible service, held in memory (external-kms-root-key.ts). */
  'external-kms': 0x04,
} as const;
export type RootKeyKindName = keyof typeof RootKeyKind;

const kindName = (byte: number): string =>
  (Object.keys(RootKeyKind) as RootKeyKindName[]).find((k) => RootKeyKind[k] === byte) ?? `unknown kind 0x${byte.toString(16).padStart(2, '0')}`;

/** First 8 bytes of HMAC-SHA256(rootKey, FINGERPRINT_LABEL): names a key without revealing it. */
export function rootKeyFingerprint(rootKey: Buffer): Buffer {
  return createHmac('sha256', rootKey).update(FINGERPRINT_LABEL, 'utf8').digest().subarray(0, FINGERPRINT_LENGTH);
}

/** A root key in memory with the v1 wrap format; the built-in providers are thin shells around it. */
export class SoftwareRootKey implements RootKeyProvider {
  readonly id: string;
  readonly #key: Buffer;
  readonly #header: Buffer; // version, kind, fingerprint (the nonce is added per wrap)

  /** Copies `rootKey`; the caller may zero its own buffer afterwards. */
  constructor(kind: 'key' | 'passphrase' | 'external-kms', rootKey: Buffer) {
    if (rootKey.length !== ROOT_KEY_LENGTH) throw new RangeError(`a root key is ${ROOT_KEY_LENGTH} bytes, got ${rootKey.length}`);
    this.#key = Buffer.from(rootKey);
    const fingerprint = rootKeyFingerprint(this.#key);
    this.#header = Buffer.concat([Buffer.from([WRAP_VERSION, RootKeyKind[kind]]), fingerprint]);
    this.id = `${kind}:${fingerprint.toString('hex')}`;
  }

  async wrap(plaintextKey: Buffer, aad: Buffer): Promise<Buffer> {
    if (plaintextKey.length === 0 || plaintextKey.length > MAX_WRAPPED_SECRET) {
      throw new RangeError(`a wrapped secret is 1 to ${MAX_WRAPPED_SECRET} bytes, got ${plaintextKey.length}`);
    }
    const header = Buffer.concat([this.#header, pooledRandomBytes(NONCE_LENGTH)]);
    const cipher = createCipheriv('aes-256-gcm', this.#key, header.subarray(NONCE_OFFSET), { authTagLength: TAG_LENGTH });
    cipher.setAAD(Buffer.concat([WRAP_LABEL_BYTES, header, aad]));
    return Buffer.concat([header, cipher.update(plaintextKey), cipher.final(), cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    if (wrapped.length < 1) throw new SealedKeyParseError('wrapped key is empty');
    if (wrapped[0] !== WRAP_VERSION) {
      throw new SealedKeyParseError(`unsupported wrapped-key version 0x${wrapped[0]!.toString(16).padStart(2, '0')}`);
    }
    const min = HEADER_LENGTH + 1 + TAG_LENGTH;
    const max = HEADER_LENGTH + MAX_WRAPPED_SECRET + TAG_LENGTH;
    if (wrapped.length < min || wrapped.length > max) {
      throw new SealedKeyParseError(`wrapped key is ${wrapped.length} bytes; v1 is ${min} to ${max}`);
    }
    const kind = wrapped[1]!;
    const fingerprint = wrapped.subarray(FINGERPRINT_OFFSET, FINGERPRINT_OFFSET + FINGERPRINT_LENGTH);
    if (kind !== this.#header[1] || !timingSafeEqual(fingerprint, this.#header.subarray(FINGERPRINT_OFFSET))) {
      throw new WrongRootKeyError(
        `key was wrapped under root key ${kindName(kind)}:${fingerprint.toString('hex')}, but the configured root key is ${this.id}`,
      );
    }
    const header = wrapped.subarray(0, HEADER_LENGTH);
    const body = wrapped.subarray(HEADER_LENGTH, wrapped.length - TAG_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, header.subarray(NONCE_OFFSET), { authTagLength: TAG_LENGTH });
    decipher.setAAD(Buffer.concat([WRAP_LABEL_BYTES, header, aad]));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_LENGTH));
    const out = decipher.update(body);
    try {
      decipher.final();
    } catch {
      out.fill(0);
      throw new SealedKeyAuthError('wrapped key did not authenticate: tampered, or bound to other data');
    }
    return out;
  }
}
