// ListObjectVersions (GET /bucket?versions). Coffer has no versioning yet, so a bucket's
// versions are its current objects, each its own only version: VersionId "null",
// IsLatest true, and no delete markers — what AWS lists for a bucket that never had
// versioning enabled. Prefix, delimiter (CommonPrefixes), max-keys, key-marker /
// version-id-marker paging and encoding-type=url work as in ListObjects (the same walk).

import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendXml } from '../context.js';
import { invalidArgument } from '../errors.js';
import { el, text, xmlDocument } from '../xml.js';
import { encoderOf, maxKeysOf, walk } from './list-objects.js';

/** The one version id an unversioned object has. */
const NULL_VERSION = 'null';

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
  // Every object's one version is "null": any other id names no version here.
  if (versionIdMarker !== '' && versionIdMarker !== NULL_VERSION) {
    throw invalidArgument('Invalid version id specified', 'version-id-marker', versionIdMarker);
  }
  await requireBucket(ctx, bucket);
  // After (key-marker, "null") is after key-marker: each key has that one version.
  const page = await walk(ctx, bucket, prefix, delimiter, keyMarker || undefined, maxKeys);
  const lastIsPrefix = page.last !== undefined && page.prefixes[page.prefixes.length - 1] === page.last;
  const owner = el('Owner', text('ID', ctx.owner.id), text('DisplayName', ctx.owner.displayName));
  const versions = page.contents.map((r) =>
    el(
      'Version',
      text('Key', enc(r.key)),
      text('VersionId', NULL_VERSION),
      text('IsLatest', true),
      text('LastModified', r.lastModified),
      text('ETag', r.etag),
      r.checksum ? text('ChecksumAlgorithm', r.checksum.algorithm) + text('ChecksumType', r.checksum.type) : '',
      text('Size', r.size),
      text('StorageClass', r.storageClass),
      owner,
    ),
  );
  const inner =
    text('Name', bucket) +
    text('Prefix', enc(prefix)) +
    text('KeyMarker', enc(keyMarker)) +
    text('VersionIdMarker', versionIdMarker) +
    (page.truncated && page.last !== undefined ? text('NextKeyMarker', enc(page.last)) : '') +
    (page.truncated && page.last !== undefined && !lastIsPrefix ? text('NextVersionIdMarker', NULL_VERSION) : '') +
    text('MaxKeys', maxKeys) +
    (delimiter !== '' ? text('Delimiter', enc(delimiter)) : '') +
    text('IsTruncated', page.truncated) +
    (q.has('encoding-type') ? text('EncodingType', 'url') : '') +
    versions.join('') +
    page.prefixes.map((p) => el('CommonPrefixes', text('Prefix', enc(p)))).join('');
  sendXml(ctx, 200, xmlDocument('ListVersionsResult', inner));
}
