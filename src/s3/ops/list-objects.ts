// ListObjects (v1) and ListObjectsV2: prefix, delimiter with CommonPrefixes,
// max-keys, markers and continuation tokens, encoding-type=url, fetch-owner.
// Keys are walked in UTF-8 byte order straight from the metadata index; a common
// prefix is skipped past in one step rather than key by key.

import type { ObjectRecord } from '../../storage/types.js';
import { requireBucket } from '../bucket-access.js';
import type { S3Context } from '../context.js';
import { sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { s3UrlEncode } from '../url-encoding.js';
import { el, text, xmlDocument } from '../xml.js';

interface ListPage {
  contents: ObjectRecord[];
  prefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned (the next marker). */
  last?: string;
}

// The greatest code point: appended to a common prefix it sorts after (nearly) every key under it.
const MAX_CHAR = '\u{10FFFF}';

export async function walk(ctx: S3Context, bucket: string, prefix: string, delimiter: string, after: string | undefined, maxKeys: number): Promise<ListPage> {
  const page: ListPage = { contents: [], prefixes: [], truncated: false };
  if (maxKeys === 0) return page;
  let cursor = after;
  const batch = Math.min(1000, maxKeys + 1);
  for (;;) {
    const recs = await ctx.services.meta.listObjects(bucket, { prefix, after: cursor, limit: batch });
    if (recs.length === 0) return page;
    for (const rec of recs) {
      cursor = rec.key;
      let entry: string | undefined;
      if (delimiter !== '') {
        const i = rec.key.indexOf(delimiter, prefix.length);
        if (i >= 0) entry = rec.key.slice(0, i + delimiter.length);
      }
      if (entry !== undefined && entry === page.prefixes[page.prefixes.length - 1]) continue;
      if (entry !== undefined && after !== undefined && after.startsWith(entry)) {
        // The marker lies inside this common prefix: it was returned on an earlier page.
        cursor = entry + MAX_CHAR;
        break;
      }
      if (page.contents.length + page.prefixes.length === maxKeys) {
        page.truncated = true;
        return page;
      }
      if (entry !== undefined) {
        page.prefixes.push(entry);
        page.last = entry;
        cursor = entry + MAX_CHAR;
        break; // re-query from past the common prefix
      }
      page.contents.push(rec);
      page.last = rec.key;
    }
    if (recs.length < batch && cursor === recs[recs.length - 1]!.key) return page;
  }
}

export function maxKeysOf(ctx: S3Context): number {
  const v = ctx.query.get('max-keys');
  if (v === null) return 1000;
  if (!/^-?\d+$/.test(v) || Number(v) < 0 || Number(v) > 2147483647) {
    throw s3Error('InvalidArgument', { ArgumentName: 'maxKeys', ArgumentValue: v }, 'Provided max-keys not an integer or within integer range');
  }
  return Math.min(Number(v), 1000);
}

export function encoderOf(ctx: S3Context): (s: string) => string {
  const t = ctx.query.get('encoding-type');
  if (t === null) return (s) => s;
  if (t.toLowerCase() !== 'url') throw s3Error('InvalidArgument', { ArgumentName: 'encoding-type', ArgumentValue: t }, 'Invalid Encoding Method specified in Request');
  return s3UrlEncode;
}

export function contentsXml(recs: ObjectRecord[], enc: (s: string) => string, withOwner: boolean, ctx: S3Context): string[] {
  return recs.map((r) =>
    el(
      'Contents',
      text('Key', enc(r.key)),
      text('LastModified', r.lastModified),
      text('ETag', r.etag),
      r.checksum ? text('ChecksumAlgorithm', r.checksum.algorithm) + text('ChecksumType', r.checksum.type) : '',
      text('Size', r.size),
      withOwner ? el('Owner', text('ID', ctx.owner.id), text('DisplayName', ctx.owner.displayName)) : '',
      text('StorageClass', r.storageClass),
    ),
  );
}

export async function listObjects(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const q = ctx.query;
  const enc = encoderOf(ctx);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const marker = q.get('marker') ?? '';
  const maxKeys = maxKeysOf(ctx);
  const page = await walk(ctx, bucket, prefix, delimiter, marker || undefined, maxKeys);
  const inner =
    text('Name', bucket) +
    text('Prefix', enc(prefix)) +
    text('Marker', enc(marker)) +
    (page.truncated && delimiter !== '' && page.last !== undefined ? text('NextMarker', enc(page.last)) : '') +
    text('MaxKeys', maxKeys) +
    (delimiter !== '' ? text('Delimiter', enc(delimiter)) : '') +
    text('IsTruncated', page.truncated) +
    (q.has('encoding-type') ? text('EncodingType', 'url') : '') +
    contentsXml(page.contents, enc, true, ctx).join('') +
    page.prefixes.map((p) => el('CommonPrefixes', text('Prefix', enc(p)))).join('');
  sendXml(ctx, 200, xmlDocument('ListBucketResult', inner));
}

export async function listObjectsV2(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const q = ctx.query;
  const enc = encoderOf(ctx);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const startAfter = q.get('start-after') ?? undefined;
  // An empty continuation-token is no token (AWS lists from the start; tools send "continuation-token=").
  const token = q.get('continuation-token') || undefined;
  let after = startAfter;
  if (token !== undefined) {
    const decoded = decodeToken(token);
    if (decoded === undefined) throw s3Error('InvalidArgument', { ArgumentName: 'continuation-token', ArgumentValue: token }, 'The continuation token provided is incorrect');
    after = decoded;
  }
  const maxKeys = maxKeysOf(ctx);
  const fetchOwner = q.get('fetch-owner') === 'true';
  const page = await walk(ctx, bucket, prefix, delimiter, after, maxKeys);
  const inner =
    text('Name', bucket) +
    text('Prefix', enc(prefix)) +
    text('KeyCount', page.contents.length + page.prefixes.length) +
    text('MaxKeys', maxKeys) +
    (delimiter !== '' ? text('Delimiter', enc(delimiter)) : '') +
    text('IsTruncated', page.truncated) +
    (token !== undefined ? text('ContinuationToken', token) : '') +
    (page.truncated && page.last !== undefined ? text('NextContinuationToken', encodeToken(page.last)) : '') +
    (startAfter !== undefined ? text('StartAfter', enc(startAfter)) : '') +
    (q.has('encoding-type') ? text('EncodingType', 'url') : '') +
    contentsXml(page.contents, enc, fetchOwner, ctx).join('') +
    page.prefixes.map((p) => el('CommonPrefixes', text('Prefix', enc(p)))).join('');
  sendXml(ctx, 200, xmlDocument('ListBucketResult', inner));
}

// Continuation tokens are opaque to clients: a versioned, base64url-encoded last key.
function encodeToken(lastKey: string): string {
  return Buffer.from('1:' + lastKey, 'utf8').toString('base64url');
}

function decodeToken(token: string): string | undefined {
  const s = Buffer.from(token, 'base64url').toString('utf8');
  return s.startsWith('1:') ? s.slice(2) : undefined;
}
