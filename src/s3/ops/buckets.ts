// Bucket lifecycle: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, GetBucketVersioning and PutBucketVersioning.

import { StorageConflictError, type BucketRecord } from '../../storage/types.js';
import { authorizeRequest } from '../authorization.js';
import { requireBucket } from '../bucket-access.js';
import { header, type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { OBJECT_LOCK_ITEM, objectLockOf, type ObjectLockConfig } from '../object-lock.js';
import { checkBucketName } from '../names.js';
import { newBucketConfig } from '../new-bucket.js';
import { VERSIONING_ITEM, versioningOf, type VersioningConfig } from '../versioning.js';
import { readVouchedXmlBody } from './bucket-cors.js';
import { childText, el, parseXmlRoot, readSmallBody, text, xmlDocument } from '../xml.js';

export async function listBuckets(ctx: S3Context): Promise<void> {
  const q = ctx.query;
  const prefix = q.get('prefix') ?? '';
  const maxBuckets = q.has('max-buckets') ? Number(q.get('max-buckets')) : 10000;
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1 || maxBuckets > 10000) {
    throw s3Error('InvalidArgument', { ArgumentName: 'max-buckets', ArgumentValue: q.get('max-buckets') ?? '' }, 'Argument max-buckets must be an integer between 1 and 10000');
  }
  const token = q.get('continuation-token') ?? undefined;
  const all = (await ctx.services.meta.listBuckets()).filter((b) => b.name.startsWith(prefix) && (token === undefined || b.name > token));
  const page = all.slice(0, maxBuckets);
  const truncated = all.length > page.length;
  const buckets = page.map((b) => el('Bucket', text('Name', b.name), text('CreationDate', b.createdAt), text('BucketRegion', b.region)));
  const inner =
    el('Buckets', ...buckets) +
    el('Owner', text('ID', ctx.owner.id), text('DisplayName', ctx.owner.displayName)) +
    (truncated ? text('ContinuationToken', page[page.length - 1]!.name) : '') +
    (q.has('prefix') ? text('Prefix', prefix) : '');
  sendXml(ctx, 200, xmlDocument('ListAllMyBucketsResult', inner));
}

/** Authorized once its body is read: its LocationConstraint is s3:locationconstraint (x-amz-object-ownership: s3:x-amz-object-ownership). */
export async function createBucket(ctx: S3Context, bucket: string): Promise<void> {
  const body = await readSmallBody(ctx.req);
  const location = body.length > 0 ? childText(parseXmlRoot(body, 'CreateBucketConfiguration'), 'LocationConstraint') : undefined;
  await authorizeRequest(ctx, { 's3:locationconstraint': location, 's3:x-amz-object-ownership': header(ctx, 'x-amz-object-ownership') });
  checkBucketName(bucket);
  const config = newBucketConfig(ctx.req.headers, ctx.owner.id);
  const region = ctx.services.config.region;
  if (body.length > 0) {
    if (location !== undefined && location !== '' && location !== region) {
      if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(location) && location !== 'EU') throw s3Error('InvalidLocationConstraint', { LocationConstraint: location });
      throw s3Error('IllegalLocationConstraintException', {}, `The ${location} location constraint is incompatible for the region specific endpoint this request was sent to.`);
    }
    if (location === region && region === 'us-east-1') throw s3Error('InvalidLocationConstraint', { LocationConstraint: location });
  }
  // Object lock (object-lock.ts): the bucket starts versioning-enabled, with object lock and no default retention.
  const objectLock = ctx.req.headers['x-amz-bucket-object-lock-enabled'];
  if (typeof objectLock === 'string' && objectLock.trim().toLowerCase() === 'true') {
    config[VERSIONING_ITEM] = JSON.stringify({ v: 1, status: 'Enabled' } satisfies VersioningConfig);
    config[OBJECT_LOCK_ITEM] = JSON.stringify({ v: 1 } satisfies ObjectLockConfig);
  }
  try {
    await ctx.services.meta.createBucket({ name: bucket, region, createdAt: new Date().toISOString(), owner: ctx.owner.id, config });
  } catch (e) {
    if (e instanceof StorageConflictError && e.kind === 'BucketExists') {
      // One account owns every bucket here; us-east-1 answers 200 for a re-create by the owner, as AWS does.
      if (region === 'us-east-1') {
        sendEmpty(ctx, 200, { location: `/${bucket}` });
        return;
      }
      throw s3Error('BucketAlreadyOwnedByYou', { BucketName: bucket });
    }
    throw e;
  }
  sendEmpty(ctx, 200, { location: `/${bucket}` });
}

