// PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle:
// a bucket's lifecycle rules, validated by ../lifecycle/rules.ts and stored as one JSON
// document in the bucket's config ("lifecycle"); ../lifecycle/worker.ts applies them.
// The deprecated PutBucketLifecycle and GetBucketLifecycle use the same requests (PUT and
// GET ?lifecycle); their rule-level <Prefix> is accepted as AWS accepts it.

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { LIFECYCLE_ITEM, TRANSITION_SIZES, lifecycleConfigurationXml, lifecycleOf, parseLifecycleConfiguration } from '../lifecycle/rules.js';
import { readVouchedXmlBody } from './bucket-cors.js';

/** 1,000 rules with their IDs, filters and tags fit comfortably. */
const MAX_LIFECYCLE_BYTES = 1024 * 1024;
const MINIMUM_SIZE_HEADER = 'x-amz-transition-default-minimum-object-size';
const DEFAULT_MINIMUM_SIZE = 'all_storage_classes_128K';

export async function putBucketLifecycleConfiguration(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const raw = ctx.req.headers[MINIMUM_SIZE_HEADER];
  const minimum = raw === undefined ? DEFAULT_MINIMUM_SIZE : Array.isArray(raw) ? raw.join(',') : raw;
  if (!TRANSITION_SIZES.has(minimum)) throw s3Error('InvalidRequest', {}, `Invalid TransitionDefaultMinimumObjectSize found: ${minimum}`);
  const body = await readVouchedXmlBody(ctx, MAX_LIFECYCLE_BYTES);
  const config = parseLifecycleConfiguration(body, minimum);
  await ctx.services.meta.setBucketConfig(bucket, LIFECYCLE_ITEM, JSON.stringify(config));
  sendEmpty(ctx, 200, { [MINIMUM_SIZE_HEADER]: minimum });
}

export async function getBucketLifecycleConfiguration(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const config = lifecycleOf(b);
  if (!config) throw s3Error('NoSuchLifecycleConfiguration', { BucketName: bucket });
  sendXml(ctx, 200, lifecycleConfigurationXml(config), { [MINIMUM_SIZE_HEADER]: config.transitionMinimumSize });
}

export async function deleteBucketLifecycle(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, LIFECYCLE_ITEM, undefined);
  sendEmpty(ctx, 204);
}
