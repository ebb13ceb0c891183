// ListParts and ListMultipartUploads: paging over the metadata store, delimiter
// roll-up into CommonPrefixes, and the two XML documents.

import { checksumElement } from './multipart-checksum.js';
import { MAX_LIST_ENTRIES, intParam, storedInitiator, type Initiator } from './multipart-upload.js';
import type { MetadataStore, MultipartUploadRecord, PartRecord } from '../storage/types.js';
import type { S3Context } from './context.js';
import { invalidArgument } from './errors.js';
import { s3UrlEncode } from './url-encoding.js';
import { el, text, xmlDocument } from './xml.js';

function iso(t: string): string {
  return new Date(t).toISOString();
}

function person(name: string, p: Initiator): string {
  return el(name, text('ID', p.id) + text('DisplayName', p.displayName));
}

export interface ListPartsPage {
  ctx: S3Context;
  upload: MultipartUploadRecord;
  parts: PartRecord[];
  marker: number;
  maxParts: number;
  truncated: boolean;
}

export function listPartsDocument(p: ListPartsPage): string {
  const { ctx, upload } = p;
  const owner = { id: upload.owner, displayName: ctx.owner.displayName };
  const alg = upload.checksumAlgorithm;
  const parts = p.parts.map((part) =>
    el(
      'Part',
      text('PartNumber', part.partNumber) +
        text('LastModified', iso(part.lastModified)) +
        text('ETag', part.etag) +
        text('Size', part.size) +
        (alg && part.checksum !== undefined ? text(checksumElement(alg), part.checksum) : ''),
    ),
  );
  const last = p.parts[p.parts.length - 1];
  const inner =
    text('Bucket', upload.bucket) +
    text('Key', upload.key) +
    text('UploadId', upload.uploadId) +
    person('Initiator', storedInitiator(upload, owner)) +
    // AWS no longer sends the owner's DisplayName (2025); the initiator keeps its own (aws-recordings: list-parts).
    el('Owner', text('ID', owner.id)) +
    text('StorageClass', upload.storageClass) +
    text('PartNumberMarker', p.marker) +
    text('NextPartNumberMarker', last ? last.partNumber : p.marker) +
    text('MaxParts', p.maxParts) +
    text('IsTruncated', p.truncated) +
    parts.join('') +
    text('ChecksumAlgorithm', alg) +
    text('ChecksumType', alg ? upload.checksumType : undefined);
  return xmlDocument('ListPartsResult', inner);
}

export interface ListUploadsQuery {
  prefix: string;
  delimiter?: string;
  keyMarker?: string;
  uploadIdMarker?: string;
  maxUploads: number;
  encodingType?: 'url';
}

export function parseListUploadsQuery(q: URLSearchParams): ListUploadsQuery {
  const enc = q.get('encoding-type');
  if (enc !== null && enc.toLowerCase() !== 'url') throw invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', enc);
  const keyMarker = q.get('key-marker') || undefined;
  return {
    prefix: q.get('prefix') ?? '',
    delimiter: q.get('delimiter') || undefined,
    keyMarker,
    // S3 ignores upload-id-marker without key-marker.
    uploadIdMarker: keyMarker !== undefined ? q.get('upload-id-marker') || undefined : undefined,
    maxUploads: Math.min(intParam(q, 'max-uploads', MAX_LIST_ENTRIES), MAX_LIST_ENTRIES),
    encodingType: enc !== null ? 'url' : undefined,
  };
}

export type UploadEntry = { upload: MultipartUploadRecord; prefix?: undefined } | { prefix: string; upload?: undefined };

export interface UploadsPage {
  entries: UploadEntry[];
  truncated: boolean;
}

/** The common prefix a key rolls up into, or undefined. */
function commonPrefix(key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (!delimiter || !key.startsWith(prefix)) return undefined;
  const i = key.indexOf(delimiter, prefix.length);
  return i < 0 ? undefined : key.slice(0, i + delimiter.length);
}

