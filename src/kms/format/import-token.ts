// The import token GetParametersForImport returns and ImportKeyMaterial takes back
// (docs/spec/kms-import-token.md). It carries, sealed under the root key, the wrapping RSA
// private key whose public half the caller encrypted the key material with, bound to one
// KMS key, one wrapping algorithm and spec, and an expiry. Coffer keeps no wrapping key:
// the token is the only copy. One use each: the key record lists the ids of tokens not yet
// used (store/types.ts ImportTokenRef).
//
//   header  = 0x01 || tokenId (16) || keyId (36 ASCII) || validTo (u64 BE, epoch ms)
//             || wrappingAlgorithm (1) || wrappingKeySpec (1)
//   wrapped = rootKey.wrap(recordKey, aad = TOKEN_LABEL || header)
//   token   = header || u16 BE(len(wrapped)) || wrapped || nonce (12)
//             || AES-256-GCM(recordKey, nonce, wrapping private key PKCS#8 DER, aad = PAYLOAD_LABEL || header) || tag (16)

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SealedKeyAuthError, SealedKeyParseError } from '../../custody/errors.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import { isKeyId, KEY_ID_LENGTH, keyIdBytes } from './key-id.js';

// Layout of import token v1. Changing any of these invalidates every outstanding token.
export const IMPORT_TOKEN_VERSION = 0x01;
const TOKEN_ID_LENGTH = 16;
const KEY_ID_OFFSET = 1 + TOKEN_ID_LENGTH;
const VALID_TO_OFFSET = KEY_ID_OFFSET + KEY_ID_LENGTH;
const ALGORITHM_OFFSET = VALID_TO_OFFSET + 8;
const SPEC_OFFSET = ALGORITHM_OFFSET + 1;
const HEADER_LENGTH = SPEC_OFFSET + 1;
const RECORD_KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
// Labels from the spec, verbatim.
export const TOKEN_LABEL = 'coffer/kms/import-token/v1';
export const TOKEN_PAYLOAD_LABEL = 'coffer/kms/import-token/v1/payload';

/** Wrapping algorithms by their byte in the header. Changing a value invalidates outstanding tokens. */
export const WrappingAlgorithmByte = {
  RSAES_OAEP_SHA_1: 0x01,
  RSAES_OAEP_SHA_256: 0x02,
  RSA_AES_KEY_WRAP_SHA_1: 0x03,
  RSA_AES_KEY_WRAP_SHA_256: 0x04,
} as const;
export type WrappingAlgorithm = keyof typeof WrappingAlgorithmByte;

export const WrappingKeySpecByte = { RSA_2048: 0x01, RSA_3072: 0x02, RSA_4096: 0x03 } as const;
export type WrappingKeySpec = keyof typeof WrappingKeySpecByte;

export interface ImportTokenContents {
  /** 32 hex characters. */
  tokenId: string;
  keyId: string;
  /** Epoch ms. */
  validTo: number;
  wrappingAlgorithm: WrappingAlgorithm;
  wrappingKeySpec: WrappingKeySpec;
}

const nameOf = <T extends Record<string, number>>(table: T, byte: number): keyof T | undefined =>
  (Object.keys(table) as (keyof T)[]).find((k) => table[k] === byte);

function header(t: ImportTokenContents): Buffer {
  const id = Buffer.from(t.tokenId, 'hex');
  if (id.length !== TOKEN_ID_LENGTH || id.toString('hex') !== t.tokenId) throw new RangeError('token id must be 32 lower-case hex characters');
  if (!Number.isSafeInteger(t.validTo) || t.validTo < 0) throw new RangeError('validTo must be a non-negative integer');
  const h = Buffer.alloc(HEADER_LENGTH);
  h[0] = IMPORT_TOKEN_VERSION;
  id.copy(h, 1);
  keyIdBytes(t.keyId).copy(h, KEY_ID_OFFSET);
  h.writeBigUInt64BE(BigInt(t.validTo), VALID_TO_OFFSET);
  h[ALGORITHM_OFFSET] = WrappingAlgorithmByte[t.wrappingAlgorithm];
  h[SPEC_OFFSET] = WrappingKeySpecByte[t.wrappingKeySpec];
  return h;
}

