// GetObjectAttributes: HeadObject and ListParts in one XML answer, limited to the
// attributes named in x-amz-object-attributes. As on AWS the ETag is unquoted, a
// composite checksum is given without its "-N" suffix, an SSE-C object needs its key
// (as GET does), and a multipart object reports its part count; its parts are listed
// (with their checksums, paged by x-amz-max-parts and x-amz-part-number-marker) only when
// the upload applied an additional checksum — AWS leaves them out otherwise, and S3's own
// default (a FULL_OBJECT CRC64NVME) is not one.

import type { ObjectRecord, StoredChecksum } from '../../storage/types.js';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendXml } from '../context.js';
import { invalidArgument, s3Error } from '../errors.js';
import { httpDate } from '../object-headers.js';
import { el, text, xmlDocument } from '../xml.js';
import { checkCustomerKey, sseOf } from '../sse/object-keys.js';
import { parseReadCustomerKey, refuseSseHeaders } from '../sse/request.js';
import { requireSecureTransport } from '../sse/transport-rule.js';
import { checksumElement } from './copy-object.js';
import { readVersion, requestedVersionId, versionHeaders } from '../versioning.js';

const ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
type Attribute = (typeof ATTRIBUTES)[number];
const DEFAULT_MAX_PARTS = 1000;

export async function getObjectAttributes(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const wanted = parseAttributes(ctx.req.headers['x-amz-object-attributes']);
  const versionId = requestedVersionId(ctx);
  // Only the SSE-C headers, validated as GET validates them.
  refuseSseHeaders(ctx.req.headers);
  const customer = parseReadCustomerKey(ctx.req.headers);
  if (customer) requireSecureTransport(ctx, { kind: 'sse-c' });
  const b = await requireBucket(ctx, bucket);
  const rec = await readVersion(ctx, b, key, versionId);
  checkCustomerKey(sseOf(rec.sys), customer);

  let inner = '';
  if (wanted.has('ETag')) inner += text('ETag', rec.etag.replace(/^"|"$/g, ''));
  if (wanted.has('Checksum') && rec.checksum) {
    const value = rec.checksum.type === 'COMPOSITE' ? rec.checksum.value.replace(/-\d+$/, '') : rec.checksum.value;
    inner += el('Checksum', text(checksumElement(rec.checksum.algorithm), value), text('ChecksumType', rec.checksum.type));
  }
  if (wanted.has('ObjectParts') && isMultipart(rec)) inner += objectParts(ctx, rec);
  if (wanted.has('StorageClass')) inner += text('StorageClass', rec.storageClass);
  if (wanted.has('ObjectSize')) inner += text('ObjectSize', rec.size);
  sendXml(ctx, 200, xmlDocument('GetObjectAttributesResponse', inner), { 'last-modified': httpDate(rec.lastModified), ...versionHeaders(b, rec) });
}

function parseAttributes(raw: string | string[] | undefined): Set<Attribute> {
  const values = (Array.isArray(raw) ? raw.join(',') : raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (values.length === 0) {
    throw s3Error('InvalidRequest', {}, 'The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty');
  }
  const out = new Set<Attribute>();
  for (const v of values) {
    if (!(ATTRIBUTES as readonly string[]).includes(v)) throw invalidArgument('Invalid attribute name specified.', 'x-amz-object-attributes', v);
    out.add(v as Attribute);
  }
  return out;
}

function isMultipart(rec: ObjectRecord): boolean {
  return rec.parts.length > 1 || (rec.parts[0]?.partNumber ?? 0) > 0;
}

function objectParts(ctx: S3Context, rec: ObjectRecord): string {
  const count = text('PartsCount', rec.parts.length);
  if (!rec.checksum || !hasAdditionalChecksum(rec.checksum)) return el('ObjectParts', count);
  // S3 ignores max-parts and part-number-marker values it cannot read.
  const maxParts = Math.min(intHeader(ctx, 'x-amz-max-parts', DEFAULT_MAX_PARTS), DEFAULT_MAX_PARTS);
  const marker = intHeader(ctx, 'x-amz-part-number-marker', 0);
  const after = rec.parts.filter((p) => p.partNumber > marker);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  const element = checksumElement(rec.checksum.algorithm);
  // Parts without a checksum of the object's algorithm (none stored) are listed without one.
  const parts = page.map((p) => el('Part', text('PartNumber', p.partNumber), text('Size', p.size), p.checksum === undefined ? '' : text(element, p.checksum)));
  return el(
    'ObjectParts',
    count,
    text('PartNumberMarker', marker),
    text('NextPartNumberMarker', page.length ? page[page.length - 1]!.partNumber : marker),
    text('MaxParts', maxParts),
    text('IsTruncated', truncated),
    ...parts,
  );
}

/**
 * Whether the upload applied a checksum of the client's choosing. A FULL_OBJECT CRC64NVME is
 * what S3 computes when none was asked for; an upload that declared it explicitly stores the
 * same record, so it is taken as the default (and its parts are not listed).
 */
function hasAdditionalChecksum(c: StoredChecksum): boolean {
  return c.type === 'COMPOSITE' || c.algorithm !== 'CRC64NVME';
}

function intHeader(ctx: S3Context, name: string, fallback: number): number {
  const v = ctx.req.headers[name];
  if (typeof v !== 'string' || !/^\d{1,9}$/.test(v.trim())) return fallback;
  return Number(v.trim());
}
