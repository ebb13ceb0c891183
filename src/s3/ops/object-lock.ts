// PutObjectLockConfiguration / GetObjectLockConfiguration, PutObjectRetention /
// GetObjectRetention, PutObjectLegalHold / GetObjectLegalHold (object-lock.ts has the rules).

import { authorizeRequest, objectLockConditions } from '../authorization.js';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import {
  OBJECT_LOCK_ITEM, checkRetentionChange, legalHoldXml, lockOf, mayBypassGovernance, nowOf, objectLockConfigurationXml, objectLockOf,
  parseLegalHold, parseObjectLockConfiguration, parseRetention, requireLockedBucket, retentionXml, sysWithLock,
} from '../object-lock.js';
import { readVersion, requestedVersionId, versionHeaders, versioningOf } from '../versioning.js';
import { readVouchedXmlBody } from './bucket-cors.js';
import type { BucketRecord } from '../../storage/types.js';

const MAX_LOCK_XML = 64 * 1024;

/**
 * Enables object lock (on a versioning-enabled bucket, as AWS allows since 2023) and sets or
 * clears the default retention. Object lock, once enabled, cannot be disabled.
 */
export async function putObjectLockConfiguration(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const body = await readVouchedXmlBody(ctx, MAX_LOCK_XML);
  const config = parseObjectLockConfiguration(body);
  // Checked here, and again in the commit against versioning as it is then (a PutBucketVersioning
  // may have suspended it since `b` was read): a bucket with object lock is never Suspended.
  const needsEnabled = (current: BucketRecord['config']) => {
    if (!objectLockOf({ config: current }) && versioningOf({ config: current })?.status !== 'Enabled') {
      throw s3Error('InvalidBucketState', {}, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration");
    }
  };
  needsEnabled(b.config);
  await ctx.services.meta.setBucketConfig(bucket, OBJECT_LOCK_ITEM, JSON.stringify(config), needsEnabled);
  sendEmpty(ctx, 200);
}

export async function getObjectLockConfiguration(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  const config = objectLockOf(b);
  if (!config) throw s3Error('ObjectLockConfigurationNotFoundError', { BucketName: bucket });
  sendXml(ctx, 200, objectLockConfigurationXml(config));
}

/**
 * Authorized once its body is read: the retention it sets is what a policy sees
 * (s3:object-lock-mode, -retain-until-date, -remaining-retention-days).
 */
export async function putObjectRetention(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  const body = await readVouchedXmlBody(ctx, MAX_LOCK_XML);
  const now = nowOf(ctx);
  const next = parseRetention(body, now);
  await authorizeRequest(ctx, objectLockConditions(next.mode, next.until, undefined, now));
  requireLockedBucket(b);
  const rec = await readVersion(ctx, b, key, versionId);
  const current = lockOf(rec.sys);
  checkRetentionChange(current, next, now, await mayBypassGovernance(ctx, bucket, key));
  const lock = { ...(current.hold !== undefined ? { hold: current.hold } : {}), ...next };
  await update(ctx, bucket, key, rec, sysWithLock(rec.sys, lock));
  sendEmpty(ctx, 200, versionHeaders(b, rec));
}

export async function getObjectRetention(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  requireLockedBucket(b);
  const rec = await readVersion(ctx, b, key, versionId);
  const lock = lockOf(rec.sys);
  if (lock.mode === undefined) throw s3Error('NoSuchObjectLockConfiguration');
  sendXml(ctx, 200, retentionXml(lock), versionHeaders(b, rec));
}

/** Authorized once its body is read: the hold it sets is s3:object-lock-legal-hold. */
export async function putObjectLegalHold(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  const hold = parseLegalHold(await readVouchedXmlBody(ctx, MAX_LOCK_XML));
  await authorizeRequest(ctx, objectLockConditions(undefined, undefined, hold ? 'ON' : 'OFF', nowOf(ctx)));
  requireLockedBucket(b);
  const rec = await readVersion(ctx, b, key, versionId);
  await update(ctx, bucket, key, rec, sysWithLock(rec.sys, { ...lockOf(rec.sys), hold }));
  sendEmpty(ctx, 200, versionHeaders(b, rec));
}

export async function getObjectLegalHold(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  requireLockedBucket(b);
  const rec = await readVersion(ctx, b, key, versionId);
  const lock = lockOf(rec.sys);
  if (lock.hold === undefined) throw s3Error('NoSuchObjectLockConfiguration');
  sendXml(ctx, 200, legalHoldXml(lock.hold), versionHeaders(b, rec));
}

/** Replaces the version's sys only if it is unchanged since read (a concurrent re-wrap or lock change answers 409, to retry). */
async function update(ctx: S3Context, bucket: string, key: string, rec: Parameters<S3Context['services']['meta']['replaceObjectSys']>[2], sys: Record<string, unknown>): Promise<void> {
  if (!(await ctx.services.meta.replaceObjectSys(bucket, key, rec, sys))) throw s3Error('ConditionalRequestConflict');
}
