// Multipart uploads, all but completion (complete-multipart.ts): CreateMultipartUpload,
// UploadPart, UploadPartCopy, AbortMultipartUpload, ListParts, ListMultipartUploads.
// Each part is its own blob, written by the one write path (writeBlob) and made visible
// by meta.putPart; Complete later stitches the chosen parts' blobs into the object.

import { authorizeRequestedLock, nowOf, requestedLock, sysWithLock } from '../object-lock.js';
import { decodePayload } from '../../auth/chunked.js';
import { checksumHeader } from '../../checksum/index.js';
import type { MultipartUploadRecord, PartRecord } from '../../storage/types.js';
import { requireBucket } from '../bucket-access.js';
import { newObjectAcl, sysWithAcl } from '../acl-request.js';
import { COPY_SOURCE_CONDITIONS, checkReadConditions } from '../conditions.js';
import { type S3Context, header, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { checkKey } from '../names.js';
import { parseTaggingHeader, quoteEtag, storageClass, storedHeaders, userMetadata } from '../object-headers.js';
import { parseCopySourceCustomerKey, parseCustomerKey, parseSseHeaders, refuseSseHeaders } from '../sse/request.js';
import { resolveSse } from '../sse/settings.js';
import { checkCustomerKey, etagHex, etagIsMd5, openObject, sseOf, sseResponseHeaders, verifyPartList, wipe, type ObjectKeys } from '../sse/object-keys.js';
import { partKeys, requireSecurePartTransport, sealUpload } from '../sse/multipart-sse.js';
import { BodyEncryptor } from '../sse/body-cipher.js';
import { requireSecureTransport } from '../sse/transport-rule.js';
import { announcedSize, parseIntegrity, refuseAnnouncedOversize, writeBlob, type WrittenBlob } from '../object-writer.js';
import { checksumElement, copyPartAlgorithm, parseUploadChecksum, planPartChecksum } from '../multipart-checksum.js';
import { readersOf, type ReadClaim } from '../../storage/blob-readers.js';
import { copySourceStream, parseCopySourceRange } from '../multipart-copy-source.js';
import { listPartsDocument, listUploadsDocument, pageUploads, parseListUploadsQuery } from '../multipart-listing.js';
import {
  INITIATOR_SYS_KEY,
  MAX_LIST_ENTRIES,
  MAX_PART_SIZE,
  initiatorOf,
  intParam,
  mapUploadConflict,
  newUploadId,
  noSuchUpload,
  parsePartNumber,
  requireUpload,
} from '../multipart-upload.js';
import { text, xmlDocument } from '../xml.js';
import { copySourceVersionHeaders, loadCopySource, parseCopySource } from './copy-object.js';

export async function createMultipartUpload(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const h = ctx.req.headers;
  checkKey(key);
  const sseRequest = parseSseHeaders(h);
  const checksum = parseUploadChecksum(h);
  const b = await requireBucket(ctx, bucket);
  const acl = newObjectAcl(h, b, ctx.owner.id);
  // The lock asked for; the bucket's default applies at completion when none is.
  const lock = requestedLock(h, b, nowOf(ctx));
  await authorizeRequestedLock(ctx, bucket, key, lock);
  const settings = resolveSse(ctx, b, sseRequest);
  requireSecureTransport(ctx, settings);
  const sse = await sealUpload(ctx, settings, bucket, key);
  const upload: MultipartUploadRecord = {
    uploadId: newUploadId(),
    bucket,
    key,
    initiated: new Date().toISOString(),
    owner: ctx.owner.id,
    headers: storedHeaders(h),
    userMetadata: userMetadata(h),
    tags: parseTaggingHeader(header(ctx, 'x-amz-tagging')),
    checksumAlgorithm: checksum.algorithm,
    checksumType: checksum.type,
    sys: sysWithLock(sysWithAcl(sse ? { [INITIATOR_SYS_KEY]: initiatorOf(ctx), sse } : { [INITIATOR_SYS_KEY]: initiatorOf(ctx) }, acl), lock),
    storageClass: storageClass(h),
  };
  try {
    await ctx.services.meta.createUpload(upload);
  } catch (e) {
    throw mapUploadConflict(e, bucket, upload.uploadId);
  }
  const headers: Record<string, string> = sseResponseHeaders(ctx, sseOf(upload.sys), { withContext: true });
  if (checksum.algorithm) {
    headers['x-amz-checksum-algorithm'] = checksum.algorithm;
    headers['x-amz-checksum-type'] = checksum.type!;
  }
  sendXml(ctx, 200, xmlDocument('InitiateMultipartUploadResult', text('Bucket', bucket) + text('Key', key) + text('UploadId', upload.uploadId)), headers);
}

export async function uploadPart(ctx: S3Context, bucket: string, key: string, uploadId: string, partNumber: string): Promise<void> {
  const h = ctx.req.headers;
  const n = parsePartNumber(partNumber);
  if (h['content-length'] === undefined && h['x-amz-decoded-content-length'] === undefined && h['transfer-encoding'] === undefined) {
    throw s3Error('MissingContentLength');
  }
  refuseAnnouncedOversize(h, ctx.res, MAX_PART_SIZE);
  refuseSseHeaders(h);
  const customer = parseCustomerKey(h, '');
  const integrity = parseIntegrity(h);
  const upload = await requireUpload(ctx, bucket, key, uploadId);
  requireSecurePartTransport(ctx, upload, customer);
  const plan = planPartChecksum(upload, integrity, { customerKey: sseOf(upload.sys)?.alg === 'SSE-C' });
  const keys = await partKeys(ctx, upload, customer);

  const decoded = decodePayload(ctx.req, h, ctx.auth.payload);
  let blob;
  try {
    blob = await writeBlob(ctx.services, decoded.body, {
      integrity: plan.integrity,
      maxSize: MAX_PART_SIZE,
      trailers: decoded.trailers,
      defaultAlgorithm: plan.defaultAlgorithm,
      extraAlgorithm: plan.extraAlgorithm,
      announcedSize: announcedSize(h),
      encryptor: keys && new BodyEncryptor(keys, n),
      md5: etagIsMd5(sseOf(upload.sys)),
    });
  } finally {
    wipe(keys);
  }
  // The part keeps the checksum Complete combines (the extra one when computed); the client's is echoed.
  const part = await commitPart(ctx, upload, n, { ...blob, checksum: blob.extra ?? blob.checksum });
  const headers: Record<string, string> = { etag: part.etag, ...sseResponseHeaders(ctx, sseOf(upload.sys)) };
  if (plan.echo && blob.checksum) headers[checksumHeader(blob.checksum.algorithm)] = blob.checksum.digest.toString('base64');
  sendEmpty(ctx, 200, headers);
}

export async function uploadPartCopy(ctx: S3Context, bucket: string, key: string, uploadId: string, partNumber: string): Promise<void> {
  // The source's blobs stay until the copy ends (storage/blob-readers.ts), as for a GET.
  const claim = readersOf(ctx.services.blobs).begin();
  try {
    await uploadPartCopyClaimed(ctx, bucket, key, uploadId, partNumber, claim);
  } finally {
    claim.release();
  }
}

async function uploadPartCopyClaimed(ctx: S3Context, bucket: string, key: string, uploadId: string, partNumber: string, claim: ReadClaim): Promise<void> {
  const h = ctx.req.headers;
  const n = parsePartNumber(partNumber);
  refuseSseHeaders(h);
  const customer = parseCustomerKey(h, '');
  const sourceCustomer = parseCopySourceCustomerKey(h);
  const source = parseCopySource(header(ctx, 'x-amz-copy-source'));
  const upload = await requireUpload(ctx, bucket, key, uploadId);
  requireSecurePartTransport(ctx, upload, customer);
  if (sourceCustomer) requireSecureTransport(ctx, { kind: 'sse-c' });

  const { src, bucket: srcBucket } = await loadCopySource(ctx, source);
  claim.hold(src.parts.map((p) => p.blobId));
  const srcSse = sseOf(src.sys);
  checkCustomerKey(srcSse, sourceCustomer);
  checkReadConditions(h, src, COPY_SOURCE_CONDITIONS, false);
  const range = parseCopySourceRange(header(ctx, 'x-amz-copy-source-range'), src.size);
  const length = range ? range.end - range.start + 1 : src.size;
  if (length > MAX_PART_SIZE) {
    throw s3Error('InvalidRequest', {}, `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_PART_SIZE}`);
  }

  // The part gets its own blob: parts and objects never share blobs, so deleting one cannot free the other's bytes.
  // The source is decrypted as the caller (kms:Decrypt on its key), the part sealed under the upload's key.
  let srcKeys: ObjectKeys | undefined;
  let keys: ObjectKeys | undefined;
  let blob;
  try {
    srcKeys = srcSse ? await openObject(ctx, srcSse, { bucket: source.bucket, key: source.key }, sourceCustomer) : undefined;
    if (srcSse && srcKeys) verifyPartList(ctx, srcSse, srcKeys, src);
    keys = await partKeys(ctx, upload, customer);
    blob = await writeBlob(ctx.services, copySourceStream(ctx, src, range, srcKeys), {
      integrity: { inTrailer: false, algorithm: copyPartAlgorithm(upload) },
      maxSize: MAX_PART_SIZE,
      announcedSize: length,
      encryptor: keys && new BodyEncryptor(keys, n),
      md5: etagIsMd5(sseOf(upload.sys)),
    });
  } finally {
    wipe(srcKeys);
    wipe(keys);
  }
  const part = await commitPart(ctx, upload, n, blob);
  const checksum = upload.checksumAlgorithm && part.checksum !== undefined ? text(checksumElement(upload.checksumAlgorithm), part.checksum) : '';
  sendXml(ctx, 200, xmlDocument('CopyPartResult', text('ETag', part.etag) + text('LastModified', part.lastModified) + checksum), {
    ...sseResponseHeaders(ctx, sseOf(upload.sys)), ...copySourceVersionHeaders(srcBucket, src),
  });
}

async function commitPart(ctx: S3Context, upload: MultipartUploadRecord, partNumber: number, blob: WrittenBlob): Promise<PartRecord> {
  const etag = quoteEtag(etagHex(sseOf(upload.sys), blob.md5));
  const part: PartRecord = {
    uploadId: upload.uploadId,
    partNumber,
    blobId: blob.blobId,
    size: blob.size,
    etag,
    checksum: blob.checksum?.digest.toString('base64'),
    lastModified: new Date().toISOString(),
  };
  try {
    await ctx.services.meta.putPart(part);
  } catch (e) {
    await ctx.services.meta.discardPending(blob.blobId).catch(() => undefined);
    ctx.services.collectGarbage();
    throw mapUploadConflict(e, upload.bucket, upload.uploadId);
  }
  // A part uploaded again under the same number replaced an older blob.
  ctx.services.collectGarbage();
  return part;
}

export async function abortMultipartUpload(ctx: S3Context, bucket: string, key: string, uploadId: string): Promise<void> {
  const removed = await ctx.services.meta.abortUpload(bucket, key, uploadId);
  if (!removed) {
    await requireBucket(ctx, bucket);
    throw noSuchUpload(uploadId);
  }
  ctx.services.collectGarbage();
  sendEmpty(ctx, 204);
}

export async function listParts(ctx: S3Context, bucket: string, key: string, uploadId: string): Promise<void> {
  const maxParts = Math.min(intParam(ctx.query, 'max-parts', MAX_LIST_ENTRIES), MAX_LIST_ENTRIES);
  const marker = intParam(ctx.query, 'part-number-marker', 0);
  const upload = await requireUpload(ctx, bucket, key, uploadId);
  const rows = maxParts === 0 ? [] : await ctx.services.meta.listParts(uploadId, marker, maxParts + 1);
  const truncated = rows.length > maxParts;
  const parts = rows.slice(0, maxParts);
  sendXml(ctx, 200, listPartsDocument({ ctx, upload, parts, marker, maxParts, truncated }));
}

export async function listMultipartUploads(ctx: S3Context, bucket: string): Promise<void> {
  const q = parseListUploadsQuery(ctx.query);
  await requireBucket(ctx, bucket);
  const page = await pageUploads(ctx.services.meta, bucket, q);
  sendXml(ctx, 200, listUploadsDocument(ctx, bucket, q, page));
}
