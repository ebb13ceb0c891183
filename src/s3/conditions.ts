// Conditional requests: If-Match / If-None-Match / If-(Un)Modified-Since on reads
// (RFC 7232 as S3 applies it) and If-None-Match: * / If-Match on writes, which are
// checked again inside the committing transaction.

import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectRecord, WriteCondition } from '../storage/types.js';
import { notImplemented, s3Error } from './errors.js';

function etagList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (s === '*' ? s : s.startsWith('"') || s.startsWith('W/') ? s.replace(/^W\//, '') : `"${s}"`));
}

function matches(list: string[], etag: string): boolean {
  return list.some((e) => e === '*' || e === etag);
}

function parseDate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

export interface ReadConditionNames {
  ifMatch: string;
  ifNoneMatch: string;
  ifModifiedSince: string;
  ifUnmodifiedSince: string;
}

export const GET_CONDITIONS: ReadConditionNames = { ifMatch: 'if-match', ifNoneMatch: 'if-none-match', ifModifiedSince: 'if-modified-since', ifUnmodifiedSince: 'if-unmodified-since' };
export const COPY_SOURCE_CONDITIONS: ReadConditionNames = {
  ifMatch: 'x-amz-copy-source-if-match', ifNoneMatch: 'x-amz-copy-source-if-none-match',
  ifModifiedSince: 'x-amz-copy-source-if-modified-since', ifUnmodifiedSince: 'x-amz-copy-source-if-unmodified-since',
};

/**
 * Evaluates read preconditions against an object. GET/HEAD answer 304 for If-None-Match /
 * If-Modified-Since failures and 412 for If-Match / If-Unmodified-Since; copy sources answer 412 for all.
 */
export function checkReadConditions(h: IncomingHttpHeaders, rec: ObjectRecord, names: ReadConditionNames, notModifiedAs304: boolean): void {
  const ifMatch = h[names.ifMatch] as string | undefined;
  const ifNoneMatch = h[names.ifNoneMatch] as string | undefined;
  const ifModifiedSince = parseDate(h[names.ifModifiedSince] as string | undefined);
  const ifUnmodifiedSince = parseDate(h[names.ifUnmodifiedSince] as string | undefined);
  // Last-Modified has one-second resolution on the wire.
  const lastModified = Math.floor(Date.parse(rec.lastModified) / 1000) * 1000;
  const notModified = () => (notModifiedAs304 ? s3Error('NotModified', {}, undefined, { etag: rec.etag, 'last-modified': new Date(rec.lastModified).toUTCString() }) : s3Error('PreconditionFailed', { Condition: names.ifNoneMatch }));

  if (ifMatch !== undefined) {
    if (!matches(etagList(ifMatch), rec.etag)) throw s3Error('PreconditionFailed', { Condition: 'If-Match' });
  } else if (ifUnmodifiedSince !== undefined && lastModified > ifUnmodifiedSince) {
    throw s3Error('PreconditionFailed', { Condition: 'If-Unmodified-Since' });
  }
  if (ifNoneMatch !== undefined) {
    if (matches(etagList(ifNoneMatch), rec.etag)) throw notModified();
  } else if (ifModifiedSince !== undefined && lastModified <= ifModifiedSince) {
    throw notModified();
  }
}

/** If-None-Match: * / If-Match on PutObject and CompleteMultipartUpload. */
export function writeCondition(h: IncomingHttpHeaders): WriteCondition {
  const ifNoneMatch = h['if-none-match'];
  const ifMatch = h['if-match'];
  if (typeof ifNoneMatch === 'string') {
    if (ifNoneMatch.trim() !== '*') throw notImplemented('If-None-Match with a value other than *');
    if (typeof ifMatch === 'string') throw s3Error('NotImplemented', {}, 'A header you provided implies functionality that is not implemented');
    return { kind: 'ifNoneMatchStar' };
  }
  if (typeof ifMatch === 'string') {
    const list = etagList(ifMatch);
    if (list.length !== 1 || list[0] === '*') throw notImplemented('If-Match with more than one ETag or *');
    return { kind: 'ifMatch', etag: list[0]! };
  }
  return { kind: 'none' };
}

/**
 * The write condition checked against the current object before the body is read, as AWS
 * checks it on arrival: If-None-Match: * over an object, or If-Match naming another ETag, is
 * 412 PreconditionFailed; If-Match on a missing key is 404 NoSuchKey. The committing
 * transaction checks again; failing there means another write landed in between, which
 * mapWriteConflict answers 409 ConditionalRequestConflict (the client should retry).
 */
export function checkWriteCondition(cond: WriteCondition, current: ObjectRecord | undefined, key: string): void {
  if (cond.kind === 'none') return;
  if (cond.kind === 'ifNoneMatchStar') {
    if (current) throw writeConditionFailed(cond);
    return;
  }
  if (!current) throw s3Error('NoSuchKey', { Key: key });
  if (!sameEtag(cond.etag, current.etag)) throw writeConditionFailed(cond);
}

/** ETags compare without their quotes: clients send If-Match both ways. */
export function sameEtag(a: string, b: string): boolean {
  const bare = (e: string) => e.trim().replace(/^"(.*)"$/, '$1');
  return bare(a) === bare(b);
}

/** The error a failed write condition answers with. */
export function writeConditionFailed(cond: WriteCondition): Error {
  return s3Error('PreconditionFailed', { Condition: cond.kind === 'ifMatch' ? 'If-Match' : 'If-None-Match' });
}
