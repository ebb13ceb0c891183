// CopyObject: resolve x-amz-copy-source, check the copy-source preconditions, decide
// headers, metadata and tags from the directives, then either
//   - rewrite the record in place (copy onto itself with REPLACE or a new storage
//     class): the new record references the same blobs, no byte is rewritten, or
//   - stream the source through writeBlob into a new blob and commit a new record
//     (the copy is always a single-part object with an MD5 ETag, as on AWS).

import { authorizeRequestedLock, lockForNewVersion, nowOf, replaceCheck, requestedLock, sysWithLock } from '../object-lock.js';
import type { IncomingHttpHeaders } from 'node:http';
import { checksumHeader, parseAlgorithm } from '../../checksum/index.js';
import { StorageConflictError, type BucketRecord, type ChecksumAlgorithm, type ObjectRecord, type WriteCondition } from '../../storage/types.js';
import { isVersionId, noSuchVersion, versionHeaders, versionIdForWrite } from '../versioning.js';
import { expirationHeaders } from '../lifecycle/expiration-header.js';
import { requireBucket } from '../bucket-access.js';
import { authorizeS3 } from '../authorization.js';
import { newObjectAcl, sysWithAcl } from '../acl-request.js';
import { COPY_SOURCE_CONDITIONS, checkReadConditions, checkWriteCondition, writeCondition } from '../conditions.js';
import { type S3Context, header, sendXml } from '../context.js';
import { invalidArgument, s3Error } from '../errors.js';
import { checkKey } from '../names.js';
import {
  checkTaggingDirective, parseTaggingHeader, quoteEtag, storageClass, storedHeaders, userMetadata,
} from '../object-headers.js';
import { parseCopySourceCustomerKey, parseSseHeaders } from '../sse/request.js';
import { resolveSse, type SseSettings } from '../sse/settings.js';
import { checkCustomerKey, etagHex, etagIsMd5, openObject, sealObject, sseOf, sseResponseHeaders, verifyPartList, wipe, type StoredSse } from '../sse/object-keys.js';
import { BodyEncryptor } from '../sse/body-cipher.js';
import { requireSecureTransport } from '../sse/transport-rule.js';
import { readersOf, type ReadClaim } from '../../storage/blob-readers.js';
import { copySourceStream } from '../multipart-copy-source.js';
import { storedChecksumOf } from '../checksums.js';
import { DEFAULT_ALGORITHM } from '../multipart-checksum.js';
import { BUCKET_ENCRYPTION_ITEM } from '../sse/bucket-default.js';
import { writeBlob } from '../object-writer.js';
import { text, xmlDocument } from '../xml.js';
import { commitObject, mapWriteConflict } from './put-object.js';

/** S3's limit for a CopyObject source (larger objects are copied with UploadPartCopy). */
export const MAX_COPY_SOURCE_SIZE = 5 * 1024 ** 3;

const WEBSITE_REDIRECT = 'x-amz-website-redirect-location';

export interface CopySource {
  bucket: string;
  key: string;
  /** ?versionId= of x-amz-copy-source: the version to copy (the current one when absent). */
  versionId?: string;
}

/** Parses x-amz-copy-source: "/bucket/key" or "bucket/key", URL-encoded, optionally "?versionId=". */
export function parseCopySource(raw: string | undefined): CopySource {
  if (raw === undefined || raw === '') throw invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', raw ?? '');
  let path = raw;
  let versionId: string | undefined;
  const q = raw.indexOf('?');
  if (q >= 0) {
    path = raw.slice(0, q);
    versionId = new URLSearchParams(raw.slice(q + 1)).get('versionId') ?? undefined;
    if (versionId !== undefined && !isVersionId(versionId)) throw invalidArgument('Invalid version id specified', 'x-amz-copy-source', raw);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw invalidArgument('Invalid copy source encoding.', 'x-amz-copy-source', raw);
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw invalidArgument('Invalid copy source object key', 'x-amz-copy-source', raw);
  }
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), ...(versionId === undefined ? {} : { versionId }) };
}

