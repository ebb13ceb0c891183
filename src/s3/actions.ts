// The IAM action each S3 endpoint needs, in one table. Handlers never decide this
// themselves: the dispatcher authorizes once, first, from here — except the operations
// whose body names what they act on (AUTHORIZED_BY_OPERATION in authorization.ts), which
// authorize from here once it is read: DeleteObjects needs s3:DeleteObject on each key.
// A request naming a version (?versionId=, a <VersionId> of DeleteObjects) needs the
// version action of VERSION_ACTIONS instead, as in AWS.

import type { Operation } from './router.js';

export const S3_ACTIONS: Record<Operation, string> = {
  ListBuckets: 's3:ListAllMyBuckets',
  CreateBucket: 's3:CreateBucket',
  HeadBucket: 's3:ListBucket',
  DeleteBucket: 's3:DeleteBucket',
  GetBucketLocation: 's3:GetBucketLocation',
  GetBucketAcl: 's3:GetBucketAcl',
  PutBucketAcl: 's3:PutBucketAcl',
  GetBucketOwnershipControls: 's3:GetBucketOwnershipControls',
  PutBucketOwnershipControls: 's3:PutBucketOwnershipControls',
  DeleteBucketOwnershipControls: 's3:PutBucketOwnershipControls',
  PutPublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  GetPublicAccessBlock: 's3:GetBucketPublicAccessBlock',
  DeletePublicAccessBlock: 's3:PutBucketPublicAccessBlock',
  GetBucketVersioning: 's3:GetBucketVersioning',
  PutBucketVersioning: 's3:PutBucketVersioning',
  PutBucketEncryption: 's3:PutEncryptionConfiguration',
  GetBucketEncryption: 's3:GetEncryptionConfiguration',
  DeleteBucketEncryption: 's3:PutEncryptionConfiguration',
  PutBucketPolicy: 's3:PutBucketPolicy',
  GetBucketPolicy: 's3:GetBucketPolicy',
  DeleteBucketPolicy: 's3:DeleteBucketPolicy',
  GetBucketPolicyStatus: 's3:GetBucketPolicyStatus',
  PutBucketCors: 's3:PutBucketCORS',
  GetBucketCors: 's3:GetBucketCORS',
  DeleteBucketCors: 's3:PutBucketCORS',
  PutBucketTagging: 's3:PutBucketTagging',
  GetBucketTagging: 's3:GetBucketTagging',
  DeleteBucketTagging: 's3:PutBucketTagging',
  PutBucketLifecycleConfiguration: 's3:PutLifecycleConfiguration',
  GetBucketLifecycleConfiguration: 's3:GetLifecycleConfiguration',
  DeleteBucketLifecycle: 's3:PutLifecycleConfiguration',
  PutObjectLockConfiguration: 's3:PutBucketObjectLockConfiguration',
  GetObjectLockConfiguration: 's3:GetBucketObjectLockConfiguration',
  ListObjects: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  ListObjectVersions: 's3:ListBucketVersions',
  DeleteObjects: 's3:DeleteObject',
  PostObject: 's3:PutObject',
  PutObject: 's3:PutObject',
  CopyObject: 's3:PutObject',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  DeleteObject: 's3:DeleteObject',
  GetObjectTagging: 's3:GetObjectTagging',
  PutObjectTagging: 's3:PutObjectTagging',
  DeleteObjectTagging: 's3:DeleteObjectTagging',
  GetObjectAcl: 's3:GetObjectAcl',
  PutObjectAcl: 's3:PutObjectAcl',
  GetObjectAttributes: 's3:GetObjectAttributes',
  PutObjectRetention: 's3:PutObjectRetention',
  GetObjectRetention: 's3:GetObjectRetention',
  PutObjectLegalHold: 's3:PutObjectLegalHold',
  GetObjectLegalHold: 's3:GetObjectLegalHold',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  UploadPartCopy: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListParts: 's3:ListMultipartUploadParts',
  NotImplemented: '',
};

/** The action an operation needs when it names one version (versionId), where AWS has a separate one. */
export const VERSION_ACTIONS: Partial<Record<Operation, string>> = {
  GetObject: 's3:GetObjectVersion',
  HeadObject: 's3:GetObjectVersion',
  DeleteObject: 's3:DeleteObjectVersion',
  DeleteObjects: 's3:DeleteObjectVersion',
  GetObjectTagging: 's3:GetObjectVersionTagging',
  PutObjectTagging: 's3:PutObjectVersionTagging',
  DeleteObjectTagging: 's3:DeleteObjectVersionTagging',
  GetObjectAcl: 's3:GetObjectVersionAcl',
  PutObjectAcl: 's3:PutObjectVersionAcl',
  GetObjectAttributes: 's3:GetObjectVersionAttributes',
};

/** The action of a request: its version action when it names a version, else the table's. */
export function actionOf(op: Operation, versionId: string | undefined): string {
  return (versionId !== undefined ? VERSION_ACTIONS[op] : undefined) ?? S3_ACTIONS[op];
}

/**
 * Not an operation's action: what a request sending x-amz-bypass-governance-retention: true
 * must also be allowed to override GOVERNANCE retention (object-lock.ts), checked on the object.
 */
export const BYPASS_GOVERNANCE_ACTION = 's3:BypassGovernanceRetention';
