// DescribeKey's KeyMetadata, built from a key record. CreateKey, DescribeKey and every
// other operation that shows a key use this one function, so the members, their order
// and their units (epoch seconds) are the same everywhere. Compared against AWS's
// recorded responses (reference/aws-recordings/kms.json: test_create_key,
// test_describe_with_alias_arn).

import type { KmsService } from './service.js';
import type { KeyState, KmsKeyRecord } from './store/types.js';
import { algorithmMembers } from './key-specs.js';

/** JSON timestamps are epoch seconds (with a fraction); the store keeps epoch milliseconds. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

/** DescribeKey's KeyMetadata, members in AWS's order. */
export type KeyMetadata = {
  AWSAccountId: string;
  KeyId: string;
  Arn: string;
  CreationDate: number;
  Enabled: boolean;
  Description: string;
  KeyUsage: string;
  KeyState: KeyState;
  DeletionDate?: number;
  Origin: string;
  ExpirationModel?: string;
  ValidTo?: number;
  KeyManager: string;
  CustomerMasterKeySpec: string;
  KeySpec: string;
  EncryptionAlgorithms?: string[];
  SigningAlgorithms?: string[];
  MacAlgorithms?: string[];
  KeyAgreementAlgorithms?: string[];
  MultiRegion: boolean;
  CurrentKeyMaterialId?: string;
};

/**
 * The KeyMetadata structure. DeletionDate appears only while PendingDeletion.
 * PendingDeletionWindowInDays is never shown: AWS reports it only for a multi-Region
 * primary key in PendingReplicaDeletion, which Coffer does not have.
 */
export async function keyMetadata(svc: KmsService, key: KmsKeyRecord): Promise<KeyMetadata> {
  const material = await svc.store.getMaterial(key.keyId, key.currentVersion);
  return {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: epochSeconds(key.creationDate),
    Enabled: key.state === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: key.state,
    ...(key.state === 'PendingDeletion' && key.deletionDate !== undefined ? { DeletionDate: epochSeconds(key.deletionDate) } : {}),
    Origin: key.origin,
    ...(key.expirationModel !== undefined ? { ExpirationModel: key.expirationModel } : {}),
    ...(key.validTo !== undefined ? { ValidTo: epochSeconds(key.validTo) } : {}),
    KeyManager: key.keyManager,
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    ...algorithmMembers(key.keySpec, key.keyUsage),
    MultiRegion: false,
    // AWS shows CurrentKeyMaterialId for symmetric keys only (recorded: test_hmac_create_key),
    // and for an imported key once material was imported, deleted or not (test_import_key_symmetric).
    ...(material && key.keySpec === 'SYMMETRIC_DEFAULT' ? { CurrentKeyMaterialId: material.materialId } : {}),
  };
}
