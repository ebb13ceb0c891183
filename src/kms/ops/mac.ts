// GenerateMac and VerifyMac with an HMAC key (HMAC_224/256/384/512). Messages follow AWS
// (recorded: test_generate_and_verify_mac, test_invalid_generate_mac, test_invalid_verify_mac):
// the algorithm must be the key's own ("Algorithm HMAC_SHA_256 is incompatible with key
// spec HMAC_224."), and a MAC that does not match is KMSInvalidMacException with an empty
// message. The comparison is constant-time.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditNote, Operation } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { SPECS } from '../key-specs.js';
import { validateGrantTokens } from './grants.js';
import { algorithmAllowed, usableFor } from './key-usage.js';
import { auditParams, blobMember, enumValue, keyIdMember, Violations } from './members.js';
import { withRequestAlias } from './request-alias.js';

/** The model's MacAlgorithmSpec enum in the order AWS's messages list it (recorded). */
const MAC_ALGORITHMS = ['HMAC_SHA_384', 'HMAC_SHA_256', 'HMAC_SHA_224', 'HMAC_SHA_512'] as const;
const HASH: Record<string, string> = { HMAC_SHA_224: 'sha224', HMAC_SHA_256: 'sha256', HMAC_SHA_384: 'sha384', HMAC_SHA_512: 'sha512' };
const MAX_MESSAGE = 4096;
const MAX_MAC = 6144;

export interface MacRequest {
  KeyId?: unknown;
  Message?: unknown;
  MacAlgorithm?: unknown;
  Mac?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
}
export type GenerateMacResult = { Mac: Buffer; MacAlgorithm: string; KeyId: string };
export type VerifyMacResult = { KeyId: string; MacValid: boolean; MacAlgorithm: string };

async function computeMac(svc: KmsService, caller: Caller, input: MacRequest, note: AuditNote, operation: 'GenerateMac' | 'VerifyMac') {
  const v = new Violations();
  const message = blobMember(v, 'message', input.Message, MAX_MESSAGE);
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const algorithm = enumValue(v, 'macAlgorithm', input.MacAlgorithm, MAC_ALGORITHMS, true);
  const mac = operation === 'VerifyMac' ? blobMember(v, 'mac', input.Mac, MAX_MAC) : undefined;
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  auditParams(note, { keyId: keyRef, macAlgorithm: algorithm, dryRun: input.DryRun ?? undefined });
  const key = await svc.resolveKey(keyRef, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, `kms:${operation}`, withRequestAlias({ 'kms:MacAlgorithm': algorithm! }, keyRef));
  svc.checkState(key, 'crypto');
  usableFor(key, 'GENERATE_VERIFY_MAC', operation);
  algorithmAllowed(key, algorithm!, SPECS[key.keySpec].mac);
  if (input.DryRun === true) throw dryRunSucceeded();
  const secret = await svc.secret(key);
  if (!('hmacKey' in secret)) throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
  return { key, algorithm: algorithm!, mac, computed: createHmac(HASH[algorithm!]!, secret.hmacKey).update(message!).digest() };
}

export const generateMac: Operation<MacRequest, GenerateMacResult> = async (svc, caller, input, note) => {
  const r = await computeMac(svc, caller, input, note, 'GenerateMac');
  return { Mac: r.computed, MacAlgorithm: r.algorithm, KeyId: r.key.arn };
};

export const verifyMac: Operation<MacRequest, VerifyMacResult> = async (svc, caller, input, note) => {
  const r = await computeMac(svc, caller, input, note, 'VerifyMac');
  if (r.mac!.length !== r.computed.length || !timingSafeEqual(r.mac!, r.computed)) throw kmsError('KMSInvalidMacException', '');
  return { KeyId: r.key.arn, MacValid: true, MacAlgorithm: r.algorithm };
};
