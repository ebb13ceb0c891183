// PutBucketOwnershipControls, GetBucketOwnershipControls, DeleteBucketOwnershipControls: the
// bucket's Object Ownership (../ownership.ts). BucketOwnerEnforced turns ACLs off, which
// AWS refuses while the bucket's ACL grants anyone but the owner.

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { ACL_ITEM, grantsOf, isOwnerOnly } from '../acl.js';
import { OWNERSHIP_ITEM, ownershipOf, parseOwnershipControls, storedOwnership } from '../ownership.js';
import { el, text, xmlDocument } from '../xml.js';
import { readXmlBody } from './tagging.js';

export async function putBucketOwnershipControls(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const setting = parseOwnershipControls(await readXmlBody(ctx));
  const grants = grantsOf(b.config[ACL_ITEM]);
  if (setting === 'BucketOwnerEnforced' && grants && !isOwnerOnly(grants, ctx.owner.id)) throw s3Error('InvalidBucketAclWithObjectOwnership');
  await ctx.services.meta.setBucketConfig(bucket, OWNERSHIP_ITEM, storedOwnership(setting));
  sendEmpty(ctx, 200);
}

export async function getBucketOwnershipControls(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const setting = ownershipOf(b);
  if (setting === null) throw s3Error('OwnershipControlsNotFoundError', { BucketName: bucket });
  sendXml(ctx, 200, xmlDocument('OwnershipControls', el('Rule', text('ObjectOwnership', setting))));
}

export async function deleteBucketOwnershipControls(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, OWNERSHIP_ITEM, storedOwnership(null));
  sendEmpty(ctx, 204);
}
