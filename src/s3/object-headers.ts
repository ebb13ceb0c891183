// The headers an object carries: which request headers are stored, user metadata,
// the x-amz-tagging header, storage class, and the
// response headers GET/HEAD write back from a stored record.

import type { IncomingHttpHeaders } from 'node:http';
import { checksumHeader } from '../checksum/index.js';
import { NO_TAGS, type ObjectTags } from '../storage/object-tags.js';
import type { ObjectRecord } from '../storage/types.js';
import { invalidArgument, notImplemented, s3Error } from './errors.js';
import { metadataFromWire, metadataToWire } from './metadata-text.js';
import { setOwn } from '../records.js';

/** Standard headers S3 stores with an object and returns on GET/HEAD. */
export const STORED_HEADERS = ['content-type', 'content-encoding', 'content-disposition', 'content-language', 'cache-control', 'expires', 'x-amz-website-redirect-location'] as const;

export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';
const MAX_USER_METADATA_BYTES = 2048;

export function storedHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    const v = h[name];
    if (typeof v === 'string') out[name] = v;
  }
  if (out['content-encoding'] !== undefined) {
    // aws-chunked is transfer framing, not a property of the object.
    const rest = out['content-encoding'].split(',').map((s) => s.trim()).filter((s) => s && s.toLowerCase() !== 'aws-chunked');
    if (rest.length) out['content-encoding'] = rest.join(',');
    else delete out['content-encoding'];
  }
  if (out['content-type'] === undefined) out['content-type'] = DEFAULT_CONTENT_TYPE;
  return out;
}

export function userMetadata(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  let size = 0;
  for (const [name, value] of Object.entries(h)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const k = name.slice('x-amz-meta-'.length);
    const v = metadataFromWire(Array.isArray(value) ? value.join(',') : value);
    setOwn(out, k, v);
    size += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (size > MAX_USER_METADATA_BYTES) throw s3Error('MetadataTooLarge', { Size: String(size), MaxSizeAllowed: String(MAX_USER_METADATA_BYTES) });
  return out;
}

/** Parses the URL-query-encoded x-amz-tagging header, keeping the order of its keys. */
export function parseTaggingHeader(v: string | undefined): ObjectTags {
  if (v === undefined) return NO_TAGS;
  return objectTags(new URLSearchParams(v));
}

/**
 * An object's tag set from the [key, value] pairs a request gives, in its order: a repeated
 * key is InvalidTag as soon as it is met (pairs may be produced lazily, so a malformed pair
 * after it is not reached), then the count and each key and value are checked.
 */
export function objectTags(pairs: Iterable<readonly [string, string]>): ObjectTags {
  const tags: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (const [k, v] of pairs) {
    if (seen.has(k)) throw s3Error('InvalidTag', {}, 'Cannot provide multiple Tags with the same key');
    seen.add(k);
    tags.push([k, v]);
  }
  if (tags.length > 10) throw s3Error('BadRequest', {}, 'Object tags cannot be greater than 10');
  for (const [k, v] of tags) {
    if (k.length === 0 || [...k].length > 128) throw s3Error('InvalidTag', {}, 'The TagKey you have provided is invalid');
    if ([...v].length > 256) throw s3Error('InvalidTag', {}, 'The TagValue you have provided is invalid');
    if (k.startsWith('aws:')) throw s3Error('InvalidTag', {}, 'Your TagKey cannot be prefixed with aws:');
  }
  return tags;
}

const READABLE_CLASSES = new Set(['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'EXPRESS_ONEZONE']);
const ARCHIVE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE', 'OUTPOSTS', 'SNOW']);

export function storageClass(h: IncomingHttpHeaders): string {
  const v = h['x-amz-storage-class'];
  if (typeof v !== 'string' || v === '') return 'STANDARD';
  if (READABLE_CLASSES.has(v)) return v;
  if (ARCHIVE_CLASSES.has(v)) throw notImplemented(`Storage class ${v}`);
  throw s3Error('InvalidStorageClass', { StorageClassRequested: v });
}

export function quoteEtag(md5hex: string): string {
  return `"${md5hex}"`;
}

export function httpDate(iso: string): string {
  return new Date(iso).toUTCString();
}

export function checkTaggingDirective(v: string | undefined): 'COPY' | 'REPLACE' {
  if (v === undefined || v === 'COPY') return 'COPY';
  if (v === 'REPLACE') return 'REPLACE';
  throw invalidArgument('Unknown tagging directive.', 'x-amz-tagging-directive', v);
}

/** Response headers describing a stored object (GET, HEAD). */
export function objectResponseHeaders(rec: ObjectRecord, opts: { checksumMode: boolean; partNumber?: number }): Record<string, string> {
  const out: Record<string, string> = {
    etag: rec.etag,
    'last-modified': httpDate(rec.lastModified),
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(rec.headers)) out[k] = v;
  for (const [k, v] of Object.entries(rec.userMetadata)) out[`x-amz-meta-${k}`] = metadataToWire(v);
  if (rec.tags.length > 0) out['x-amz-tagging-count'] = String(rec.tags.length);
  if (rec.storageClass !== 'STANDARD') out['x-amz-storage-class'] = rec.storageClass;
  if (rec.parts.length > 1 || rec.parts[0]?.partNumber) {
    if (opts.partNumber !== undefined) out['x-amz-mp-parts-count'] = String(rec.parts.length);
  }
  if (opts.checksumMode && rec.checksum) {
    if (opts.partNumber !== undefined && rec.parts.length > 1) {
      const part = rec.parts[opts.partNumber - 1];
      if (part?.checksum && rec.checksum.type === 'COMPOSITE') {
        out[checksumHeader(rec.checksum.algorithm)] = part.checksum;
        out['x-amz-checksum-type'] = 'COMPOSITE';
      }
    } else {
      out[checksumHeader(rec.checksum.algorithm)] = rec.checksum.value;
      out['x-amz-checksum-type'] = rec.checksum.type;
    }
  }
  return out;
}
