// PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption: a bucket's default
// encryption, stored as one JSON document in the bucket's config ("encryption"). As in
// AWS today, a bucket without one answers AES256 (SSE-S3) and encrypts with it; the KMS
// key id is stored as given, not validated (AWS: "S3 doesn't validate the KMS key ID").

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { invalidArgument, s3Error } from '../errors.js';
import { childArray, childObject, childText, childTexts, el, parseXmlRoot, text, xmlDocument } from '../xml.js';
import { readXmlBody } from './tagging.js';
import { BUCKET_ENCRYPTION_ITEM, type BucketEncryption, bucketEncryptionOf } from '../sse/bucket-default.js';

export async function putBucketEncryption(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const body = await readXmlBody(ctx);
  const cfg = parseEncryptionConfiguration(body);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_ENCRYPTION_ITEM, JSON.stringify(cfg));
  sendEmpty(ctx, 200);
}

/** PutBucketEncryption's body: exactly one rule with a known algorithm; MalformedXML or InvalidArgument otherwise. */
export function parseEncryptionConfiguration(body: Buffer): BucketEncryption {
  const doc = parseXmlRoot(body, 'ServerSideEncryptionConfiguration');
  const rules = childArray(doc, 'Rule');
  if (rules.length !== 1) throw s3Error('MalformedXML');
  const rule = rules[0]!;
  const dflt = childObject(rule, 'ApplyServerSideEncryptionByDefault');
  if (!dflt) throw s3Error('MalformedXML');
  const algorithm = childText(dflt, 'SSEAlgorithm');
  const keyId = childText(dflt, 'KMSMasterKeyID');
  if (algorithm !== 'AES256' && algorithm !== 'aws:kms' && algorithm !== 'aws:kms:dsse') throw s3Error('MalformedXML');
  if (keyId !== undefined && algorithm === 'AES256') {
    throw invalidArgument('a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse', 'ApplyServerSideEncryptionByDefault');
  }
  const bk = childText(rule, 'BucketKeyEnabled');
  if (bk !== undefined && bk !== 'true' && bk !== 'false') throw s3Error('MalformedXML');
  const blocked = childObject(rule, 'BlockedEncryptionTypes');
  const blockedTypes = blocked ? childTexts(blocked, 'EncryptionType') : [];
  for (const t of blockedTypes) if (t !== 'NONE' && t !== 'SSE-C') throw s3Error('MalformedXML');
  const cfg: BucketEncryption = { algorithm, bucketKeyEnabled: bk === 'true' };
  if (keyId !== undefined && keyId !== '') cfg.keyId = keyId;
  if (blockedTypes.length) cfg.blockedEncryptionTypes = blockedTypes;
  return cfg;
}

export async function getBucketEncryption(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const cfg = bucketEncryptionOf(b);
  const byDefault = el('ApplyServerSideEncryptionByDefault', text('SSEAlgorithm', cfg.algorithm), cfg.keyId !== undefined ? text('KMSMasterKeyID', cfg.keyId) : '');
  const blocked = cfg.blockedEncryptionTypes?.length ? el('BlockedEncryptionTypes', ...cfg.blockedEncryptionTypes.map((t) => text('EncryptionType', t))) : '';
  const rule = el('Rule', byDefault, text('BucketKeyEnabled', cfg.bucketKeyEnabled), blocked);
  sendXml(ctx, 200, xmlDocument('ServerSideEncryptionConfiguration', rule));
}

export async function deleteBucketEncryption(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await ctx.services.meta.setBucketConfig(bucket, BUCKET_ENCRYPTION_ITEM, undefined);
  sendEmpty(ctx, 204);
}