/**
 * The record a copy reads: the source's current version or the one its versionId names.
 * NoSuchBucket, NoSuchKey (also behind a current delete marker), NoSuchVersion; a delete
 * marker named by id is InvalidRequest, as in S3.
 */
export async function loadCopySource(ctx: S3Context, source: CopySource): Promise<{ src: ObjectRecord; bucket: BucketRecord }> {
  // A copy reads its source: s3:GetObject on it (s3:GetObjectVersion for a named version), as
  // in AWS, decided before its existence is revealed (the request itself was authorized for
  // the destination only).
  await authorizeS3(ctx.services, {
    principal: ctx.auth.anonymous ? undefined : ctx.principal,
    bucket: source.bucket,
    key: source.key,
    versionId: source.versionId,
    transport: ctx.transport,
    facts: ctx.facts,
    checks: [source.versionId === undefined
      ? { action: 's3:GetObject', existingObjectTags: true }
      : { action: 's3:GetObjectVersion', conditions: { 's3:versionid': source.versionId }, existingObjectTags: true }],
  });
  const b = await ctx.services.meta.getBucket(source.bucket);
  if (!b) throw s3Error('NoSuchBucket', { BucketName: source.bucket });
  const src = await ctx.services.meta.getObjectVersion(source.bucket, source.key, source.versionId);
  if (!src || (src.deleteMarker && source.versionId === undefined)) {
    throw source.versionId === undefined ? s3Error('NoSuchKey', { Key: source.key }) : noSuchVersion(source.key, source.versionId);
  }
  if (src.deleteMarker) throw s3Error('InvalidRequest', {}, 'The source of a copy request may not specifically refer to a delete marker by version id.');
  return { src, bucket: b };
}

/** x-amz-copy-source-version-id: the version copied, once the source bucket has had versioning (as x-amz-version-id). */
export function copySourceVersionHeaders(b: BucketRecord, src: ObjectRecord): Record<string, string> {
  const h = versionHeaders(b, src);
  return h['x-amz-version-id'] === undefined ? {} : { 'x-amz-copy-source-version-id': h['x-amz-version-id'] };
}

function metadataDirective(v: string | undefined): 'COPY' | 'REPLACE' {
  if (v === undefined || v === 'COPY') return 'COPY';
  if (v === 'REPLACE') return 'REPLACE';
  throw invalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', v);
}

/** The stored headers of the copy when the metadata directive is COPY: the source's, except its website redirect (never copied). */
function copiedHeaders(src: ObjectRecord, h: IncomingHttpHeaders): Record<string, string> {
  const out = { ...src.headers };
  delete out[WEBSITE_REDIRECT];
  const redirect = h[WEBSITE_REDIRECT];
  if (typeof redirect === 'string') out[WEBSITE_REDIRECT] = redirect;
  return out;
}

export async function copyObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  // The source's blobs stay until the copy ends, whatever an overwrite or delete of the
  // source commits meanwhile (storage/blob-readers.ts), as for a GET.
  const claim = readersOf(ctx.services.blobs).begin();
  try {
    await copyClaimed(ctx, bucket, key, claim);
  } finally {
    claim.release();
  }
}

