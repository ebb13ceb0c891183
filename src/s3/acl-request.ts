// The ACL a request sets, checked against its bucket once: under BucketOwnerEnforced only
// an ACL that grants the owner alone is accepted (and nothing is stored: it changes
// nothing), anything else is AccessControlListNotSupported; under BlockPublicAcls a public
// ACL is AccessDenied. Used by PutBucketAcl / PutObjectAcl and by the writes that carry
// x-amz-acl or x-amz-grant-* (PutObject, CopyObject, CreateMultipartUpload, PostObject).

import type { IncomingHttpHeaders } from 'node:http';
import type { BucketRecord } from '../storage/types.js';
import { ACL_ITEM, type AclGrant, aclFromHeaders, isOwnerOnly, isPublicAcl, storedAcl } from './acl.js';
import { s3Error } from './errors.js';
import { aclsEnabled } from './ownership.js';
import { publicAccessBlockOf } from './public-access-block.js';

/** The grants to store for `grants` on bucket `b`; undefined when ACLs are off and they only restate the owner. */
export function admitAcl(b: BucketRecord, grants: AclGrant[], ownerId: string): AclGrant[] | undefined {
  if (!aclsEnabled(b)) {
    if (isOwnerOnly(grants, ownerId)) return undefined;
    throw s3Error('AccessControlListNotSupported');
  }
  if (publicAccessBlockOf(b)?.blockPublicAcls && isPublicAcl(grants)) throw s3Error('AccessDenied');
  return grants;
}

/** The ACL a new object's request headers give it, admitted by its bucket; undefined for none (private). */
export function newObjectAcl(h: IncomingHttpHeaders, b: BucketRecord, ownerId: string): AclGrant[] | undefined {
  const grants = aclFromHeaders(h, ownerId);
  return grants && admitAcl(b, grants, ownerId);
}

/** An object's sys with its ACL set to `grants` (or removed: private). */
export function sysWithAcl(sys: Record<string, unknown>, grants: AclGrant[] | undefined): Record<string, unknown> {
  const { [ACL_ITEM]: _old, ...rest } = sys;
  return grants ? { ...rest, [ACL_ITEM]: storedAcl(grants) } : rest;
}
