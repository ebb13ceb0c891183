// One table from KMS operation name to its implementation, and the in-process entry
// point (`callKms`) that runs an operation and writes its audit event — used by the
// JSON handler and by S3.

import { isServiceError } from '../errors.js';
import type { Caller, KmsService } from './service.js';
import type { AuditNote, KmsInput, KmsOperation, KmsOutput } from './operation.js';
import { kmsError } from './errors.js';
import { KMS_OPERATIONS } from './operations.js';

// Operations of the KMS API that Coffer does not offer (asymmetric, HMAC, import,
// multi-Region, custom key stores): a clear UnsupportedOperationException, never a silent success.
export const UNSUPPORTED_OPERATIONS = new Set([
  'Sign', 'Verify', 'GetPublicKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateMac', 'VerifyMac',
  'DeriveSharedSecret', 'GetParametersForImport', 'ImportKeyMaterial', 'DeleteImportedKeyMaterial', 'ReplicateKey',
  'UpdatePrimaryRegion', 'CreateCustomKeyStore', 'DescribeCustomKeyStores', 'UpdateCustomKeyStore', 'DeleteCustomKeyStore',
  'ConnectCustomKeyStore', 'DisconnectCustomKeyStore', 'GetKeyLastUsage',
]);

const SECRET_PARAMS = new Set(['Plaintext', 'CiphertextBlob', 'GrantTokens', 'Policy']);

function defaultParams(input: KmsInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (SECRET_PARAMS.has(k) || Buffer.isBuffer(v)) continue;
    out[k[0]!.toLowerCase() + k.slice(1)] = v;
  }
  return out;
}

export async function callKms(svc: KmsService, caller: Caller, operation: string, input: KmsInput): Promise<KmsOutput> {
  const op: KmsOperation | undefined = KMS_OPERATIONS[operation];
  if (!op) {
    if (UNSUPPORTED_OPERATIONS.has(operation)) throw kmsError('UnsupportedOperationException', `${operation} is not supported by Coffer's KMS (symmetric keys only).`);
    throw kmsError('UnknownOperationException');
  }
  const note: AuditNote = { keys: [], params: defaultParams(input) };
  try {
    const out = await op(svc, caller, input, note);
    svc.audit({ eventName: operation, caller, requestParameters: note.params, resources: resources(note) });
    return out;
  } catch (e) {
    const code = isServiceError(e) ? e.code : 'KMSInternalException';
    const message = isServiceError(e) ? e.message : 'internal error';
    svc.audit({ eventName: operation, caller, requestParameters: note.params, resources: resources(note), errorCode: code, errorMessage: message });
    throw e;
  }
}

function resources(note: AuditNote) {
  return note.keys.map((k) => ({ ARN: k.arn, accountId: k.accountId, type: 'AWS::KMS::Key' as const }));
}
