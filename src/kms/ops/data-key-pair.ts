// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a fresh RSA, ECC or Ed25519 key pair
// whose private key (PKCS#8 DER) comes back encrypted under a symmetric KMS key as an
// ordinary Coffer ciphertext blob (kms-ciphertext.md), bound to the encryption context, so
// Decrypt with the same context returns it. The public key is DER SubjectPublicKeyInfo.
// The plaintext private key is returned only by GenerateDataKeyPair and never kept.

import type { AuditNote, Operation } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { encodeCiphertext } from '../format/ciphertext.js';
import { EncryptionContextError } from '../../crypto/encryption-context.js';
import { generatePrivateKey, type KeySpec } from '../key-specs.js';
import { createPublicKey } from 'node:crypto';
import { validateGrantTokens } from './grants.js';
import { DATA_KEY_CONDITIONS, symmetricOnly } from './key-usage.js';
import { absent, auditParams, contextMember, enumValue, keyIdMember, Violations } from './members.js';
import { withRequestAlias } from './request-alias.js';

/** The model's DataKeyPairSpec enum, in its order. */
const KEY_PAIR_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SM2', 'ECC_NIST_EDWARDS25519'] as const;
const UNSUPPORTED_PAIRS = new Set(['SM2']);

export interface DataKeyPairRequest {
  KeyId?: unknown;
  KeyPairSpec?: unknown;
  EncryptionContext?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
  Recipient?: unknown;
}
export type DataKeyPairResult = { PrivateKeyCiphertextBlob: Buffer; PrivateKeyPlaintext?: Buffer; PublicKey: Buffer; KeyId: string; KeyPairSpec: string };

async function dataKeyPair(svc: KmsService, caller: Caller, input: DataKeyPairRequest, note: AuditNote, withPlaintext: boolean): Promise<DataKeyPairResult> {
  const operation = withPlaintext ? 'GenerateDataKeyPair' : 'GenerateDataKeyPairWithoutPlaintext';
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const spec = enumValue(v, 'keyPairSpec', input.KeyPairSpec, KEY_PAIR_SPECS, true);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  const context = contextMember('encryptionContext', input.EncryptionContext);
  if (withPlaintext && !absent(input.Recipient)) throw kmsError('UnsupportedOperationException', "Recipient (AWS Nitro Enclaves attestation) is not supported by Coffer's KMS.");
  auditParams(note, { keyId: keyRef, keyPairSpec: spec, encryptionContext: input.EncryptionContext ?? undefined, dryRun: input.DryRun ?? undefined });

  const key = await svc.resolveKey(keyRef, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, `kms:${operation}`, withRequestAlias({ ...DATA_KEY_CONDITIONS, 'kms:DataKeyPairSpec': spec! }, keyRef), context);
  svc.checkState(key, 'crypto');
  symmetricOnly(key, operation);
  if (UNSUPPORTED_PAIRS.has(spec!)) throw kmsError('UnsupportedOperationException', `KeyPairSpec ${spec} is not supported by Coffer's KMS (SM2 is offered in AWS China Regions only).`);
  if (input.DryRun === true) throw dryRunSucceeded();

  const privateKey = await generatePrivateKey(spec as KeySpec);
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  let blob: Buffer;
  try {
    const material = await svc.material(key);
    blob = encodeCiphertext({ keyId: key.keyId, materialVersion: key.currentVersion, material, plaintext: der, context });
  } catch (e) {
    der.fill(0);
    if (e instanceof EncryptionContextError) throw kmsError('ValidationException', "1 validation error detected: Value at 'encryptionContext' failed to satisfy constraint: Map keys and values must be well-formed Unicode strings");
    throw e;
  }
  const publicKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!withPlaintext) {
    der.fill(0);
    return { PrivateKeyCiphertextBlob: blob, PublicKey: publicKey, KeyId: key.arn, KeyPairSpec: spec! };
  }
  // AWS's member order: PrivateKeyCiphertextBlob, PrivateKeyPlaintext, PublicKey, KeyId, KeyPairSpec.
  return { PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: der, PublicKey: publicKey, KeyId: key.arn, KeyPairSpec: spec! };
}

export const generateDataKeyPair: Operation<DataKeyPairRequest, DataKeyPairResult> = (svc, caller, input, note) => dataKeyPair(svc, caller, input, note, true);
export const generateDataKeyPairWithoutPlaintext: Operation<DataKeyPairRequest, DataKeyPairResult> = (svc, caller, input, note) => dataKeyPair(svc, caller, input, note, false);
