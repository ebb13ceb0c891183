// PutBucketTagging, GetBucketTagging, DeleteBucketTagging: a bucket's tags, in the order
// they were put, stored as one JSON document in the bucket's config ("tagging"). An empty
// tag set removes them (GetBucketTagging then answers NoSuchTagSet), as in AWS. The
// authorization (../authorization.ts) offers them to policies as aws:ResourceTag/<key>.

import { requireBucket } from '../bucket-access.js';
import { BUCKET_TAGGING_ITEM, bucketTagsOf } from '../bucket-tags.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { childArray, childObject, childText, el, parseXmlRoot, text, xmlDocument } from '../xml.js';
import { readVouchedXmlBody } from './bucket-cors.js';

const MAX_BUCKET_TAGS = 50;

export async function putBucketTagging(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const body = await readVouchedXmlBody(ctx, 64 * 1024);
  const tags = parseBucketTagging(body);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_TAGGING_ITEM, tags.length ? JSON.stringify(tags) : undefined);
  sendEmpty(ctx, 204);
}

export async function getBucketTagging(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const tags = bucketTagsOf(b.config);
  if (!tags) throw s3Error('NoSuchTagSet', { BucketName: bucket });
  // Built from the pairs, not an object: an object would move integer-like keys ("1") to the front.
  const items = tags.map(([k, v]) => el('Tag', text('Key', k), text('Value', v)));
  sendXml(ctx, 200, xmlDocument('Tagging', `<TagSet>${items.join('')}</TagSet>`));
}

export async function deleteBucketTagging(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_TAGGING_ITEM, undefined);
  sendEmpty(ctx, 204);
}

/** PutBucketTagging's <Tagging>: at most 50 tags, unique keys of 1..128 characters, values up to 256, no aws: keys. */
export function parseBucketTagging(body: Buffer): Array<[string, string]> {
  const tagSet = childObject(parseXmlRoot(body, 'Tagging'), 'TagSet');
  if (tagSet === undefined) throw s3Error('MalformedXML');
  const tags: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const t of childArray(tagSet, 'Tag')) {
    const k = childText(t, 'Key');
    const v = childText(t, 'Value');
    if (k === undefined || v === undefined) throw s3Error('MalformedXML');
    if (seen.has(k)) throw s3Error('InvalidTag', { TagKey: k }, 'Cannot provide multiple Tags with the same key');
    seen.add(k);
    if (k.startsWith('aws:')) throw s3Error('InvalidTag', { TagKey: k }, 'System tags cannot be added/updated by requester');
    if (k.length === 0 || [...k].length > 128) throw s3Error('InvalidTag', { TagKey: k }, 'The TagKey you have provided is invalid');
    if ([...v].length > 256) throw s3Error('InvalidTag', { TagKey: k, TagValue: v }, 'The TagValue you have provided is invalid');
    tags.push([k, v]);
  }
  if (tags.length > MAX_BUCKET_TAGS) throw s3Error('InvalidTag', {}, `Bucket tag count cannot be greater than ${MAX_BUCKET_TAGS}`);
  return tags;
}
