// GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl. With ACLs on (Object Ownership
// other than BucketOwnerEnforced) the ACL is stored — a bucket's in its config ("acl"), an
// object's in its sys — and answered in AWS's shape; with ACLs off GET answers the one ACL
// that holds (the owner's FULL_CONTROL) and PUT accepts only an ACL that says exactly that
// (acl-request.ts). The ACL model is ../acl.ts; what grants allow, ../acl-grants.ts.

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { ACL_ITEM, type AclGrant, aclDocument, aclFromBody, aclFromHeaders, grantsOf, hasAclHeaders, ownerFullControl, storedAcl } from '../acl.js';
import { admitAcl, sysWithAcl } from '../acl-request.js';
import { aclsEnabled } from '../ownership.js';
import { readXmlBody } from './tagging.js';
import { readVersion, requestedVersionId, versionHeaders } from '../versioning.js';

export async function getBucketAcl(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const grants = aclsEnabled(b) ? grantsOf(b.config[ACL_ITEM]) : undefined;
  sendXml(ctx, 200, aclDocument(ctx.owner, grants ?? [ownerFullControl(ctx.owner.id)]));
}

export async function putBucketAcl(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const grants = admitAcl(b, await requestedAcl(ctx), ctx.owner.id);
  if (grants) await ctx.services.meta.setBucketConfig(bucket, ACL_ITEM, JSON.stringify(storedAcl(grants)));
  sendEmpty(ctx, 200);
}

export async function getObjectAcl(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  const obj = await readVersion(ctx, b, key, versionId);
  const grants = aclsEnabled(b) ? grantsOf(obj.sys[ACL_ITEM]) : undefined;
  sendXml(ctx, 200, aclDocument(ctx.owner, grants ?? [ownerFullControl(ctx.owner.id)]), versionHeaders(b, obj));
}

export async function putObjectAcl(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  let obj = await readVersion(ctx, b, key, versionId);
  const grants = admitAcl(b, await requestedAcl(ctx), ctx.owner.id);
  // Compare-and-set on the record read (that version): a concurrent overwrite keeps its own sys (its encryption envelope).
  for (let attempt = 0; grants && !(await ctx.services.meta.replaceObjectSys(bucket, key, obj, sysWithAcl(obj.sys, grants))); attempt++) {
    if (attempt >= 3) throw s3Error('ConditionalRequestConflict');
    obj = await readVersion(ctx, b, key, versionId);
  }
  sendEmpty(ctx, 200, versionHeaders(b, obj));
}

/** The ACL a PutBucketAcl / PutObjectAcl sets: from its headers or its body, never both, and one of them. */
async function requestedAcl(ctx: S3Context): Promise<AclGrant[]> {
  const h = ctx.req.headers;
  const body = await readXmlBody(ctx);
  const hasBody = body.toString('utf8').trim() !== '';
  if (hasAclHeaders(h) && hasBody) throw s3Error('UnexpectedContent');
  const fromHeaders = aclFromHeaders(h, ctx.owner.id);
  if (fromHeaders) return fromHeaders;
  if (!hasBody) throw s3Error('MissingSecurityHeader', { MissingHeaderName: 'x-amz-acl' });
  return aclFromBody(body, ctx.owner.id);
}
