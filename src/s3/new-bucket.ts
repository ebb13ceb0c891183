// The settings a bucket starts with, as AWS creates buckets today: the Object Ownership of
// x-amz-object-ownership (BucketOwnerEnforced when absent), all four Block Public Access
// settings on, and the ACL of x-amz-acl / x-amz-grant-* when ownership allows ACLs — a
// public one being refused, since the new bucket blocks public ACLs.

import type { IncomingHttpHeaders } from 'node:http';
import { ACL_ITEM, aclFromHeaders, isOwnerOnly, isPublicAcl, storedAcl } from './acl.js';
import { invalidArgument, s3Error } from './errors.js';
import { OWNERSHIP_ITEM, isObjectOwnership, storedOwnership } from './ownership.js';
import { NEW_BUCKET_BLOCK, PUBLIC_ACCESS_BLOCK_ITEM, storedPublicAccessBlock } from './public-access-block.js';

/** The config a CreateBucket request gives its new bucket; throws AWS's errors for settings that conflict. */
export function newBucketConfig(h: IncomingHttpHeaders, ownerId: string): Record<string, string> {
  const header = h['x-amz-object-ownership'];
  const requested = Array.isArray(header) ? header.join(',') : header;
  if (requested !== undefined && !isObjectOwnership(requested)) {
    throw invalidArgument(`Invalid x-amz-object-ownership header: ${requested}`, 'x-amz-object-ownership', requested);
  }
  const ownership = requested ?? 'BucketOwnerEnforced';
  const config: Record<string, string> = {
    [OWNERSHIP_ITEM]: storedOwnership(ownership),
    [PUBLIC_ACCESS_BLOCK_ITEM]: storedPublicAccessBlock(NEW_BUCKET_BLOCK),
  };
  const grants = aclFromHeaders(h, ownerId);
  if (grants && !isOwnerOnly(grants, ownerId)) {
    if (ownership === 'BucketOwnerEnforced') throw s3Error('InvalidBucketAclWithObjectOwnership');
    if (isPublicAcl(grants)) throw s3Error('InvalidBucketAclWithBlockPublicAccessError');
  }
  if (grants && ownership !== 'BucketOwnerEnforced') config[ACL_ITEM] = JSON.stringify(storedAcl(grants));
  return config;
}
