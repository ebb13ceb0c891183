// CompleteMultipartUpload: checks the requested part list against the uploaded parts,
// then makes the object in one metadata transaction. No byte is copied: the object's
// parts are the chosen parts' blobs, in order. The ETag is S3's MD5-of-MD5s "-N"; the
// checksum is COMPOSITE or FULL_OBJECT as the upload declared (multipart-checksum.ts).

import { createHash } from 'node:crypto';
import { decodePayload } from '../../auth/chunked.js';
import type { ObjectRecord, PartRecord } from '../../storage/types.js';
import { writeCondition } from '../conditions.js';
import { type S3Context, header, sendXml } from '../context.js';
import { refuseSseHeaders } from '../sse/request.js';
import { completedSse } from '../sse/multipart-sse.js';
import { sseResponseHeaders } from '../sse/object-keys.js';
import { invalidArgument, s3Error } from '../errors.js';
import {
  checkCompleteChecksumHeaders,
  checkRequestedPartChecksum,
  checksumElement,
  missingPartChecksum,
  objectChecksum,
  requestedPartChecksums,
  type RequestedPartChecksum,
} from '../multipart-checksum.js';
import { MAX_PART_NUMBER, MIN_PART_SIZE, bareEtag, noSuchUpload, objectSys, requireUpload } from '../multipart-upload.js';
import { childArray, childText, parseXmlRoot, readSmallBody, text, xmlDocument } from '../xml.js';
import { mapWriteConflict } from './put-object.js';

interface RequestedPart {
  partNumber: number;
  etag: string;
  checksums: RequestedPartChecksum[];
}

export async function completeMultipartUpload(ctx: S3Context, bucket: string, key: string, uploadId: string): Promise<void> {
  const h = ctx.req.headers;
  const cond = writeCondition(h);
  refuseSseHeaders(h);
  const decoded = decodePayload(ctx.req, h, ctx.auth.payload);
  const requested = parsePartList(await readSmallBody(decoded.body));
  const upload = await requireUpload(ctx, bucket, key, uploadId);

  const stored = new Map<number, PartRecord>();
  for (const p of await ctx.services.meta.listParts(uploadId, 0, MAX_PART_NUMBER)) stored.set(p.partNumber, p);

  const chosen: PartRecord[] = [];
  requested.forEach((r, i) => {
    const part = stored.get(r.partNumber);
    if (!part || bareEtag(part.etag) !== bareEtag(r.etag)) throw invalidPart(uploadId, r);
    const check = checkRequestedPartChecksum(upload, part, r.checksums);
    if (check === 'mismatch') throw invalidPart(uploadId, r);
    if (check === 'missing') throw missingPartChecksum(upload, r.partNumber);
    if (i < requested.length - 1 && part.size < MIN_PART_SIZE) {
      throw s3Error('EntityTooSmall', {
        ProposedSize: String(part.size),
        MinSizeAllowed: String(MIN_PART_SIZE),
        PartNumber: String(part.partNumber),
        ETag: bareEtag(part.etag),
      });
    }
    chosen.push(part);
  });

  const size = chosen.reduce((n, p) => n + p.size, 0);
  const announced = header(ctx, 'x-amz-mp-object-size');
  if (announced !== undefined && announced.trim() !== String(size)) {
    throw s3Error('InvalidRequest', {}, `The provided 'x-amz-mp-object-size' header value ${announced} does not match what was computed: ${size}`);
  }
  const checksum = objectChecksum(upload, chosen);
  checkCompleteChecksumHeaders(h, upload, checksum);

  const md5s = createHash('md5');
  for (const p of chosen) md5s.update(Buffer.from(bareEtag(p.etag), 'hex'));
  const rec: ObjectRecord = {
    bucket,
    key,
    size,
    etag: `"${md5s.digest('hex')}-${chosen.length}"`,
    // S3 dates a multipart object by the initiation of its upload.
    lastModified: upload.initiated,
    headers: upload.headers,
    userMetadata: upload.userMetadata,
    tags: upload.tags,
    checksum,
    parts: chosen.map((p) => ({ blobId: p.blobId, size: p.size, partNumber: p.partNumber, etag: p.etag, checksum: p.checksum })),
    sys: objectSys(upload),
    owner: upload.owner,
    storageClass: upload.storageClass,
  };

  const sse = await completedSse(ctx, upload, chosen);
  if (sse) rec.sys = { ...rec.sys, sse };
  try {
    await ctx.services.meta.completeUpload(uploadId, rec, cond);
  } catch (e) {
    const mapped = await mapWriteConflict(ctx, e, bucket, key, cond);
    throw isNoSuchUpload(mapped) ? noSuchUpload(uploadId) : mapped;
  }
  ctx.services.collectGarbage();

  const inner =
    text('Location', location(ctx, bucket, key)) +
    text('Bucket', bucket) +
    text('Key', key) +
    text('ETag', rec.etag) +
    // S3's default checksum (the upload declared none) is not in the answer, only on later reads (aws-recordings).
    (checksum && upload.checksumAlgorithm ? text(checksumElement(checksum.algorithm), checksum.value) + text('ChecksumType', checksum.type) : '');
  sendXml(ctx, 200, xmlDocument('CompleteMultipartUploadResult', inner), sseResponseHeaders(ctx, sse));
}

function isNoSuchUpload(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'NoSuchUpload';
}

/** CompleteMultipartUpload's body: the requested parts in ascending order; MalformedXML, InvalidArgument or InvalidPartOrder otherwise. */
export function parsePartList(body: Buffer): RequestedPart[] {
  const root = parseXmlRoot(body, 'CompleteMultipartUpload');
  const parts = childArray(root, 'Part');
  if (parts.length === 0) throw s3Error('MalformedXML');
  const out: RequestedPart[] = [];
  for (const p of parts) {
    const num = childText(p, 'PartNumber')?.trim();
    const etag = childText(p, 'ETag');
    if (num === undefined || etag === undefined || !/^\d+$/.test(num)) throw s3Error('MalformedXML');
    const partNumber = Number(num);
    if (partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw invalidArgument(`Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, 'partNumber', num);
    }
    const prev = out[out.length - 1];
    if (prev && partNumber <= prev.partNumber) throw s3Error('InvalidPartOrder');
    out.push({ partNumber, etag, checksums: requestedPartChecksums((name) => childText(p, name)) });
  }
  return out;
}

function invalidPart(uploadId: string, r: RequestedPart): Error {
  return s3Error('InvalidPart', { UploadId: uploadId, PartNumber: String(r.partNumber), ETag: bareEtag(r.etag) });
}

/** The object's URL as S3 reports it: virtual-hosted when the request was, path style otherwise. */
function location(ctx: S3Context, bucket: string, key: string): string {
  const scheme = ctx.transport.secure ? 'https' : 'http';
  const host = ctx.req.headers.host ?? 'localhost';
  const domain = ctx.services.config.domain?.toLowerCase();
  const virtual = domain !== undefined && host.toLowerCase().replace(/:\d+$/, '') === `${bucket}.${domain}`;
  const path = encodeRfc3986(key);
  return virtual ? `${scheme}://${host}/${path}` : `${scheme}://${host}/${bucket}/${path}`;
}

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