async function copyClaimed(ctx: S3Context, bucket: string, key: string, claim: ReadClaim): Promise<void> {
  const h = ctx.req.headers;
  checkKey(key);
  const source = parseCopySource(header(ctx, 'x-amz-copy-source'));
  const sseRequest = parseSseHeaders(h);
  const sourceCustomer = parseCopySourceCustomerKey(h);
  const metaDirective = metadataDirective(header(ctx, 'x-amz-metadata-directive'));
  const tagDirective = checkTaggingDirective(header(ctx, 'x-amz-tagging-directive'));
  const replacedTags = tagDirective === 'REPLACE' ? parseTaggingHeader(header(ctx, 'x-amz-tagging')) : undefined;
  const replaced = metaDirective === 'REPLACE' ? { headers: storedHeaders(h), userMetadata: userMetadata(h) } : undefined;
  const requestedClass = h['x-amz-storage-class'] !== undefined ? storageClass(h) : undefined;
  const algorithm = parseAlgorithm(header(ctx, 'x-amz-checksum-algorithm'));
  const cond = writeCondition(h);

  const dest = await requireBucket(ctx, bucket);
  const acl = newObjectAcl(h, dest, ctx.owner.id); // a copy gets the ACL of its request, never its source's
  const now = nowOf(ctx);
  const requested = requestedLock(h, dest, now);
  await authorizeRequestedLock(ctx, bucket, key, requested);
  const lock = lockForNewVersion(dest, requested, now);
  const settings = resolveSse(ctx, dest, sseRequest);
  if (cond.kind !== 'none') checkWriteCondition(cond, await ctx.services.meta.getObject(bucket, key), key);
  // A bucket with a default encryption configuration of its own re-encrypts an object copied
  // onto itself, so AWS allows that copy without other changes (aws-recordings: copy in place with bucket encryption).
  const configuredDefault = dest.config[BUCKET_ENCRYPTION_ITEM] !== undefined;
  requireSecureTransport(ctx, settings);
  if (sourceCustomer) requireSecureTransport(ctx, { kind: 'sse-c' });
  // A copy onto itself can race with a writer of that key; its in-place record is then retried on the new source.
  for (let attempt = 0; ; attempt++) {
    const { src, bucket: srcBucket } = await loadCopySource(ctx, source);
    claim.hold(src.parts.map((p) => p.blobId)); // once: a retry only commits in place, reading no bytes
    const srcSse = sseOf(src.sys);
    checkCustomerKey(srcSse, sourceCustomer);
    checkReadConditions(h, src, COPY_SOURCE_CONDITIONS, false);
    if (src.size > MAX_COPY_SOURCE_SIZE) {
      throw s3Error('InvalidRequest', {}, `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_COPY_SOURCE_SIZE}`);
    }

    const rec: ObjectRecord = {
      bucket,
      key,
      size: src.size,
      etag: src.etag,
      lastModified: new Date().toISOString(),
      headers: replaced ? replaced.headers : copiedHeaders(src, h),
      userMetadata: replaced ? replaced.userMetadata : { ...src.userMetadata },
      tags: replacedTags ?? src.tags,
      checksum: src.checksum,
      parts: src.parts,
      // The source's lock is not copied: the copy gets the request's, or the destination's default.
    sys: sysWithLock(sysWithAcl({ ...src.sys }, acl), lock),
      owner: ctx.owner.id,
      storageClass: requestedClass ?? 'STANDARD',
      versionId: versionIdForWrite(dest),
    };
    const versions = { ...copySourceVersionHeaders(srcBucket, src), ...versionHeaders(dest, rec), ...expirationHeaders(dest, rec) };

    // Onto itself: the source is the key's current version (an older version copied over it is a full copy).
    const sameObject = source.bucket === bucket && source.key === key &&
      (source.versionId === undefined || source.versionId === (await ctx.services.meta.getObject(bucket, key))?.versionId);
    const newAlgorithm = algorithm !== undefined && algorithm !== src.checksum?.algorithm;
    // Encryption changes when the request names one, or the destination's default differs from the source's.
    const encryptionChange = sseRequest.algorithm !== undefined || sseRequest.customer !== undefined || !sameEncryption(srcSse, settings);
    const changes = metaDirective === 'REPLACE' || h[WEBSITE_REDIRECT] !== undefined || (requestedClass !== undefined && requestedClass !== src.storageClass);
    // Without other changes, a configured default re-encrypts: the full copy below.
    if (sameObject && !newAlgorithm && !encryptionChange && (changes || !configuredDefault)) {
      if (!changes) {
        throw s3Error('InvalidRequest', {}, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
      }
      if (await commitInPlace(ctx, rec, src, cond)) return sendResult(ctx, rec, versions);
      if (attempt < 3) continue;
      throw s3Error('ConditionalRequestConflict');
    }

    // Decrypt the source as the caller (kms:Decrypt on its key), seal the copy under the destination's settings.
    const srcKeys = srcSse ? await openObject(ctx, srcSse, { bucket: source.bucket, key: source.key }, sourceCustomer) : undefined;
    let blob;
    let sealed;
    try {
      if (srcSse && srcKeys) verifyPartList(ctx, srcSse, srcKeys, src);
      sealed = await sealObject(ctx, settings, bucket, key);
      blob = await writeBlob(ctx.services, copySourceStream(ctx, src, undefined, srcKeys), {
        integrity: { inTrailer: false, algorithm: algorithm ?? src.checksum?.algorithm },
        defaultAlgorithm: DEFAULT_ALGORITHM,
        maxSize: ctx.services.config.maxObjectSize,
        announcedSize: src.size,
        encryptor: sealed && new BodyEncryptor(sealed.keys, 0),
        md5: etagIsMd5(sealed?.sse),
      });
    } finally {
      wipe(srcKeys);
      wipe(sealed?.keys);
    }
    rec.sys = sysWithLock(sysWithAcl(sealed ? { sse: sealed.sse } : {}, acl), lock);
    const etag = quoteEtag(etagHex(sealed?.sse, blob.md5));
    rec.size = blob.size;
    rec.etag = etag;
    rec.checksum = storedChecksumOf(blob);
    rec.parts = [{ blobId: blob.blobId, size: blob.size, partNumber: 0, etag, checksum: blob.checksum?.digest.toString('base64') }];
    rec.lastModified = new Date().toISOString();
    await commitObject(ctx, rec, cond);
    return sendResult(ctx, rec, versions);
  }
}

/**
 * Commits a record that shares the source's blobs. The source's ETag guards the commit (unless the
 * client gave its own condition) so a concurrent overwrite, whose commit moved those blobs to garbage,
 * is noticed: false means "retry". Never discards pending marks: these blobs belong to a live record.
 */
async function commitInPlace(ctx: S3Context, rec: ObjectRecord, src: ObjectRecord, cond: WriteCondition): Promise<boolean> {
  const guard: WriteCondition = cond.kind === 'none' ? { kind: 'ifMatch', etag: src.etag } : cond;
  try {
    await ctx.services.meta.putObject(rec, guard, await replaceCheck(ctx, rec.bucket, rec.key));
  } catch (e) {
    if (cond.kind === 'none' && e instanceof StorageConflictError && e.kind === 'PreconditionFailed') return false;
    throw await mapWriteConflict(ctx, e, rec.bucket, rec.key, cond);
  }
  // The same blobs stay referenced, so nothing became garbage; a reused part list cannot be torn.
  return true;
}

function sendResult(ctx: S3Context, rec: ObjectRecord, versions: Record<string, string>): void {
  const inner =
    text('ETag', rec.etag) +
    text('LastModified', rec.lastModified) +
    (rec.checksum ? text('ChecksumType', rec.checksum.type) + text(checksumElement(rec.checksum.algorithm), rec.checksum.value) : '');
  sendXml(ctx, 200, xmlDocument('CopyObjectResult', inner), { ...sseResponseHeaders(ctx, sseOf(rec.sys), { withContext: true }), ...versions });
}

/** Whether a copy under `settings` would be encrypted the way the source is (only then can it share the source's bytes). */
function sameEncryption(src: StoredSse | undefined, settings: SseSettings): boolean {
  if (!src) return settings.kind === 'none';
  if (settings.kind === 'sse-s3') return src.alg === 'AES256';
  return false;
}

/** ChecksumCRC32, ChecksumCRC64NVME ... from the algorithm. */
export function checksumElement(alg: ChecksumAlgorithm): string {
  return 'Checksum' + checksumHeader(alg).slice('x-amz-checksum-'.length).toUpperCase();
}
