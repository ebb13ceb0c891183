// DeriveSharedSecret: ECDH between the private key of a KEY_AGREEMENT KMS key (NIST P-256,
// P-384, P-521) and a peer's public key (DER SubjectPublicKeyInfo). The answer is the raw
// shared secret Z (the x coordinate, as SP 800-56A and AWS define it), for the caller to
// feed into its own KDF. Messages follow AWS (recorded: test_derive_shared_secret): an
// unknown algorithm fails the model's enum, a key of another usage is
// InvalidKeyUsageException, a public key that does not parse is ValidationException with
// an empty message. Recipient (Nitro Enclaves attestation) is not supported.

import { createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import type { Operation } from '../operation.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { SPECS } from '../key-specs.js';
import { validateGrantTokens } from './grants.js';
import { algorithmAllowed, usableFor } from './key-usage.js';
import { absent, auditParams, blobMember, enumValue, keyIdMember, Violations } from './members.js';
import { withRequestAlias } from './request-alias.js';

const KEY_AGREEMENT_ALGORITHMS = ['ECDH'];
const MAX_PUBLIC_KEY = 8192;

export interface DeriveSharedSecretRequest {
  KeyId?: unknown;
  KeyAgreementAlgorithm?: unknown;
  PublicKey?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
  Recipient?: unknown;
}

export type DeriveSharedSecretResult = { KeyId: string; SharedSecret: Buffer; KeyAgreementAlgorithm: string; KeyOrigin: string };

export const deriveSharedSecret: Operation<DeriveSharedSecretRequest, DeriveSharedSecretResult> = async (svc, caller, input, note) => {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const algorithm = enumValue(v, 'keyAgreementAlgorithm', input.KeyAgreementAlgorithm, KEY_AGREEMENT_ALGORITHMS, true);
  const publicKey = blobMember(v, 'publicKey', input.PublicKey, MAX_PUBLIC_KEY);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  auditParams(note, { keyId: keyRef, keyAgreementAlgorithm: algorithm, dryRun: input.DryRun ?? undefined });
  if (!absent(input.Recipient)) throw kmsError('UnsupportedOperationException', 'Recipient (attested Nitro Enclaves requests) is not supported by Coffer\'s KMS.');
  const key = await svc.resolveKey(keyRef, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:DeriveSharedSecret', withRequestAlias({ 'kms:KeyAgreementAlgorithm': algorithm! }, keyRef));
  svc.checkState(key, 'crypto');
  usableFor(key, 'KEY_AGREEMENT', 'DeriveSharedSecret');
  algorithmAllowed(key, algorithm!, SPECS[key.keySpec].agreement);
  let peer: KeyObject;
  try {
    peer = createPublicKey({ key: publicKey!, format: 'der', type: 'spki' });
  } catch {
    throw kmsError('ValidationException', '');
  }
  if (peer.asymmetricKeyType !== 'ec' || peer.asymmetricKeyDetails?.namedCurve !== SPECS[key.keySpec].curve) {
    throw kmsError('ValidationException', `The public key is not a ${key.keySpec} public key.`);
  }
  if (input.DryRun === true) throw dryRunSucceeded();
  const secret = await svc.secret(key);
  if (!('privateKey' in secret)) throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: secret.privateKey, publicKey: peer });
  } catch {
    // A point not on the curve, or the point at infinity.
    throw kmsError('ValidationException', '');
  }
  return { KeyId: key.arn, SharedSecret: shared, KeyAgreementAlgorithm: algorithm!, KeyOrigin: key.origin };
};
