// PutPublicAccessBlock, GetPublicAccessBlock, DeletePublicAccessBlock: the bucket's S3 Block
// Public Access settings (../public-access-block.ts says what each one enforces, and where).

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import {
  PUBLIC_ACCESS_BLOCK_ITEM, parsePublicAccessBlock, publicAccessBlockDocument, publicAccessBlockOf, storedPublicAccessBlock,
} from '../public-access-block.js';
import { readXmlBody } from './tagging.js';

export async function putPublicAccessBlock(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const settings = parsePublicAccessBlock(await readXmlBody(ctx));
  await ctx.services.meta.setBucketConfig(bucket, PUBLIC_ACCESS_BLOCK_ITEM, storedPublicAccessBlock(settings));
  sendEmpty(ctx, 200);
}

export async function getPublicAccessBlock(ctx: S3Context, bucket: string): Promise<void> {
  const settings = publicAccessBlockOf(await requireBucket(ctx, bucket));
  if (!settings) throw s3Error('NoSuchPublicAccessBlockConfiguration', { BucketName: bucket });
  sendXml(ctx, 200, publicAccessBlockDocument(settings));
}

export async function deletePublicAccessBlock(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, PUBLIC_ACCESS_BLOCK_ITEM, undefined);
  sendEmpty(ctx, 204);
}
