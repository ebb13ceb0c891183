// What the multipart operations share: S3's limits on parts, looking up an upload
// with S3's error order (NoSuchBucket before NoSuchUpload), part-number parsing, and
// who initiated an upload (kept in the upload's sys, dropped when the object is made).

import { randomBytes } from 'node:crypto';
import { StorageConflictError, type MultipartUploadRecord } from '../storage/types.js';
import { requireBucket } from './bucket-access.js';
import type { S3Context } from './context.js';
import { invalidArgument, s3Error } from './errors.js';

/** Every part but the last must be at least this large (checked on Complete). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Largest single part, also the largest copy source range of UploadPartCopy. */
export const MAX_PART_SIZE = 5 * 1024 ** 3;
export const MAX_PART_NUMBER = 10000;
/** Page size cap of ListParts and ListMultipartUploads. */
export const MAX_LIST_ENTRIES = 1000;

/** Key in MultipartUploadRecord.sys holding the Initiator (ID, DisplayName) of ListParts/ListMultipartUploads. */
export const INITIATOR_SYS_KEY = 's3.multipart.initiator';

export interface Initiator {
  id: string;
  displayName: string;
}

/**
 * A fresh upload id: 48 random bytes, base64url (URL-safe, no padding), drawn again while it
 * begins with "-" or "_": command lines take an argument beginning with "-" for an option
 * (`aws s3api upload-part --upload-id -Xy…` fails with "expected one argument").
 */
export function newUploadId(): string {
  for (;;) {
    const id = randomBytes(48).toString('base64url');
    if (id[0] !== '-' && id[0] !== '_') return id;
  }
}

export function initiatorOf(ctx: S3Context): Initiator {
  const p = ctx.principal;
  // S3 names the root account by its canonical id, and an IAM identity by its ARN.
  if (p.kind === 'root' || p.arn === '*') return { id: ctx.owner.id, displayName: ctx.owner.displayName };
  return { id: p.arn, displayName: p.userName };
}

export function storedInitiator(u: MultipartUploadRecord, fallback: Initiator): Initiator {
  const v = u.sys[INITIATOR_SYS_KEY] as Partial<Initiator> | undefined;
  if (v && typeof v.id === 'string' && typeof v.displayName === 'string') return { id: v.id, displayName: v.displayName };
  return fallback;
}

/** The upload's sys without what only the upload needs, for the completed object. */
export function objectSys(u: MultipartUploadRecord): Record<string, unknown> {
  const { [INITIATOR_SYS_KEY]: _initiator, ...rest } = u.sys;
  return rest;
}

export function noSuchUpload(uploadId: string): Error {
  return s3Error('NoSuchUpload', { UploadId: uploadId });
}

/** The upload, or NoSuchBucket / NoSuchUpload as S3 answers. */
export async function requireUpload(ctx: S3Context, bucket: string, key: string, uploadId: string): Promise<MultipartUploadRecord> {
  const u = await ctx.services.meta.getUpload(bucket, key, uploadId);
  if (u) return u;
  await requireBucket(ctx, bucket);
  throw noSuchUpload(uploadId);
}

/** Storage conflicts of part and upload writes as S3 errors. */
export function mapUploadConflict(e: unknown, bucket: string, uploadId: string): unknown {
  if (!(e instanceof StorageConflictError)) return e;
  if (e.kind === 'NoSuchUpload') return noSuchUpload(uploadId);
  if (e.kind === 'NoSuchBucket') return s3Error('NoSuchBucket', { BucketName: bucket });
  return e;
}

export function parsePartNumber(v: string): number {
  const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_PART_NUMBER)) {
    throw invalidArgument(`Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, 'partNumber', v);
  }
  return n;
}

/** Unquoted ETag ("abc" -> abc) for comparisons and error fields. */
export function bareEtag(etag: string): string {
  const t = etag.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** Non-negative integer query parameter (max-parts, max-uploads, part-number-marker). */
export function intParam(q: URLSearchParams, name: string, dflt: number): number {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  if (!/^\d{1,10}$/.test(v) || Number(v) > 2147483647) {
    throw invalidArgument(`Argument ${name} must be an integer between 0 and 2147483647`, name, v);
  }
  return Number(v);
}
