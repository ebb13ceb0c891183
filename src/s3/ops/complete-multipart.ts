// CompleteMultipartUpload: checks the requested part list against the uploaded parts,
// then makes the object in one metadata transaction. No byte is copied: the object's
// parts are the chosen parts' blobs, in order. The ETag is S3's MD5-of-MD5s "-N"; the
// checksum is COMPOSITE or FULL_OBJECT as the upload declared (multipart-checksum.ts).

import { lockForNewVersion, lockOf, nowOf, replaceCheck, sysWithLock } from '../object-lock.js';
import { createHash } from 'node:crypto';
import { decodePayload } from '../../auth/chunked.js';
import { COMPLETED_UPLOAD_RETENTION_MS, StorageConflictError, type BucketRecord, type ObjectRecord, type PartRecord } from '../../storage/types.js';
import { versionHeaders, versionIdForWrite } from '../versioning.js';
import { expirationHeaders } from '../lifecycle/expiration-header.js';
import { checkWriteCondition, writeCondition } from '../conditions.js';
import { type S3Context, header, sendXml } from '../context.js';
import { refuseSseHeaders } from '../sse/request.js';
import { completedSse } from '../sse/multipart-sse.js';
import { sseOf, sseResponseHeaders } from '../sse/object-keys.js';
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
  const upload = await ctx.services.meta.getUpload(bucket, key, uploadId);
  if (!upload) {
    if (await answerRepeat(ctx, bucket, key, uploadId)) return;
    await requireUpload(ctx, bucket, key, uploadId);
    throw noSuchUpload(uploadId);
  }

  if (cond.kind !== 'none') checkWriteCondition(cond, await ctx.services.meta.getObject(bucket, key), key);
  const b = await ctx.services.meta.getBucket(bucket);
  if (!b) throw s3Error('NoSuchBucket', { BucketName: bucket });

  // A commit whose parts changed meanwhile is tried again on the parts as they are then.
  for (let attempt = 0; ; attempt++) {
    const stored = new Map<number, PartRecord>();
    for (const p of await ctx.services.meta.listParts(uploadId, 0, MAX_PART_NUMBER)) stored.set(p.partNumber, p);
    // A completion of the same upload (on this node or another) that committed since the
    // upload was read took its parts with it: answer as for a completed upload, not InvalidPart.
    if (requested.some((r) => !stored.has(r.partNumber)) && !(await ctx.services.meta.getUpload(bucket, key, uploadId))) {
      if (await answerRepeat(ctx, bucket, key, uploadId)) return;
      throw noSuchUpload(uploadId);
    }

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
      sys: withDefaultLock(b, objectSys(upload), nowOf(ctx)),
      owner: upload.owner,
      storageClass: upload.storageClass,
      versionId: versionIdForWrite(b),
    };

    const sse = await completedSse(ctx, upload, chosen);
    if (sse) rec.sys = { ...rec.sys, sse };
    try {
      await ctx.services.meta.completeUpload(uploadId, rec, cond, new Date().toISOString(), await replaceCheck(ctx, bucket, key));
    } catch (e) {
      // A chosen part was uploaded again since the parts were read (its old blob is garbage):
      // choose again from the parts as they are now; a requested ETag that no longer matches is InvalidPart.
      if (e instanceof StorageConflictError && e.kind === 'InvalidPart') {
        if (attempt < 3) continue;
        throw s3Error('InternalError');
      }
      const mapped = await mapWriteConflict(ctx, e, bucket, key, cond);
      // A concurrent request completed the same upload first: answer as it did.
      if (isNoSuchUpload(mapped) && (await answerRepeat(ctx, bucket, key, uploadId))) return;
      throw isNoSuchUpload(mapped) ? noSuchUpload(uploadId) : mapped;
    }
    ctx.services.collectGarbage();
    sendResult(ctx, rec, b, upload.checksumAlgorithm !== undefined);
    return;
  }
}

function sendResult(ctx: S3Context, rec: ObjectRecord, b: BucketRecord, echoChecksum: boolean): void {
  const { checksum } = rec;
  const inner =
    text('Location', location(ctx, rec.bucket, rec.key)) +
    text('Bucket', rec.bucket) +
    text('Key', rec.key) +
    text('ETag', rec.etag) +
    // S3's default checksum (the upload declared none) is not in the answer, only on later reads (aws-recordings).
    (checksum && echoChecksum ? text(checksumElement(checksum.algorithm), checksum.value) + text('ChecksumType', checksum.type) : '');
  sendXml(ctx, 200, xmlDocument('CompleteMultipartUploadResult', inner), { ...sseResponseHeaders(ctx, sseOf(rec.sys)), ...versionHeaders(b, rec), ...expirationHeaders(b, rec) });
}

/**
 * A repeated CompleteMultipartUpload of an upload that already completed (an SDK retrying
 * after a lost response): AWS answers 200 with the first result. Coffer does so for a day
 * (COMPLETED_UPLOAD_RETENTION_MS) while the key still holds the object that upload made,
 * whatever part list the repeat names; false (so NoSuchUpload) otherwise.
 */
async function answerRepeat(ctx: S3Context, bucket: string, key: string, uploadId: string): Promise<boolean> {
  const notBefore = new Date(Date.now() - COMPLETED_UPLOAD_RETENTION_MS).toISOString();
  const done = await ctx.services.meta.getCompletedUpload(bucket, key, uploadId, notBefore);
  if (!done) return false;
  const current = await ctx.services.meta.getObject(bucket, key);
  if (!current || current.etag !== done.etag || current.parts[0]?.blobId !== done.blobId) return false;
  // The upload's declaration is not kept: S3's default (CRC64NVME) is taken as undeclared.
  const b = await ctx.services.meta.getBucket(bucket);
  if (!b) return false;
  sendResult(ctx, current, b, current.checksum !== undefined && current.checksum.algorithm !== 'CRC64NVME');
  return true;
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

/** The upload's lock, or the bucket's default retention when it asked for none. */
function withDefaultLock(b: BucketRecord, sys: Record<string, unknown>, now: number): Record<string, unknown> {
  return sysWithLock(sys, lockForNewVersion(b, lockOf(sys), now));
}
