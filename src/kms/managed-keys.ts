// AWS managed keys: the keys a service creates for itself the first time it needs one,
// under a predefined alias — here `aws/s3`, the key SSE-KMS uses when no key id is given.
// Its key policy is AWS's: every principal of the account may use it, but only through
// S3 (kms:ViaService) — so an IAM user needs no KMS permission for default SSE-KMS, and
// cannot use the key directly. Created once (concurrent first uses share one creation),
// rotated yearly like AWS's, never deletable or editable (refuseAwsManaged in ops/common.ts).

import { randomUUID } from 'node:crypto';
import { newSealedMaterial } from './format/key-material.js';
import type { KmsService } from './service.js';
import { KmsStoreConflict, type KmsKeyRecord } from './store/types.js';

export const AWS_S3_ALIAS = 'alias/aws/s3';
const DESCRIPTIONS: Record<string, string> = {
  [AWS_S3_ALIAS]: 'Default key that protects my S3 objects when no other key is defined',
};

/** AWS's key policy for the aws/s3 key, for this account and region. */
export function awsManagedKeyPolicy(accountId: string, region: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'auto-s3-2',
    Statement: [
      {
        Sid: 'Allow access through S3 for all principals in the account that are authorized to use S3',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com`, 'kms:CallerAccount': accountId } },
      },
      {
        Sid: 'Allow direct access to key metadata to the account',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: ['kms:Describe*', 'kms:Get*', 'kms:List*'],
        Resource: '*',
      },
    ],
  }, null, 2);
}

const creating = new WeakMap<KmsService, Map<string, Promise<KmsKeyRecord>>>();

/** The AWS managed key behind `aliasName` (e.g. alias/aws/s3), created on first use. */
export async function awsManagedKey(svc: KmsService, aliasName: string = AWS_S3_ALIAS): Promise<KmsKeyRecord> {
  const existing = await svc.store.getAlias(aliasName);
  if (existing) {
    const key = await svc.store.getKey(existing.keyId);
    if (key) return key;
  }
  let pending = creating.get(svc);
  if (!pending) creating.set(svc, (pending = new Map()));
  let p = pending.get(aliasName);
  if (!p) {
    p = create(svc, aliasName).finally(() => pending.delete(aliasName));
    pending.set(aliasName, p);
  }
  return p;
}

async function create(svc: KmsService, aliasName: string): Promise<KmsKeyRecord> {
  const again = await svc.store.getAlias(aliasName);
  if (again) {
    const key = await svc.store.getKey(again.keyId);
    if (key) return key;
  }
  const keyId = randomUUID();
  const now = svc.now();
  const key: KmsKeyRecord = {
    keyId,
    arn: svc.keyArn(keyId),
    accountId: svc.accountId,
    region: svc.region,
    description: DESCRIPTIONS[aliasName] ?? `Default key for ${aliasName.slice('alias/aws/'.length)}`,
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'AWS_KMS',
    keyManager: 'AWS',
    state: 'Enabled',
    creationDate: now,
    policy: awsManagedKeyPolicy(svc.accountId, svc.region),
    rotationEnabled: true,
    rotationPeriodInDays: 365,
    nextRotationDate: now + 365 * 86_400_000,
    onDemandRotations: 0,
    currentVersion: 1,
  };
  await svc.store.createKey(key, await newSealedMaterial(svc.rootKey, keyId, now), []);
  try {
    await svc.store.createAlias({ aliasName, keyId, creationDate: now, lastUpdatedDate: now });
  } catch (e) {
    // Another node made the managed key at the same moment and its alias landed first:
    // use that key, and take back the one made here (no alias names it, nothing used it).
    if (!(e instanceof KmsStoreConflict && e.kind === 'AliasExists')) throw e;
    await svc.store.deleteKey(keyId);
    const theirs = await svc.store.getAlias(aliasName);
    const winner = theirs && (await svc.store.getKey(theirs.keyId));
    if (!winner) throw e;
    return winner;
  }
  return key;
}
