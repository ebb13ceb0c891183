// KMS's error codes (JSON protocol: {"__type": code, "message": text}). KMS answers
// almost every error with HTTP 400; internal failures are 500.

import { ServiceError } from '../errors.js';

export type KmsErrorCode =
  | 'AccessDeniedException'
  | 'AlreadyExistsException'
  | 'CustomKeyStoreNotFoundException'
  | 'DisabledException'
  | 'DryRunOperationException'
  | 'ExpiredImportTokenException'
  | 'ExpiredTokenException'
  | 'IncorrectKeyException'
  | 'IncorrectKeyMaterialException'
  | 'IncompleteSignatureException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidCiphertextException'
  | 'InvalidGrantIdException'
  | 'InvalidGrantTokenException'
  | 'InvalidImportTokenException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'InvalidSignatureException'
  | 'KMSInternalException'
  | 'KMSInvalidMacException'
  | 'KMSInvalidSignatureException'
  | 'KMSInvalidStateException'
  | 'LimitExceededException'
  | 'MalformedPolicyDocumentException'
  | 'MissingAuthenticationTokenException'
  | 'NotAuthorizedException'
  | 'NotFoundException'
  | 'SerializationException'
  | 'TagException'
  | 'UnknownOperationException'
  | 'UnrecognizedClientException'
  | 'UnsupportedOperationException'
  | 'ValidationException';

export function kmsError(code: KmsErrorCode, message = ''): ServiceError {
  return new ServiceError(code, message, code === 'KMSInternalException' ? 500 : 400);
}

/** AWS's wording for one failed constraint: "1 validation error detected: Value ... at 'field' failed to satisfy constraint: ...". */
export function validationError(field: string, constraint: string, value?: string | number): ServiceError {
  const shown = value === undefined ? '' : ` '${value}'`;
  return kmsError('ValidationException', `1 validation error detected: Value${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
}

export function dryRunSucceeded(): ServiceError {
  return kmsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.');
}
