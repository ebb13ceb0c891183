// Encrypt, Decrypt and ReEncrypt with an RSA key (RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256). The
// ciphertext is the raw OAEP ciphertext, exactly as AWS returns it, so data encrypted
// offline with the public key (GetPublicKey) decrypts through Decrypt, and Coffer's
// ciphertexts decrypt wherever the private key would. It names no key: Decrypt needs
// KeyId and EncryptionAlgorithm. Encryption context is not part of RSA encryption; AWS
// documents it for symmetric keys only, so Coffer refuses it rather than ignore a binding
// the caller asked for.
//
//   Encrypt: plaintext ≤ k − 2·hLen − 2 bytes (RSA_2048: 214 with SHA-1, 190 with SHA-256)
//   Decrypt: key from KeyId → authorize kms:Decrypt → state → usage and algorithm → OAEP

import { constants, createPublicKey, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import type { AuditNote } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import type { KmsKeyRecord } from '../store/types.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { SPECS } from '../key-specs.js';
import type { EncryptionContext } from '../../crypto/encryption-context.js';
import { algorithmAllowed, usableFor } from './key-usage.js';
import { invalidCiphertext } from './members.js';
import { withRequestAlias } from './request-alias.js';

const OAEP_HASH: Record<string, { hash: string; length: number }> = {
  RSAES_OAEP_SHA_1: { hash: 'sha1', length: 20 },
  RSAES_OAEP_SHA_256: { hash: 'sha256', length: 32 },
};

function refuseContext(context: EncryptionContext): void {
  if (Object.keys(context).length > 0) throw kmsError('ValidationException', 'EncryptionContext is not supported with asymmetric KMS keys.');
}

/** The most an RSA key of this spec encrypts with this OAEP algorithm. */
export function maxOaepPlaintext(spec: KmsKeyRecord['keySpec'], algorithm: string): number {
  return SPECS[spec].rsaBits! / 8 - 2 * OAEP_HASH[algorithm]!.length - 2;
}

export function oaepOptions(key: KeyObject, algorithm: string) {
  return { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[algorithm]!.hash };
}

type Secret = Awaited<ReturnType<KmsService['secret']>>;

/** RSA OAEP encryption with a key whose usage and algorithm the caller has checked; AWS's size limit and no context. */
export function sealRsa(secret: Secret, key: KmsKeyRecord, algorithm: string, plaintext: Buffer, context: EncryptionContext): Buffer {
  refuseContext(context);
  const max = maxOaepPlaintext(key.keySpec, algorithm);
  if (plaintext.length > max) throw kmsError('ValidationException', `Algorithm ${algorithm} and key spec ${key.keySpec} cannot encrypt data larger than ${max} bytes.`);
  if (!('privateKey' in secret)) throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
  return publicEncrypt(oaepOptions(createPublicKey(secret.privateKey), algorithm), plaintext);
}

/** RSA OAEP decryption with a key whose usage and algorithm the caller has checked; any failure is InvalidCiphertextException. */
export async function openRsa(svc: KmsService, key: KmsKeyRecord, algorithm: string, blob: Buffer, context: EncryptionContext): Promise<Buffer> {
  refuseContext(context);
  const secret = await svc.secret(key);
  if (!('privateKey' in secret)) throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
  try {
    return privateDecrypt(oaepOptions(secret.privateKey, algorithm), blob);
  } catch {
    throw invalidCiphertext(new Error('OAEP decryption failed'));
  }
}

/** The caller has checked usage and algorithm (RSAES_* on an ENCRYPT_DECRYPT RSA key). */
export async function encryptAsymmetric(svc: KmsService, key: KmsKeyRecord, plaintext: Buffer, algorithm: string, context: EncryptionContext, dryRun: boolean) {
  refuseContext(context);
  const max = maxOaepPlaintext(key.keySpec, algorithm);
  if (plaintext.length > max) throw kmsError('ValidationException', `Algorithm ${algorithm} and key spec ${key.keySpec} cannot encrypt data larger than ${max} bytes.`);
  if (dryRun) throw dryRunSucceeded();
  return { CiphertextBlob: sealRsa(await svc.secret(key), key, algorithm, plaintext, context), KeyId: key.arn, EncryptionAlgorithm: algorithm };
}

export async function decryptAsymmetric(
  svc: KmsService, caller: Caller, keyRef: string | undefined, algorithm: string, blob: Buffer, context: EncryptionContext, note: AuditNote, dryRun: boolean,
) {
  if (keyRef === undefined) throw kmsError('ValidationException', `KeyId is required to decrypt with ${algorithm}: a ciphertext made with an asymmetric KMS key does not name its key.`);
  const key = await svc.resolveKey(keyRef, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:Decrypt', withRequestAlias({ 'kms:EncryptionAlgorithm': algorithm }, keyRef), context);
  svc.checkState(key, 'crypto');
  usableFor(key, 'ENCRYPT_DECRYPT', 'Decrypt');
  algorithmAllowed(key, algorithm, SPECS[key.keySpec].encryption);
  const plaintext = await openRsa(svc, key, algorithm, blob, context);
  if (dryRun) {
    plaintext.fill(0);
    throw dryRunSucceeded();
  }
  return { KeyId: key.arn, Plaintext: plaintext, EncryptionAlgorithm: algorithm };
}