// Sorts after every key that starts with a given prefix (the largest code point).
const AFTER_PREFIX = '\u{10FFFF}';

export async function pageUploads(meta: MetadataStore, bucket: string, q: ListUploadsQuery): Promise<UploadsPage> {
  const want = q.maxUploads + 1;
  const entries: UploadEntry[] = [];
  let keyMarker = q.keyMarker;
  let uploadIdMarker = q.uploadIdMarker;
  // A key-marker that is itself a common prefix (NextKeyMarker of a previous page) skips everything under it.
  let skip = q.keyMarker !== undefined && commonPrefix(q.keyMarker, q.prefix, q.delimiter) === q.keyMarker ? q.keyMarker : undefined;
  if (skip !== undefined) {
    keyMarker = skip + AFTER_PREFIX;
    uploadIdMarker = undefined;
  }
  for (;;) {
    const batch = await meta.listUploads(bucket, { prefix: q.prefix, keyMarker, uploadIdMarker, limit: Math.min(want, MAX_LIST_ENTRIES) });
    let jumped = false;
    for (const u of batch) {
      keyMarker = u.key;
      uploadIdMarker = u.uploadId;
      if (skip !== undefined && u.key.startsWith(skip)) continue;
      const cp = commonPrefix(u.key, q.prefix, q.delimiter);
      if (cp !== undefined) {
        entries.push({ prefix: cp });
        if (entries.length >= want) break;
        // Jump over the rest of this prefix instead of reading it.
        skip = cp;
        keyMarker = cp + AFTER_PREFIX;
        uploadIdMarker = undefined;
        jumped = true;
        break;
      }
      entries.push({ upload: u });
      if (entries.length >= want) break;
    }
    if (entries.length >= want) break;
    if (!jumped && batch.length < Math.min(want, MAX_LIST_ENTRIES)) break;
  }
  const truncated = entries.length > q.maxUploads;
  return { entries: entries.slice(0, q.maxUploads), truncated };
}


export function listUploadsDocument(ctx: S3Context, bucket: string, q: ListUploadsQuery, page: UploadsPage): string {
  const enc = (s: string | undefined) => (s === undefined || q.encodingType !== 'url' ? s : s3UrlEncode(s));
  const last = page.entries[page.entries.length - 1];
  const uploads = page.entries
    .filter((e) => e.upload)
    .map(({ upload: u }) => {
      const owner = { id: u!.owner, displayName: ctx.owner.displayName };
      return el(
        'Upload',
        text('Key', enc(u!.key)) +
          text('UploadId', u!.uploadId) +
          person('Initiator', storedInitiator(u!, owner)) +
          person('Owner', owner) +
          text('StorageClass', u!.storageClass) +
          text('Initiated', iso(u!.initiated)) +
          text('ChecksumAlgorithm', u!.checksumAlgorithm) +
          text('ChecksumType', u!.checksumAlgorithm ? u!.checksumType : undefined),
      );
    });
  const prefixes = page.entries.filter((e) => e.prefix !== undefined).map((e) => el('CommonPrefixes', text('Prefix', enc(e.prefix))));
  const inner =
    text('Bucket', bucket) +
    text('KeyMarker', enc(q.keyMarker) ?? '') +
    text('UploadIdMarker', q.uploadIdMarker ?? '') +
    (last ? text('NextKeyMarker', enc(last.upload ? last.upload.key : last.prefix)) : '') +
    (last ? text('NextUploadIdMarker', last.upload ? last.upload.uploadId : '') : '') +
    (q.delimiter !== undefined ? text('Delimiter', enc(q.delimiter)) : '') +
    text('Prefix', enc(q.prefix)) +
    text('MaxUploads', q.maxUploads) +
    text('IsTruncated', page.truncated) +
    uploads.join('') +
    prefixes.join('') +
    text('EncodingType', q.encodingType);
  return xmlDocument('ListMultipartUploadsResult', inner);
}
