// Bucket versioning as S3 has it: a bucket's state (never versioned, Enabled, Suspended),
// the version id a write gets, the versionId request parameter, and the version headers of
// responses. The history itself is the metadata store's (storage/types.ts MetadataStore):
// a write with a new id keeps the previous version, a write of the null version replaces
// the null version.
//
// Version ids are 32 characters of [0-9A-Za-z] (AWS's are 32 URL-safe characters): 9 of
// milliseconds since 1970 and 4 of a per-process counter, both base 62 in ASCII order, then
// 19 random ones. So ids sort by creation time, though nothing depends on that: the store
// orders versions by when they were written.

import { randomBytes } from 'node:crypto';
import { NULL_VERSION_ID, type BucketRecord, type ObjectRecord, type ReadHint } from '../storage/types.js';
import type { S3Context } from './context.js';
import { invalidArgument, s3Error } from './errors.js';

export { NULL_VERSION_ID };

/** The bucket config item holding the versioning configuration (JSON VersioningConfig). */
export const VERSIONING_ITEM = 'versioning';

export type VersioningStatus = 'Enabled' | 'Suspended';

/** What PutBucketVersioning stored: the status, and MfaDelete when the client named it (only Disabled is accepted). */
export interface VersioningConfig {
  v: 1;
  status: VersioningStatus;
  mfaDelete?: 'Disabled';
}

export function versioningOf(b: Pick<BucketRecord, 'config'>): VersioningConfig | undefined {
  const raw = b.config[VERSIONING_ITEM];
  if (raw === undefined) return undefined;
  const parsed = JSON.parse(raw) as VersioningConfig;
  if (parsed.v !== 1) throw new Error(`unknown versioning configuration version ${String(parsed.v)}`);
  return parsed;
}

/** The version id a new object (or delete marker) of this bucket gets: a fresh one when versioning is Enabled, else "null". */
export function versionIdForWrite(b: Pick<BucketRecord, 'config'>): string {
  return versioningOf(b)?.status === 'Enabled' ? newVersionId() : NULL_VERSION_ID;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const VERSION_ID = /^[0-9A-Za-z]{32}$/;
let counter = 0;

function base62(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = ALPHABET[n % 62]! + s;
    n = Math.floor(n / 62);
  }
  return s;
}

export function newVersionId(now = Date.now()): string {
  counter = (counter + 1) % 62 ** 4;
  const random = randomBytes(19);
  let tail = '';
  for (const b of random) tail += ALPHABET[b % 62];
  return base62(now, 9) + base62(counter, 4) + tail;
}

/** Whether a string can name a version: "null" or an id of our form. */
export function isVersionId(v: string): boolean {
  return v === NULL_VERSION_ID || VERSION_ID.test(v);
}

/**
 * The request's versionId parameter (undefined when absent). AWS refuses an empty one and
 * one that cannot be a version id with InvalidArgument; an id of the right form that names
 * no version is the operation's NoSuchVersion.
 */
export function requestedVersionId(ctx: Pick<S3Context, 'query'>): string | undefined {
  const v = ctx.query.get('versionId');
  if (v === null) return undefined;
  if (v === '') throw invalidArgument('Version id cannot be the empty string', 'versionId', v);
  if (!isVersionId(v)) throw invalidArgument('Invalid version id specified', 'versionId', v);
  return v;
}

export function noSuchVersion(key: string, versionId: string) {
  return s3Error('NoSuchVersion', { Key: key, VersionId: versionId });
}

/**
 * x-amz-version-id for a response about `rec`: S3 sends it once the bucket has had
 * versioning (then "null" too), and never for a bucket that was never versioned.
 */
export function versionHeaders(b: Pick<BucketRecord, 'config'>, rec: Pick<ObjectRecord, 'versionId'>): Record<string, string> {
  const id = rec.versionId ?? NULL_VERSION_ID;
  if (id === NULL_VERSION_ID && versioningOf(b) === undefined) return {};
  return { 'x-amz-version-id': id };
}

/** The headers S3 adds when the version read is a delete marker. */
export function deleteMarkerHeaders(rec: ObjectRecord): Record<string, string> {
  return {
    'x-amz-delete-marker': 'true',
    'x-amz-version-id': rec.versionId ?? NULL_VERSION_ID,
    'last-modified': new Date(rec.lastModified).toUTCString(),
  };
}

/** A delete marker's record: no body, no parts. */
export function deleteMarkerRecord(bucket: string, key: string, versionId: string, owner: string): ObjectRecord {
  return {
    bucket, key, size: 0, etag: '', lastModified: new Date().toISOString(), headers: {}, userMetadata: {}, tags: [],
    parts: [], sys: {}, owner, storageClass: 'STANDARD', versionId, deleteMarker: true,
  };
}

/**
 * The object (or delete marker) a read of `versionId` names, or of the current version when
 * undefined: NoSuchKey or NoSuchVersion when there is none. A current delete marker is NoSuchKey
 * with x-amz-delete-marker; a delete marker named by id is 405 MethodNotAllowed, as in S3.
 */
export async function readVersion(ctx: S3Context, b: BucketRecord, key: string, versionId: string | undefined, hint?: ReadHint): Promise<ObjectRecord> {
  // The current version as the request's first reads found it (S3Context.reads), else read now.
  const early = versionId === undefined ? await ctx.reads?.takeObject(b.name, key) : undefined;
  const rec = early ? early.record : await ctx.services.meta.getObjectVersion(b.name, key, versionId, hint);
  if (rec === undefined) throw versionId === undefined ? s3Error('NoSuchKey', { Key: key }) : noSuchVersion(key, versionId);
  if (rec.deleteMarker) {
    if (versionId === undefined) throw s3Error('NoSuchKey', { Key: key }, undefined, deleteMarkerHeaders(rec));
    throw s3Error('MethodNotAllowed', { Method: ctx.req.method ?? 'GET', ResourceType: 'DeleteMarker' }, undefined, { ...deleteMarkerHeaders(rec), allow: 'DELETE' });
  }
  return rec;
}
