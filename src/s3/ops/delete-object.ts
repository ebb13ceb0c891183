// DeleteObject and DeleteObjects (quiet mode). Deleting a missing key succeeds, as S3 does,
// unless the request is conditional (If-Match, or an <ETag> per DeleteObjects entry).
// Versions (versioning.ts): a delete naming a version removes it for good (delete markers
// too) and never adds a marker (If-Match still applies, to the current version, as in AWS);
// without one, a versioning-enabled bucket gets a new delete marker, a suspended one a "null"
// delete marker that replaces the null version, and a bucket that never had versioning loses
// the object.
// DeleteObjects is authorized key by key, each as a DeleteObject of that key: a refused key
// is an <Error> entry of a 200 result, as in AWS, and the others are deleted.

import { S3_ACTIONS, actionOf } from '../actions.js';
import { deleteMarkerRecord, isVersionId, requestedVersionId, versionIdForWrite, versioningOf } from '../versioning.js';
import { s3Decider } from '../authorization.js';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import type { IncomingHttpHeaders } from 'node:http';
import { ServiceError } from '../../errors.js';
import { checkDeletable, mayBypassGovernance, nowOf, replaceCheck } from '../object-lock.js';
import { NULL_VERSION_ID, StorageConflictError, type BucketRecord, type ObjectRecord, type WriteCondition } from '../../storage/types.js';
import { notImplemented, s3Error } from '../errors.js';
import { parseIntegrity } from '../object-writer.js';
import { childArray, childText, el, parseXmlRoot, text, xmlDocument } from '../xml.js';
import { readXmlBody } from './tagging.js';
import { MAX_KEY_BYTES } from '../names.js';

export async function deleteObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const cond = deleteCondition(ctx.req.headers);
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  if (versionId !== undefined) {
    const outcome = await deleteVersion(ctx, b, key, versionId, cond);
    if (outcome.failed) throw outcome.failed;
    ctx.services.collectGarbage();
    return sendEmpty(ctx, 204, { 'x-amz-version-id': versionId, ...(outcome.removed?.deleteMarker ? { 'x-amz-delete-marker': 'true' } : {}) });
  }
  const outcome = await conditionalDelete(ctx, b, key, cond);
  if (outcome.failed) throw outcome.failed;
  ctx.services.collectGarbage();
  sendEmpty(ctx, 204, outcome.marker ? { 'x-amz-delete-marker': 'true', 'x-amz-version-id': outcome.marker } : {});
}

export async function deleteObjects(ctx: S3Context, bucket: string): Promise<void> {
  const b = await requireBucket(ctx, bucket);
  // AWS refuses a multi-object delete whose body nothing vouches for: Content-MD5 or a flexible checksum.
  const integrity = parseIntegrity(ctx.req.headers);
  if (!integrity.contentMd5 && integrity.expected === undefined && !integrity.inTrailer) {
    throw s3Error('InvalidRequest', {}, 'Missing required header for this request: Content-MD5');
  }
  // 1,000 keys of up to 1,024 bytes each, with their markup.
  const body = await readXmlBody(ctx, 2 * 1024 * 1024);
  const { quiet, objects } = parseDeleteRequest(body);
  const access = { principal: ctx.auth.anonymous ? undefined : ctx.principal, bucket, transport: ctx.transport, facts: ctx.facts };
  const decide = await s3Decider(ctx.services, { ...access, checks: [{ action: S3_ACTIONS.DeleteObjects }] });
  // A <VersionId> entry is s3:DeleteObjectVersion on that version (its ACL is the bucket's WRITE).
  const decideVersion = await s3Decider(ctx.services, { ...access, checks: [{ action: actionOf('DeleteObjects', 'version') }] });
  const results: string[] = [];
  for (const { key, versionId, etag } of objects) {
    const vid = versionId === undefined ? '' : text('VersionId', versionId);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
      results.push(el('Error', text('Key', key), vid, text('Code', 'KeyTooLongError'), text('Message', 'Your key is too long')));
      continue;
    }
    if (versionId !== undefined && !isVersionId(versionId)) {
      results.push(el('Error', text('Key', key), vid, text('Code', 'NoSuchVersion'), text('Message', 'The specified version does not exist.')));
      continue;
    }
    if (!(await (versionId === undefined ? decide(key) : decideVersion(key, { 's3:versionid': versionId }))).allowed) {
      results.push(el('Error', text('Key', key), vid, text('Code', 'AccessDenied'), text('Message', 'Access Denied')));
      continue;
    }
    try {
      const cond: WriteCondition = etag === undefined ? { kind: 'none' } : { kind: 'ifMatch', etag };
      if (versionId !== undefined) {
        const outcome = await deleteVersion(ctx, b, key, versionId, cond);
        const marker = outcome.removed?.deleteMarker ? text('DeleteMarker', true) + text('DeleteMarkerVersionId', versionId) : '';
        if (outcome.failed) results.push(el('Error', text('Key', key), vid, text('Code', outcome.failed.code), text('Message', outcome.failed.message)));
        else if (!quiet) results.push(el('Deleted', text('Key', key), vid, marker));
        continue;
      }
      const outcome = await conditionalDelete(ctx, b, key, cond);
      const marker = outcome.marker === undefined ? '' : text('DeleteMarker', true) + text('DeleteMarkerVersionId', outcome.marker);
      if (outcome.failed) results.push(el('Error', text('Key', key), text('Code', outcome.failed.code), text('Message', outcome.failed.message)));
      else if (!quiet) results.push(el('Deleted', text('Key', key), marker));
    } catch (e) {
      ctx.services.log.error({ err: e, requestId: ctx.requestId }, 'delete failed');
      results.push(el('Error', text('Key', key), vid, text('Code', 'InternalError'), text('Message', 'We encountered an internal error. Please try again.')));
    }
  }
  ctx.services.collectGarbage();
  sendXml(ctx, 200, xmlDocument('DeleteResult', results.join('')));
}