const labelled = (label: string, h: Buffer) => Buffer.concat([Buffer.from(label, 'utf8'), h]);

/** Seals a token around the wrapping private key (PKCS#8 DER). `random` is for test vectors only. */
export async function sealImportToken(
  provider: RootKeyProvider, t: ImportTokenContents, wrappingKeyPkcs8: Buffer, random: (n: number) => Buffer = randomBytes,
): Promise<Buffer> {
  const h = header(t);
  const recordKey = random(RECORD_KEY_LENGTH);
  try {
    const wrapped = await provider.wrap(recordKey, labelled(TOKEN_LABEL, h));
    const nonce = random(NONCE_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', recordKey, nonce);
    cipher.setAAD(labelled(TOKEN_PAYLOAD_LABEL, h));
    const body = Buffer.concat([cipher.update(wrappingKeyPkcs8), cipher.final()]);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(wrapped.length);
    return Buffer.concat([h, len, wrapped, nonce, body, cipher.getAuthTag()]);
  } finally {
    recordKey.fill(0);
  }
}

/** The header of a token, unauthenticated (read before opening it, to answer for the right key). SealedKeyParseError if it is not a v1 token. */
export function readImportTokenHeader(token: Buffer): ImportTokenContents {
  if (token.length < HEADER_LENGTH + 2 || token[0] !== IMPORT_TOKEN_VERSION) throw new SealedKeyParseError('not an import token');
  const keyId = token.subarray(KEY_ID_OFFSET, VALID_TO_OFFSET).toString('latin1');
  const wrappingAlgorithm = nameOf(WrappingAlgorithmByte, token[ALGORITHM_OFFSET]!);
  const wrappingKeySpec = nameOf(WrappingKeySpecByte, token[SPEC_OFFSET]!);
  if (!isKeyId(keyId) || !wrappingAlgorithm || !wrappingKeySpec) throw new SealedKeyParseError('malformed import token header');
  return {
    tokenId: token.subarray(1, KEY_ID_OFFSET).toString('hex'),
    keyId,
    validTo: Number(token.readBigUInt64BE(VALID_TO_OFFSET)),
    wrappingAlgorithm,
    wrappingKeySpec,
  };
}

/**
 * Opens a token: its contents and the wrapping private key (PKCS#8 DER; the caller zeroes it).
 * SealedKeyParseError (malformed), SealedKeyAuthError (tampered) or WrongRootKeyError.
 */
export async function openImportToken(provider: RootKeyProvider, token: Buffer): Promise<{ contents: ImportTokenContents; wrappingKeyPkcs8: Buffer }> {
  const contents = readImportTokenHeader(token);
  const h = token.subarray(0, HEADER_LENGTH);
  const wrappedLength = token.readUInt16BE(HEADER_LENGTH);
  const wrappedEnd = HEADER_LENGTH + 2 + wrappedLength;
  if (wrappedLength === 0 || token.length - wrappedEnd - NONCE_LENGTH - TAG_LENGTH < 1) throw new SealedKeyParseError('import token too short for its parts');
  const recordKey = await provider.unwrap(token.subarray(HEADER_LENGTH + 2, wrappedEnd), labelled(TOKEN_LABEL, h));
  try {
    if (recordKey.length !== RECORD_KEY_LENGTH) throw new SealedKeyParseError('import token record key has the wrong length');
    const decipher = createDecipheriv('aes-256-gcm', recordKey, token.subarray(wrappedEnd, wrappedEnd + NONCE_LENGTH));
    decipher.setAAD(labelled(TOKEN_PAYLOAD_LABEL, h));
    decipher.setAuthTag(token.subarray(token.length - TAG_LENGTH));
    const out = decipher.update(token.subarray(wrappedEnd + NONCE_LENGTH, token.length - TAG_LENGTH));
    try {
      decipher.final();
    } catch {
      out.fill(0);
      throw new SealedKeyAuthError('import token failed authentication');
    }
    return { contents, wrappingKeyPkcs8: out };
  } finally {
    recordKey.fill(0);
  }
}
