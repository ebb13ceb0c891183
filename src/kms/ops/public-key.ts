// GetPublicKey: the public key of an asymmetric KMS key as DER SubjectPublicKeyInfo
// (RFC 5280), with what the key is for, so it can be used offline (openssl, any crypto
// library) exactly as AWS's is. Symmetric and HMAC keys have none: UnsupportedOperationException.

import { createPublicKey } from 'node:crypto';
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
import { algorithmMembers, isAsymmetric } from '../key-specs.js';
import { validateGrantTokens } from './grants.js';
import { auditParams, keyIdMember, Violations } from './members.js';
import { withRequestAlias } from './request-alias.js';

export const getPublicKey: KmsOperation = async (svc, caller, input, note) => {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  auditParams(note, { keyId: keyRef });
  const key = await svc.resolveKey(keyRef, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:GetPublicKey', withRequestAlias({}, keyRef));
  svc.checkState(key, 'crypto');
  if (!isAsymmetric(key.keySpec)) throw kmsError('UnsupportedOperationException', `${key.arn} key spec is ${key.keySpec}, which has no public key.`);
  const secret = await svc.secret(key);
  if (!('privateKey' in secret)) throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
  return {
    KeyId: key.arn,
    PublicKey: createPublicKey(secret.privateKey).export({ type: 'spki', format: 'der' }),
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    KeyUsage: key.keyUsage,
    ...algorithmMembers(key.keySpec, key.keyUsage),
  };
};
