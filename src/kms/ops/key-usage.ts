// Whether a key may be used for an operation, in AWS's words: first its KeyUsage
// ("<arn> key usage is SIGN_VERIFY which is not valid for Encrypt."), then the algorithm
// against its KeySpec ("Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.").
// Both are InvalidKeyUsageException (recorded: test_error_messaging_for_invalid_keys,
// test_invalid_generate_mac).

import { kmsError } from '../errors.js';
import type { KmsKeyRecord } from '../store/types.js';
import type { KeyUsage } from '../key-specs.js';

export function usableFor(key: KmsKeyRecord, usage: KeyUsage, operation: string): void {
  if (key.keyUsage !== usage) throw kmsError('InvalidKeyUsageException', `${key.arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`);
}

export function algorithmAllowed(key: KmsKeyRecord, algorithm: string, allowed: readonly string[] | undefined): void {
  if (!allowed?.includes(algorithm)) throw kmsError('InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`);
}

/** Data keys and data key pairs are made under symmetric encryption keys only. */
export function symmetricOnly(key: KmsKeyRecord, operation: string): void {
  usableFor(key, 'ENCRYPT_DECRYPT', operation);
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw kmsError('InvalidKeyUsageException', `${key.arn} key spec is ${key.keySpec} which is not valid for ${operation}.`);
}

/**
 * The request context the data-key operations present besides the common keys:
 * kms:EncryptionAlgorithm is the algorithm that encrypts the data key, always
 * SYMMETRIC_DEFAULT (AWS's condition-key reference lists it for GenerateDataKey,
 * GenerateDataKeyWithoutPlaintext and the two GenerateDataKeyPair operations), so AWS's
 * "AllowOnlySymmetricAlgorithm" Deny leaves them allowed.
 */
export const DATA_KEY_CONDITIONS: Readonly<Record<string, string>> = Object.freeze({ 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' });