/**
 * Deletes the key, under an If-Match condition when given (checked in the delete's own
 * transaction: a concurrent writer cannot slip between): in a bucket that has had versioning,
 * by writing a delete marker, whose version id it returns. `failed` is the error a failed
 * condition answers (conditionFailure), or object lock's AccessDenied when a null delete marker
 * would replace a locked null version.
 */
async function conditionalDelete(ctx: S3Context, b: BucketRecord, key: string, cond: WriteCondition): Promise<{ failed?: ServiceError; marker?: string }> {
  try {
    if (versioningOf(b) === undefined) {
      // The null version, checked against object lock in the removing transaction: versioning and
      // object lock may have been turned on, and the version locked, since `b` was read.
      await ctx.services.meta.deleteObjectVersion(b.name, key, NULL_VERSION_ID, lockCheck(nowOf(ctx), await mayBypassGovernance(ctx, b.name, key)), cond);
      return {};
    }
    const marker = deleteMarkerRecord(b.name, key, versionIdForWrite(b), ctx.owner.id);
    await ctx.services.meta.putObject(marker, cond, await replaceCheck(ctx, b.name, key));
    return { marker: marker.versionId! };
  } catch (e) {
    return { failed: await conditionFailure(ctx, b, key, e) };
  }
}

/**
 * Removes one version for good (DeleteObject or a DeleteObjects entry with a version id). Object
 * lock is checked in the removing transaction, against the version as it is then; so is If-Match,
 * which AWS evaluates against the key's current version ("conditional delete evaluations only
 * apply to the current version of the object"), whichever version is named.
 */
async function deleteVersion(ctx: S3Context, b: BucketRecord, key: string, versionId: string, cond: WriteCondition): Promise<{ failed?: ServiceError; removed?: ObjectRecord }> {
  // Always checked, not only when `b` has object lock: it may have been turned on (and the version
  // locked) since `b` was read; a version without a lock passes.
  const check = lockCheck(nowOf(ctx), await mayBypassGovernance(ctx, b.name, key));
  try {
    return { removed: await ctx.services.meta.deleteObjectVersion(b.name, key, versionId, check, cond) };
  } catch (e) {
    return { failed: await conditionFailure(ctx, b, key, e) };
  }
}

/**
 * The answer of a delete that failed with `e`: a failed If-Match is 404 NoSuchKey when the key has
 * no current object, 412 PreconditionFailed when its ETag differs; an S3 error (object lock) is
 * itself; anything else is rethrown.
 */
async function conditionFailure(ctx: S3Context, b: BucketRecord, key: string, e: unknown): Promise<ServiceError> {
  if (e instanceof ServiceError) return e;
  if (!(e instanceof StorageConflictError && e.kind === 'PreconditionFailed')) throw e;
  const current = await ctx.services.meta.getObject(b.name, key);
  return current ? s3Error('PreconditionFailed', { Condition: 'If-Match' }) : s3Error('NoSuchKey', { Key: key });
}

/**
 * DeleteObject's conditions on a general purpose bucket: If-Match with one ETag or "*". The size
 * and last-modified conditions are directory-bucket features in AWS; Coffer refuses them rather than ignore them.
 */
function deleteCondition(h: IncomingHttpHeaders): WriteCondition {
  if (h['x-amz-if-match-size'] !== undefined) throw notImplemented('The x-amz-if-match-size condition (directory buckets only in AWS)');
  if (h['x-amz-if-match-last-modified-time'] !== undefined) throw notImplemented('The x-amz-if-match-last-modified-time condition (directory buckets only in AWS)');
  const ifMatch = h['if-match'];
  if (typeof ifMatch !== 'string') return { kind: 'none' };
  const list = ifMatch.split(',').map((e) => e.trim()).filter(Boolean);
  if (list.length !== 1) throw notImplemented('If-Match with more than one ETag');
  return { kind: 'ifMatch', etag: list[0]! };
}

export interface DeleteRequest {
  quiet: boolean;
  objects: { key: string; versionId?: string; etag?: string }[];
}

/** DeleteObjects' body: 1 to 1000 <Object> entries, each with a <Key>; MalformedXML otherwise. */
export function parseDeleteRequest(body: Buffer): DeleteRequest {
  const doc = parseXmlRoot(body, 'Delete');
  const quiet = childText(doc, 'Quiet') === 'true';
  const entries = childArray(doc, 'Object');
  if (entries.length === 0) throw s3Error('MalformedXML');
  if (entries.length > 1000) throw s3Error('MalformedXML', {}, 'The XML you provided was not well-formed or did not validate against our published schema');
  const objects = entries.map((o) => {
    const key = childText(o, 'Key');
    if (key === undefined) throw s3Error('MalformedXML');
    const versionId = childText(o, 'VersionId');
    const etag = childText(o, 'ETag');
    if (childText(o, 'Size') !== undefined || childText(o, 'LastModifiedTime') !== undefined) {
      throw notImplemented('Size and LastModifiedTime delete conditions (directory buckets only in AWS)');
    }
    return { key, ...(versionId === undefined ? {} : { versionId }), ...(etag === undefined ? {} : { etag }) };
  });
  return { quiet, objects };
}

/** The storage-side check of a delete by version id in a bucket with object lock. */
function lockCheck(now: number, bypass: boolean): (rec: ObjectRecord) => void {
  return (rec) => checkDeletable(rec, now, bypass);
}
