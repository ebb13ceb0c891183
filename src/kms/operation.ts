// What a KMS operation is: a function from (service, caller, input) to output, with
// binary members as Buffers (the JSON layer converts base64 at the edge, so the
// in-process path used by S3 never encodes). Operations note the key they touched
// and their auditable parameters; audited.ts writes the audit event.

import type { Caller, KmsService } from './service.js';
import type { KmsKeyRecord } from './store/types.js';

export type KmsInput = Record<string, unknown>;
export type KmsOutput = Record<string, unknown>;

/** Filled in by an operation as it runs; read by audited() for the audit event. */
export interface AuditNote {
  keys: KmsKeyRecord[];
  /** requestParameters as CloudTrail shows them: never plaintext or key material. */
  params: Record<string, unknown>;
}

/**
 * An operation with its own input and output types. The input holds the request's members
 * as received (unchecked: each operation validates them as AWS does), so the port and the
 * wire get the same errors; the output is typed for in-process callers.
 */
export type Operation<I extends object, O> = (svc: KmsService, caller: Caller, input: I, note: AuditNote) => Promise<O>;

/** An operation as the wire's table holds it. */
export type KmsOperation = Operation<KmsInput, KmsOutput>;

/** Input members carrying binary data (base64 on the wire). */
export const BLOB_INPUTS = ['Plaintext', 'CiphertextBlob', 'Message', 'Signature', 'Mac', 'PublicKey', 'ImportToken', 'EncryptedKeyMaterial'] as const;

/**
 * The input members of each operation, from the KMS API model (botocore's kms
 * service-2.json). The audit record's default requestParameters come from these only: a
 * member the API does not define is ignored by the operation and never reaches the log.
 */
export const INPUT_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  Encrypt: ['KeyId', 'Plaintext', 'EncryptionContext', 'GrantTokens', 'EncryptionAlgorithm', 'DryRun'],
  Decrypt: ['CiphertextBlob', 'EncryptionContext', 'GrantTokens', 'KeyId', 'EncryptionAlgorithm', 'Recipient', 'DryRun', 'DryRunModifiers'],
  ReEncrypt: ['CiphertextBlob', 'SourceEncryptionContext', 'SourceKeyId', 'DestinationKeyId', 'DestinationEncryptionContext', 'SourceEncryptionAlgorithm', 'DestinationEncryptionAlgorithm', 'GrantTokens', 'DryRun', 'DryRunModifiers'],
  GenerateDataKey: ['KeyId', 'EncryptionContext', 'NumberOfBytes', 'KeySpec', 'GrantTokens', 'Recipient', 'DryRun'],
  GenerateDataKeyWithoutPlaintext: ['KeyId', 'EncryptionContext', 'KeySpec', 'NumberOfBytes', 'GrantTokens', 'DryRun'],
  GenerateRandom: ['NumberOfBytes', 'CustomKeyStoreId', 'Recipient'],
  Sign: ['KeyId', 'Message', 'MessageType', 'GrantTokens', 'SigningAlgorithm', 'DryRun'],
  Verify: ['KeyId', 'Message', 'MessageType', 'Signature', 'SigningAlgorithm', 'GrantTokens', 'DryRun'],
  GetPublicKey: ['KeyId', 'GrantTokens'],
  GenerateMac: ['Message', 'KeyId', 'MacAlgorithm', 'GrantTokens', 'DryRun'],
  VerifyMac: ['Message', 'KeyId', 'MacAlgorithm', 'Mac', 'GrantTokens', 'DryRun'],
  GenerateDataKeyPair: ['EncryptionContext', 'KeyId', 'KeyPairSpec', 'GrantTokens', 'Recipient', 'DryRun'],
  GenerateDataKeyPairWithoutPlaintext: ['EncryptionContext', 'KeyId', 'KeyPairSpec', 'GrantTokens', 'DryRun'],
  DeriveSharedSecret: ['KeyId', 'KeyAgreementAlgorithm', 'PublicKey', 'GrantTokens', 'DryRun', 'Recipient'],
  GetParametersForImport: ['KeyId', 'WrappingAlgorithm', 'WrappingKeySpec'],
  ImportKeyMaterial: ['KeyId', 'ImportToken', 'EncryptedKeyMaterial', 'ValidTo', 'ExpirationModel', 'ImportType', 'KeyMaterialDescription', 'KeyMaterialId'],
  DeleteImportedKeyMaterial: ['KeyId', 'KeyMaterialId'],
  CreateKey: ['Policy', 'Description', 'KeyUsage', 'CustomerMasterKeySpec', 'KeySpec', 'Origin', 'CustomKeyStoreId', 'BypassPolicyLockoutSafetyCheck', 'Tags', 'MultiRegion', 'XksKeyId'],
  DescribeKey: ['KeyId', 'GrantTokens'],
  ListKeys: ['Limit', 'Marker'],
  EnableKey: ['KeyId'],
  DisableKey: ['KeyId'],
  UpdateKeyDescription: ['KeyId', 'Description'],
  ScheduleKeyDeletion: ['KeyId', 'PendingWindowInDays'],
  CancelKeyDeletion: ['KeyId'],
  CreateAlias: ['AliasName', 'TargetKeyId'],
  UpdateAlias: ['AliasName', 'TargetKeyId'],
  DeleteAlias: ['AliasName'],
  ListAliases: ['KeyId', 'Limit', 'Marker'],
  EnableKeyRotation: ['KeyId', 'RotationPeriodInDays'],
  DisableKeyRotation: ['KeyId'],
  GetKeyRotationStatus: ['KeyId'],
  RotateKeyOnDemand: ['KeyId'],
  ListKeyRotations: ['KeyId', 'IncludeKeyMaterial', 'Limit', 'Marker'],
  TagResource: ['KeyId', 'Tags'],
  UntagResource: ['KeyId', 'TagKeys'],
  ListResourceTags: ['KeyId', 'Limit', 'Marker'],
  GetKeyPolicy: ['KeyId', 'PolicyName'],
  PutKeyPolicy: ['KeyId', 'PolicyName', 'Policy', 'BypassPolicyLockoutSafetyCheck'],
  ListKeyPolicies: ['KeyId', 'Limit', 'Marker'],
  CreateGrant: ['KeyId', 'GranteePrincipal', 'RetiringPrincipal', 'Operations', 'Constraints', 'GrantTokens', 'Name', 'DryRun'],
  ListGrants: ['Limit', 'Marker', 'KeyId', 'GrantId', 'GranteePrincipal'],
  ListRetirableGrants: ['Limit', 'Marker', 'RetiringPrincipal'],
  RetireGrant: ['GrantToken', 'KeyId', 'GrantId', 'DryRun'],
  RevokeGrant: ['KeyId', 'GrantId', 'DryRun'],
};
