// Looking up the bucket a request names, with S3's NoSuchBucket.

import type { BucketRecord } from '../storage/types.js';
import type { S3Context } from './context.js';
import { s3Error } from './errors.js';

export async function requireBucket(ctx: S3Context, bucket: string): Promise<BucketRecord> {
  // The record the request's authorization read moments ago, once (S3Context.bucketRead).
  const seen = ctx.bucketRead;
  ctx.bucketRead = undefined;
  const b = seen?.name === bucket ? seen : await ctx.services.meta.getBucket(bucket);
  if (!b) throw s3Error('NoSuchBucket', { BucketName: bucket });
  return b;
}
