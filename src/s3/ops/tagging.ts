// Object tagging: GetObjectTagging, PutObjectTagging, DeleteObjectTagging. Tags live in
// the object record and change with updateObject (no blob is touched, the ETag and
// Last-Modified stay). Also the small-XML request reader the ACL ops share.

import { createHash } from 'node:crypto';
import { decodePayload } from '../../auth/chunked.js';
import { checksumHeader, checksumOf } from '../../checksum/index.js';
import { authorizeRequest, requestTagConditions } from '../authorization.js';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { objectTags } from '../object-headers.js';
import { NO_TAGS, type ObjectTags } from '../../storage/object-tags.js';
import { parseIntegrity } from '../object-writer.js';
import { childArray, childObject, childText, el, parseXmlRoot, readSmallBody, text, xmlDocument, type XmlObject } from '../xml.js';

export async function getObjectTagging(ctx: S3Context, bucket: string, key: string): Promise<void> {
  refuseVersionId(ctx);
  const rec = await loadRecord(ctx, bucket, key);
  sendXml(ctx, 200, xmlDocument('Tagging', tagSetXml(rec.tags)));
}

export async function putObjectTagging(ctx: S3Context, bucket: string, key: string): Promise<void> {
  refuseVersionId(ctx);
  await requireBucket(ctx, bucket);
  const body = await readXmlBody(ctx);
  const tags = parseTaggingXml(parseXmlRoot(body, 'Tagging'));
  await authorizeRequest(ctx, requestTagConditions(tags));
  if (!(await ctx.services.meta.updateObject(bucket, key, { tags }))) throw s3Error('NoSuchKey', { Key: key });
  sendEmpty(ctx, 200);
}

export async function deleteObjectTagging(ctx: S3Context, bucket: string, key: string): Promise<void> {
  refuseVersionId(ctx);
  await requireBucket(ctx, bucket);
  if (!(await ctx.services.meta.updateObject(bucket, key, { tags: NO_TAGS }))) throw s3Error('NoSuchKey', { Key: key });
  sendEmpty(ctx, 204);
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

async function loadRecord(ctx: S3Context, bucket: string, key: string) {
  await requireBucket(ctx, bucket);
  const rec = await ctx.services.meta.getObject(bucket, key);
  if (!rec) throw s3Error('NoSuchKey', { Key: key });
  return rec;
}

function refuseVersionId(ctx: S3Context): void {
  const v = ctx.query.get('versionId');
  if (v !== null && v !== 'null') throw s3Error('NotImplemented', {}, 'Object versions are not implemented by Coffer');
}