export async function headBucket(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': b.region, 'x-amz-access-point-alias': 'false' });
}

export async function deleteBucket(ctx: S3Context, bucket: string): Promise<void> {
  try {
    await ctx.services.meta.deleteBucket(bucket);
  } catch (e) {
    if (e instanceof StorageConflictError) {
      if (e.kind === 'NoSuchBucket') throw s3Error('NoSuchBucket', { BucketName: bucket });
      if (e.kind === 'BucketNotEmpty') throw s3Error('BucketNotEmpty', { BucketName: bucket });
    }
    throw e;
  }
  sendEmpty(ctx, 204);
}

export async function getBucketLocation(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  // us-east-1 is reported as an empty LocationConstraint, as S3 does.
  const loc = b.region === 'us-east-1' ? '' : b.region;
  sendXml(ctx, 200, xmlDocument('LocationConstraint', loc));
}

export async function getBucketVersioning(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  // A bucket that was never versioned answers an empty configuration, as S3 does.
  const v = versioningOf(b);
  const inner = v ? text('Status', v.status) + (v.mfaDelete ? text('MfaDelete', v.mfaDelete) : '') : '';
  sendXml(ctx, 200, xmlDocument('VersioningConfiguration', inner));
}

/**
 * PutBucketVersioning: Enabled or Suspended (a bucket never goes back to unversioned). The
 * body needs Content-MD5 or a flexible checksum. Coffer has no MFA devices, so MFA delete
 * cannot be turned on: <MfaDelete>Enabled</MfaDelete> and any x-amz-mfa are refused as S3
 * refuses a request without valid MFA (403 AccessDenied).
 */
export async function putBucketVersioning(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const body = await readVouchedXmlBody(ctx, 64 * 1024);
  const doc = parseXmlRoot(body, 'VersioningConfiguration');
  const status = childText(doc, 'Status');
  const mfaDelete = childText(doc, 'MfaDelete');
  if (status !== undefined && status !== 'Enabled' && status !== 'Suspended') {
    throw s3Error('IllegalVersioningConfigurationException', {}, 'The versioning configuration specified in the request is invalid.');
  }
  if (mfaDelete !== undefined && mfaDelete !== 'Enabled' && mfaDelete !== 'Disabled') throw s3Error('MalformedXML');
  if (mfaDelete === 'Enabled' || ctx.req.headers['x-amz-mfa'] !== undefined) {
    throw s3Error('AccessDenied', {}, 'Mfa Authentication must be used for this request');
  }
  const current = versioningOf(b);
  const next = status ?? current?.status;
  // Object lock keeps versioning Enabled: checked here, and again in the commit, against object
  // lock as it is then (a PutObjectLockConfiguration may have committed since `b` was read).
  const lockKeepsEnabled = (config: BucketRecord['config']) => {
    if (next === 'Suspended' && objectLockOf({ config })) {
      throw s3Error('InvalidBucketState', {}, 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.');
    }
  };
  lockKeepsEnabled(b.config);
  if (next === undefined) return sendEmpty(ctx, 200); // nothing to set on a never-versioned bucket
  const config: VersioningConfig = { v: 1, status: next, ...(mfaDelete === 'Disabled' || current?.mfaDelete ? { mfaDelete: 'Disabled' as const } : {}) };
  await ctx.services.meta.setBucketConfig(bucket, VERSIONING_ITEM, JSON.stringify(config), lockKeepsEnabled);
  sendEmpty(ctx, 200);
}
