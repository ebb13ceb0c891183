// DescribeKey's KeyMetadata, built from a key record. CreateKey, DescribeKey and every
// other operation that shows a key use this one function, so the members, their order
// and their units (epoch seconds) are the same everywhere. Compared against AWS's
// recorded responses (reference/aws-recordings/kms.json: test_create_key,
// test_describe_with_alias_arn).

import type { KmsService } from './service.js';
import type { KmsKeyRecord } from './store/types.js';

/** JSON timestamps are epoch seconds (with a fraction); the store keeps epoch milliseconds. */
export function epochSeconds(ms: number): number {
  return ms / 1000;
}

/**
 * The KeyMetadata structure. DeletionDate appears only while PendingDeletion.
 * PendingDeletionWindowInDays is never shown: AWS reports it only for a multi-Region
 * primary key in PendingReplicaDeletion, which Coffer does not have.
 */
export async function keyMetadata(svc: KmsService, key: KmsKeyRecord): Promise<Record<string, unknown>> {
  const material = await svc.store.getMaterial(key.keyId, key.currentVersion);
  const md: Record<string, unknown> = {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: epochSeconds(key.creationDate),
    Enabled: key.state === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: key.state,
  };
  if (key.state === 'PendingDeletion' && key.deletionDate !== undefined) md.DeletionDate = epochSeconds(key.deletionDate);
  md.Origin = key.origin;
  md.KeyManager = key.keyManager;
  md.CustomerMasterKeySpec = key.keySpec;
  md.KeySpec = key.keySpec;
  md.EncryptionAlgorithms = ['SYMMETRIC_DEFAULT'];
  md.MultiRegion = false;
  if (material) md.CurrentKeyMaterialId = material.materialId;
  return md;
}
