// PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus. The
// policy is kept as the JSON text the client sent (GetBucketPolicy answers it as given)
// in the bucket's config ("policy"); handler.ts authorizes every later request on the
// bucket against it (see ../authorization.ts). ConfirmRemoveSelfBucketAccess is accepted
// and ignored: the account root can always get, put and delete a bucket's policy. Under
// BlockPublicPolicy (../public-access-block.ts) a public policy is refused, as AWS does.

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { text, xmlDocument } from '../xml.js';
import { readXmlBody } from './tagging.js';
import { publicAccessBlockOf } from '../public-access-block.js';
import type { ServiceError } from '../../errors.js';
import { BUCKET_POLICY_ITEM, bucketPolicyOf, isPublicPolicy, parseBucketPolicy } from '../bucket-policy.js';

export async function putBucketPolicy(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const body = (await readXmlBody(ctx)).toString('utf8');
  const doc = parseBucketPolicy(body, bucket);
  if (publicAccessBlockOf(b)?.blockPublicPolicy && isPublicPolicy(doc)) throw blockedPublicPolicy(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_POLICY_ITEM, body);
  sendEmpty(ctx, 204);
}

export async function getBucketPolicy(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const policy = b.config[BUCKET_POLICY_ITEM];
  if (policy === undefined) throw s3Error('NoSuchBucketPolicy', { BucketName: bucket });
  const body = Buffer.from(policy, 'utf8');
  ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
  ctx.res.end(body);
}

export async function deleteBucketPolicy(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_POLICY_ITEM, undefined);
  sendEmpty(ctx, 204);
}

export async function getBucketPolicyStatus(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const doc = bucketPolicyOf(b);
  if (!doc) throw s3Error('NoSuchBucketPolicy', { BucketName: bucket });
  sendXml(ctx, 200, xmlDocument('PolicyStatus', text('IsPublic', isPublicPolicy(doc))));
}

/** AWS's refusal of a public policy under BlockPublicPolicy (the root included), naming the setting to a signed caller. */
function blockedPublicPolicy(ctx: S3Context, bucket: string): ServiceError {
  if (ctx.auth.anonymous) return s3Error('AccessDenied');
  return s3Error('AccessDenied', {}, `User: ${ctx.principal.arn} is not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::${bucket}" because public policies are blocked by the BlockPublicPolicy block public access setting.`);
}
