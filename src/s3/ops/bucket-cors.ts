// PutBucketCors, GetBucketCors, DeleteBucketCors: a bucket's CORS rules, validated by
// ../cors.ts and stored as one JSON document in the bucket's config ("cors"); ../cors.ts
// also applies them to preflight and cross-origin requests.

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { BUCKET_CORS_ITEM, corsConfigurationXml, corsRulesOf, parseCorsConfiguration } from '../cors.js';
import { s3Error } from '../errors.js';
import { parseIntegrity } from '../object-writer.js';
import { readXmlBody } from './tagging.js';

/** A CORS configuration is at most 64 KB (AWS's limit). */
const MAX_CORS_BYTES = 64 * 1024;

export async function putBucketCors(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const body = await readVouchedXmlBody(ctx, MAX_CORS_BYTES);
  const rules = parseCorsConfiguration(body);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_CORS_ITEM, JSON.stringify(rules));
  sendEmpty(ctx, 200);
}

export async function getBucketCors(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const rules = corsRulesOf(b.config);
  if (!rules) throw s3Error('NoSuchCORSConfiguration', { BucketName: bucket });
  sendXml(ctx, 200, corsConfigurationXml(rules));
}

export async function deleteBucketCors(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_CORS_ITEM, undefined);
  sendEmpty(ctx, 204);
}

/**
 * The body of a bucket configuration S3 requires an integrity header for (PutBucketCors,
 * PutBucketTagging): Content-MD5 or a flexible checksum, verified; InvalidRequest without one.
 */
export async function readVouchedXmlBody(ctx: S3Context, limit: number): Promise<Buffer> {
  const integrity = parseIntegrity(ctx.req.headers);
  if (!integrity.contentMd5 && integrity.expected === undefined && !integrity.inTrailer) {
    throw s3Error('InvalidRequest', {}, 'Missing required header for this request: Content-MD5');
  }
  return readXmlBody(ctx, limit);
}
