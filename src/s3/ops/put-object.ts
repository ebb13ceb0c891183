// PutObject: stream the body once into a new blob (digests on the way), then commit
// the object record in one transaction that also checks conditional-write headers.

import { decodePayload } from '../../auth/chunked.js';
import { StorageConflictError, type ObjectRecord } from '../../storage/types.js';
import { requireBucket } from '../bucket-access.js';
import { newObjectAcl, sysWithAcl } from '../acl-request.js';
import { checkWriteCondition, writeCondition } from '../conditions.js';
import { type S3Context, header, sendEmpty } from '../context.js';
import { s3Error } from '../errors.js';
import { checkKey } from '../names.js';
import { parseTaggingHeader, quoteEtag, storageClass, storedHeaders, userMetadata } from '../object-headers.js';
import { parseSseHeaders } from '../sse/request.js';
import { resolveSse } from '../sse/settings.js';
import { etagHex, etagIsMd5, sealObject, sseResponseHeaders, wipe } from '../sse/object-keys.js';
import { BodyEncryptor } from '../sse/body-cipher.js';
import { requireSecureTransport } from '../sse/transport-rule.js';
import { checksumResponseHeaders, storedChecksumOf } from '../checksums.js';
import { DEFAULT_ALGORITHM } from '../multipart-checksum.js';
import { versionHeaders, versionIdForWrite } from '../versioning.js';
import { expirationHeaders } from '../lifecycle/expiration-header.js';
import { authorizeRequestedLock, lockForNewVersion, nowOf, replaceCheck, requestedLock, sysWithLock } from '../object-lock.js';
import { announcedSize, parseIntegrity, refuseAnnouncedOversize, writeBlob } from '../object-writer.js';

export async function putObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const h = ctx.req.headers;
  checkKey(key);
  if (h['content-length'] === undefined && h['x-amz-decoded-content-length'] === undefined && h['transfer-encoding'] === undefined) {
    throw s3Error('MissingContentLength');
  }
  refuseAnnouncedOversize(h, ctx.res, ctx.services.config.maxObjectSize);
  const sseRequest = parseSseHeaders(h);
  const cond = writeCondition(h);
  const integrity = parseIntegrity(h);
  const partial = {
    headers: storedHeaders(h),
    userMetadata: userMetadata(h),
    tags: parseTaggingHeader(header(ctx, 'x-amz-tagging')),
    storageClass: storageClass(h),
  };
  const b = await requireBucket(ctx, bucket);
  if (cond.kind !== 'none') checkWriteCondition(cond, await ctx.services.meta.getObject(bucket, key), key);
  const acl = newObjectAcl(h, b, ctx.owner.id);
  const now = nowOf(ctx);
  const requested = requestedLock(h, b, now, { vouched: true });
  await authorizeRequestedLock(ctx, bucket, key, requested);
  const lock = lockForNewVersion(b, requested, now);
  const settings = resolveSse(ctx, b, sseRequest);
  requireSecureTransport(ctx, settings);
  const sealed = await sealObject(ctx, settings, bucket, key);

  const decoded = decodePayload(ctx.req, h, ctx.auth.payload);
  let blob;
  try {
    blob = await writeBlob(ctx.services, decoded.body, {
      integrity,
      maxSize: ctx.services.config.maxObjectSize,
      trailers: decoded.trailers,
      defaultAlgorithm: DEFAULT_ALGORITHM,
      announcedSize: announcedSize(h),
      encryptor: sealed && new BodyEncryptor(sealed.keys, 0),
      md5: etagIsMd5(sealed?.sse),
    });
  } finally {
    wipe(sealed?.keys);
  }
  const etag = quoteEtag(etagHex(sealed?.sse, blob.md5));
  const rec: ObjectRecord = {
    bucket,
    key,
    size: blob.size,
    etag,
    lastModified: new Date().toISOString(),
    ...partial,
    checksum: storedChecksumOf(blob),
    parts: [{ blobId: blob.blobId, size: blob.size, partNumber: 0, etag, checksum: blob.checksum?.digest.toString('base64') }],
    sys: sysWithLock(sysWithAcl(sealed ? { sse: sealed.sse } : {}, acl), lock),
    owner: ctx.owner.id,
    versionId: versionIdForWrite(b),
  };
  await commitObject(ctx, rec, cond);
  sendEmpty(ctx, 200, {
    etag: rec.etag, ...checksumResponseHeaders(rec), ...sseResponseHeaders(ctx, sealed?.sse, { withContext: true }), ...versionHeaders(b, rec), ...expirationHeaders(b, rec),
  });
}

/**
 * Commits a new current object (a new version in a versioned bucket), mapping storage conflicts to
 * S3 errors, and frees what it replaced; a locked version it would replace refuses it (object-lock.ts replaceCheck).
 */
export async function commitObject(ctx: S3Context, rec: ObjectRecord, cond: ReturnType<typeof writeCondition>): Promise<void> {
  let replaced: ObjectRecord | undefined;
  try {
    replaced = await ctx.services.meta.putObject(rec, cond, await replaceCheck(ctx, rec.bucket, rec.key));
  } catch (e) {
    await ctx.services.meta.discardPending(rec.parts[0]!.blobId).catch(() => undefined);
    ctx.services.collectGarbage();
    throw await mapWriteConflict(ctx, e, rec.bucket, rec.key, cond);
  }
  // Only a replaced version leaves garbage (a new one or a version moved to noncurrent leave
  // none): a collection after every PUT is a query each (on PostgreSQL a round trip) for nothing.
  if (replaced !== undefined) ctx.services.collectGarbage();
}

export async function mapWriteConflict(ctx: S3Context, e: unknown, bucket: string, key: string, cond: ReturnType<typeof writeCondition>): Promise<unknown> {
  if (!(e instanceof StorageConflictError)) return e;
  if (e.kind === 'NoSuchBucket') return s3Error('NoSuchBucket', { BucketName: bucket });
  // Every conditional writer checked its condition on arrival (checkWriteCondition): failing at
  // the commit means a concurrent write changed the key since, which AWS answers 409.
  if (e.kind === 'PreconditionFailed') return cond.kind === 'none' ? e : s3Error('ConditionalRequestConflict');
  if (e.kind === 'NoSuchUpload') return s3Error('NoSuchUpload');
  return e;
}
