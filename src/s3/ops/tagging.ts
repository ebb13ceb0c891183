// Object tagging: GetObjectTagging, PutObjectTagging, DeleteObjectTagging. Tags live in
// the object record (each version its own) and change with updateObject (no blob is
// touched, the ETag and Last-Modified stay). versionId names a version, as in S3. Also the small-XML request reader the ACL ops share.

import { createHash } from 'node:crypto';
import { decodePayload } from '../../auth/chunked.js';
import { checksumHeader, checksumOf } from '../../checksum/index.js';
import { authorizeRequest, requestTagConditions } from '../authorization.js';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { objectTags } from '../object-headers.js';
import { NO_TAGS, type ObjectTags } from '../../storage/object-tags.js';
import type { BucketRecord } from '../../storage/types.js';
import { noSuchVersion, readVersion, requestedVersionId, versionHeaders } from '../versioning.js';
import { parseIntegrity } from '../object-writer.js';
import { childArray, childObject, childText, el, parseXmlRoot, readSmallBody, text, xmlDocument, type XmlObject } from '../xml.js';

export async function getObjectTagging(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  const rec = await readVersion(ctx, b, key, versionId);
  sendXml(ctx, 200, xmlDocument('Tagging', tagSetXml(rec.tags)), versionHeaders(b, rec));
}

export async function putObjectTagging(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  const body = await readXmlBody(ctx);
  const tags = parseTaggingXml(parseXmlRoot(body, 'Tagging'));
  await authorizeRequest(ctx, requestTagConditions(tags));
  await setTags(ctx, b, key, versionId, tags, 200);
}

export async function deleteObjectTagging(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  await setTags(ctx, b, key, versionId, NO_TAGS, 204);
}

/** Sets the tags of the version named (or the current one) and answers with its version id. */
async function setTags(ctx: S3Context, b: BucketRecord, key: string, versionId: string | undefined, tags: ObjectTags, status: number): Promise<void> {
  const rec = await readVersion(ctx, b, key, versionId);
  if (!(await ctx.services.meta.updateObject(b.name, key, { tags }, rec.versionId))) {
    throw versionId === undefined ? s3Error('NoSuchKey', { Key: key }) : noSuchVersion(key, versionId);
  }
  sendEmpty(ctx, status, versionHeaders(b, rec));
}

/** <TagSet><Tag><Key/><Value/></Tag>...</TagSet> */
export function tagSetXml(tags: ObjectTags): string {
  const items = tags.map(([k, v]) => el('Tag', text('Key', k), text('Value', v)));
  return `<TagSet>${items.join('')}</TagSet>`;
}

/** The content of a <Tagging> document (PutObjectTagging's body, PostObject's tagging field), validated. */
export function parseTaggingXml(doc: XmlObject): ObjectTags {
  const tagSet = childObject(doc, 'TagSet');
  if (tagSet === undefined) throw s3Error('MalformedXML');
  return objectTags(tagPairs(childArray(tagSet, 'Tag')));
}

/** Each <Tag>'s key and value, in document order; a tag without both is MalformedXML when reached. */
function* tagPairs(tags: XmlObject[]): Generator<[string, string]> {
  for (const t of tags) {
    const k = childText(t, 'Key');
    const v = childText(t, 'Value');
    if (k === undefined || v === undefined) throw s3Error('MalformedXML');
    yield [k, v];
  }
}

/**
 * Reads a small XML request body through the payload decoder (which checks the signed payload
 * hash) and verifies Content-MD5 and a flexible checksum when the request carries them.
 */
export async function readXmlBody(ctx: S3Context, limit?: number): Promise<Buffer> {
  const h = ctx.req.headers;
  const integrity = parseIntegrity(h);
  const decoded = decodePayload(ctx.req, h, ctx.auth.payload);
  const body = await readSmallBody(decoded.body, limit);
  if (integrity.contentMd5 && !integrity.contentMd5.equals(createHash('md5').update(body).digest())) throw s3Error('BadDigest');
  if (integrity.algorithm) {
    const name = checksumHeader(integrity.algorithm);
    const expected = integrity.inTrailer ? decoded.trailers?.()[name] : integrity.expected;
    if (expected !== undefined && expected !== checksumOf(integrity.algorithm, body).toString('base64')) {
      throw s3Error('BadDigest', {}, `The ${integrity.algorithm} you specified did not match the calculated checksum.`);
    }
  }
  return body;
}
