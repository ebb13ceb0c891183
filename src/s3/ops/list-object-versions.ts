// ListObjectVersions (GET /bucket?versions): every version and delete marker, by key in
// UTF-8 byte order and newest first within a key, <Version> and <DeleteMarker> entries
// interleaved as they come, IsLatest on each key's current one. Prefix, delimiter
// (CommonPrefixes), max-keys, key-marker / version-id-marker paging and encoding-type=url.
// Objects of a bucket that never had versioning are each their one "null" version.
// A page resumes after the (key, version) it ended on: versions written since are newer
// than it, so they come before the marker and paging neither repeats nor skips an entry.

import type { ObjectVersionRecord } from '../../storage/types.js';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendXml } from '../context.js';
import { invalidArgument } from '../errors.js';
import { isVersionId } from '../versioning.js';
import { el, text, xmlDocument } from '../xml.js';
import { encoderOf, maxKeysOf } from './list-objects.js';

// The greatest code point: appended to a common prefix it sorts after (nearly) every key under it.
const MAX_CHAR = '\u{10FFFF}';

interface VersionPage {
  entries: ObjectVersionRecord[];
  prefixes: string[];
  truncated: boolean;
  /** The last entry or common prefix returned: the next markers. */
  last?: { key: string; versionId?: string };
}

export async function listObjectVersions(ctx: S3Context, bucket: string): Promise<void> {
  const q = ctx.query;
  const enc = encoderOf(ctx);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const versionIdMarker = q.get('version-id-marker') ?? '';
  const maxKeys = maxKeysOf(ctx);
  if (versionIdMarker !== '' && keyMarker === '') {
    throw invalidArgument('A version-id marker cannot be specified without a key marker.', 'version-id-marker', versionIdMarker);
  }
  if (versionIdMarker !== '' && !isVersionId(versionIdMarker)) {
    throw invalidArgument('Invalid version id specified', 'version-id-marker', versionIdMarker);
  }
  await requireBucket(ctx, bucket);
  const page = await walkVersions(ctx, bucket, prefix, delimiter, keyMarker || undefined, versionIdMarker || undefined, maxKeys);
  const owner = el('Owner', text('ID', ctx.owner.id), text('DisplayName', ctx.owner.displayName));
  const entries = page.entries.map((r) =>
    r.deleteMarker
      ? el(
        'DeleteMarker',
        text('Key', enc(r.key)),
        text('VersionId', r.versionId),
        text('IsLatest', r.isLatest),
        text('LastModified', r.lastModified),
        owner,
      )
      : el(
        'Version',
        text('Key', enc(r.key)),
        text('VersionId', r.versionId),
        text('IsLatest', r.isLatest),
        text('LastModified', r.lastModified),
        text('ETag', r.etag),
        r.checksum ? text('ChecksumAlgorithm', r.checksum.algorithm) + text('ChecksumType', r.checksum.type) : '',
        text('Size', r.size),
        text('StorageClass', r.storageClass),
        owner,
      ),
  );
  const next = page.truncated ? page.last : undefined;
  const inner =
    text('Name', bucket) +
    text('Prefix', enc(prefix)) +
    text('KeyMarker', enc(keyMarker)) +
    text('VersionIdMarker', versionIdMarker) +
    (next ? text('NextKeyMarker', enc(next.key)) : '') +
    (next?.versionId !== undefined ? text('NextVersionIdMarker', next.versionId) : '') +
    text('MaxKeys', maxKeys) +
    (delimiter !== '' ? text('Delimiter', enc(delimiter)) : '') +
    text('IsTruncated', page.truncated) +
    (q.has('encoding-type') ? text('EncodingType', 'url') : '') +
    entries.join('') +
    page.prefixes.map((p) => el('CommonPrefixes', text('Prefix', enc(p)))).join('');
  sendXml(ctx, 200, xmlDocument('ListVersionsResult', inner));
}

/** One page: entries and common prefixes up to maxKeys, reading the store in batches; a common prefix is skipped in one step. */
async function walkVersions(
  ctx: S3Context, bucket: string, prefix: string, delimiter: string, keyMarker: string | undefined, versionIdMarker: string | undefined, maxKeys: number,
): Promise<VersionPage> {
  const page: VersionPage = { entries: [], prefixes: [], truncated: false };
  if (maxKeys === 0) return page;
  let cursor: { key?: string; versionId?: string } = { key: keyMarker, versionId: versionIdMarker };
  const batch = Math.min(1000, maxKeys + 1);
  for (;;) {
    const recs = await ctx.services.meta.listObjectVersions(bucket, { prefix, keyMarker: cursor.key, versionIdMarker: cursor.versionId, limit: batch });
    if (recs.length === 0) return page;
    let jumped = false;
    for (const rec of recs) {
      cursor = { key: rec.key, versionId: rec.versionId };
      let entry: string | undefined;
      if (delimiter !== '') {
        const i = rec.key.indexOf(delimiter, prefix.length);
        if (i >= 0) entry = rec.key.slice(0, i + delimiter.length);
      }
      if (entry !== undefined && entry === page.prefixes[page.prefixes.length - 1]) continue;
      if (entry !== undefined && keyMarker !== undefined && keyMarker.startsWith(entry)) {
        // The marker lies inside this common prefix: it was returned on an earlier page.
        cursor = { key: entry + MAX_CHAR };
        jumped = true;
        break;
      }
      if (page.entries.length + page.prefixes.length === maxKeys) {
        page.truncated = true;
        return page;
      }
      if (entry !== undefined) {
        page.prefixes.push(entry);
        page.last = { key: entry };
        cursor = { key: entry + MAX_CHAR };
        jumped = true;
        break; // re-query from past the common prefix
      }
      page.entries.push(rec);
      page.last = { key: rec.key, versionId: rec.versionId };
    }
    if (!jumped && recs.length < batch) return page;
  }
}
