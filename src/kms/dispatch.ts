// The wire's entry to the KMS: an operation by its JSON name with its decoded members
// (blobs already Buffers), looked up in the operation table and run through the one
// audited path (audited.ts). Only the JSON handler uses it; in-process callers use the
// typed port (port.ts), which runs the same operations through the same path.

import type { Caller, KmsService } from './service.js';
import type { KmsInput, KmsOutput } from './operation.js';
import { audited } from './audited.js';
import { kmsError } from './errors.js';
import { KMS_OPERATIONS } from './operations.js';

// Operations of the KMS API that Coffer does not offer (multi-Region, custom key stores):
// a clear UnsupportedOperationException, never a silent success.
export const UNSUPPORTED_OPERATIONS = new Set([
  'ReplicateKey',
  'UpdatePrimaryRegion', 'CreateCustomKeyStore', 'DescribeCustomKeyStores', 'UpdateCustomKeyStore', 'DeleteCustomKeyStore',
  'ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'GetKeyLastUsage',
]);

/** The feature each unsupported operation belongs to, named in its refusal. */
const FEATURE: Record<string, string> = {
  ReplicateKey: 'multi-Region keys', UpdatePrimaryRegion: 'multi-Region keys',
  CreateCustomKeyStore: 'custom key stores', DescribeCustomKeyStores: 'custom key stores', UpdateCustomKeyStore: 'custom key stores',
  DeleteCustomKeyStore: 'custom key stores', ConnectCustomKeyStore: 'custom key stores', DisconnectCustomKeyStore: 'custom key stores',
};

/** Runs the named operation through audited() (no async wrapper of its own: one promise less per request); an unknown or unsupported name is a rejection. */
export function callKms(svc: KmsService, caller: Caller, operation: string, input: KmsInput): Promise<KmsOutput> {
  // Own properties only: the wire names the operation, and "constructor" or "toString"
  // must not reach what every object inherits.
  const op = Object.hasOwn(KMS_OPERATIONS, operation) ? KMS_OPERATIONS[operation] : undefined;
  if (!op) {
    if (UNSUPPORTED_OPERATIONS.has(operation)) return Promise.reject(kmsError('UnsupportedOperationException', `${operation} is not supported by Coffer's KMS${FEATURE[operation] ? ` (${FEATURE[operation]})` : ''}.`));
    return Promise.reject(kmsError('UnknownOperationException'));
  }
  return audited(svc, caller, operation, op, input);
}
