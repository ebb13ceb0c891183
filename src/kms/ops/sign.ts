// Sign and Verify with an asymmetric SIGN_VERIFY key (RSA, ECC, Ed25519, ML-DSA). Shapes, limits and
// messages follow AWS (botocore model; recorded: test_sign_verify, test_error_messaging_for_invalid_keys):
//
//   validate members (Message 1..4096, Signature 1..6144, the enums)
//   resolve the key → authorize kms:Sign / kms:Verify (kms:SigningAlgorithm, kms:MessageType)
//   key state → key usage SIGN_VERIFY → the algorithm against the key spec
//   the message type against the algorithm (checkMessageType); DIGEST: the digest length
//   DryRun → DryRunOperationException; then sign / verify (signatures.ts)
//
// A Verify that fails is KMSInvalidSignatureException with an empty message, as AWS answers;
// SignatureValid is only ever true on the wire.

import { createPublicKey } from 'node:crypto';
import type { Operation } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { SPECS } from '../key-specs.js';
import { signMessage, SIGNING_ALGORITHMS, verifyMessage, type SigningAlgorithmInfo } from '../signatures.js';
import type { AuditNote } from '../operation.js';
import { validateGrantTokens } from './grants.js';
import { algorithmAllowed, usableFor } from './key-usage.js';
import { auditParams, blobMember, enumValue, keyIdMember, Violations } from './members.js';
import { withRequestAlias } from './request-alias.js';

/** The model's SigningAlgorithmSpec and MessageType enums, in their order. */
export const SIGNING_ALGORITHM_ENUM = [
  'RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512', 'ECDSA_SHA_256', 'ECDSA_SHA_384', 'ECDSA_SHA_512', 'SM2DSA', 'ML_DSA_SHAKE_256', 'ED25519_SHA_512', 'ED25519_PH_SHA_512',
] as const;
const MESSAGE_TYPES = ['RAW', 'DIGEST', 'EXTERNAL_MU'] as const;
const MAX_MESSAGE = 4096;
const MAX_SIGNATURE = 6144;

export interface SignRequest {
  KeyId?: unknown;
  Message?: unknown;
  MessageType?: unknown;
  SigningAlgorithm?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
}
export interface VerifyRequest extends SignRequest {
  Signature?: unknown;
}
export type SignResult = { KeyId: string; Signature: Buffer; SigningAlgorithm: string };
export type VerifyResult = { KeyId: string; SignatureValid: boolean; SigningAlgorithm: string };

const incompatible = (messageType: string, algorithm: string) => kmsError('ValidationException', `Message type ${messageType} is incompatible with algorithm ${algorithm}.`);

/**
 * The message types each algorithm takes (API_Sign, MessageType): RSA and ECDSA RAW or
 * DIGEST; ED25519_SHA_512 RAW only and ED25519_PH_SHA_512 DIGEST only (the Ed25519 wording
 * as a third-party emulator measured on AWS, floci-io/floci#2930); ML_DSA_SHAKE_256 RAW or
 * EXTERNAL_MU (64 bytes), and Node's crypto has no external-μ signing, so that is an
 * UnsupportedOperationException. A DIGEST or EXTERNAL_MU message must be the algorithm's length.
 */
function checkMessageType(algorithm: string, info: SigningAlgorithmInfo, messageType: string, message: Buffer): void {
  switch (info.family) {
    case 'ed25519':
      if (messageType !== 'RAW') throw incompatible(messageType, algorithm);
      return;
    case 'ed25519ph':
      if (messageType !== 'DIGEST') throw incompatible(messageType, algorithm);
      break;
    case 'ml-dsa':
      if (messageType === 'DIGEST') throw incompatible(messageType, algorithm);
      if (messageType === 'EXTERNAL_MU') {
        if (message.length !== info.digestLength) throw kmsError('ValidationException', `Digest is invalid length for algorithm ${algorithm}.`);
        throw kmsError('UnsupportedOperationException', `MessageType EXTERNAL_MU is not supported by Coffer's KMS: the Node runtime's crypto (${process.version}) has no ML-DSA signing from an external mu; use MessageType RAW.`);
      }
      return;
    default:
      if (messageType === 'EXTERNAL_MU') throw kmsError('ValidationException', `MessageType EXTERNAL_MU is not valid for algorithm ${algorithm}.`);
  }
  if (messageType === 'DIGEST' && message.length !== info.digestLength) throw kmsError('ValidationException', `Digest is invalid length for algorithm ${algorithm}.`);
}

async function prepare(svc: KmsService, caller: Caller, input: VerifyRequest, note: AuditNote, operation: 'Sign' | 'Verify') {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const message = blobMember(v, 'message', input.Message, MAX_MESSAGE);
  const messageType = enumValue(v, 'messageType', input.MessageType, MESSAGE_TYPES, false) ?? 'RAW';
  const signature = operation === 'Verify' ? blobMember(v, 'signature', input.Signature, MAX_SIGNATURE) : undefined;
  const algorithm = enumValue(v, 'signingAlgorithm', input.SigningAlgorithm, SIGNING_ALGORITHM_ENUM, true);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  auditParams(note, { keyId: keyRef, messageType, signingAlgorithm: algorithm, dryRun: input.DryRun ?? undefined });

  const key = await svc.resolveKey(keyRef, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, `kms:${operation}`, withRequestAlias({ 'kms:SigningAlgorithm': algorithm!, 'kms:MessageType': messageType }, keyRef));
  svc.checkState(key, 'crypto');
  usableFor(key, 'SIGN_VERIFY', operation);
  algorithmAllowed(key, algorithm!, SPECS[key.keySpec].signing);
  const info = SIGNING_ALGORITHMS[algorithm!]!;
  checkMessageType(algorithm!, info, messageType, message!);
  const digest = messageType === 'DIGEST';
  if (input.DryRun === true) throw dryRunSucceeded();
  const secret = await svc.secret(key);
  if (!('privateKey' in secret)) throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
  return { key, message: message!, signature, algorithm: algorithm!, info, digest, privateKey: secret.privateKey };
}

export const sign: Operation<SignRequest, SignResult> = async (svc, caller, input, note) => {
  const p = await prepare(svc, caller, input, note, 'Sign');
  return { KeyId: p.key.arn, Signature: signMessage(p.privateKey, p.info, p.message, p.digest), SigningAlgorithm: p.algorithm };
};

export const verify: Operation<VerifyRequest, VerifyResult> = async (svc, caller, input, note) => {
  const p = await prepare(svc, caller, input, note, 'Verify');
  if (!verifyMessage(createPublicKey(p.privateKey), p.info, p.message, p.digest, p.signature!)) throw kmsError('KMSInvalidSignatureException', '');
  return { KeyId: p.key.arn, SignatureValid: true, SigningAlgorithm: p.algorithm };
};
