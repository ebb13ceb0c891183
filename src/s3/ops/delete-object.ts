// DeleteObject and DeleteObjects (quiet mode). Deleting a missing key succeeds, as S3 does.

import { createHash } from 'node:crypto';
import { requireBucket } from '../bucket-access.js';
import { type S3Context, header, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { childArray, childText, el, parseXmlRoot, readSmallBody, text, xmlDocument } from '../xml.js';
import { decodePayload } from '../../auth/chunked.js';
import { MAX_KEY_BYTES } from '../names.js';

export async function deleteObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const versionId = ctx.query.get('versionId');
  if (versionId !== null && versionId !== 'null') throw s3Error('NotImplemented', {}, 'Object versions are not implemented by Coffer');
  await ctx.services.meta.deleteObject(bucket, key);
  ctx.services.collectGarbage();
  sendEmpty(ctx, 204);
}

export async function deleteObjects(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  const decoded = decodePayload(ctx.req, ctx.req.headers, ctx.auth.payload);
  const body = await readSmallBody(decoded.body, 2 * 1024 * 1024);
  const md5 = header(ctx, 'content-md5');
  if (md5 !== undefined && createHash('md5').update(body).digest('base64') !== md5) throw s3Error('BadDigest');
  const { quiet, objects } = parseDeleteRequest(body);
  const results: string[] = [];
  for (const { key, versionId } of objects) {
    if (versionId !== undefined && versionId !== 'null') {
      results.push(el('Error', text('Key', key), text('VersionId', versionId), text('Code', 'NotImplemented'), text('Message', 'Object versions are not implemented by Coffer')));
      continue;
    }
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
      results.push(el('Error', text('Key', key), text('Code', 'KeyTooLongError'), text('Message', 'Your key is too long')));
      continue;
    }
    try {
      await ctx.services.meta.deleteObject(bucket, key);
      if (!quiet) results.push(el('Deleted', text('Key', key)));
    } catch (e) {
      ctx.services.log.error({ err: e, requestId: ctx.requestId }, 'delete failed');
      results.push(el('Error', text('Key', key), text('Code', 'InternalError'), text('Message', 'We encountered an internal error. Please try again.')));
    }
  }
  ctx.services.collectGarbage();
  sendXml(ctx, 200, xmlDocument('DeleteResult', results.join('')));
}

export interface DeleteRequest {
  quiet: boolean;
  objects: { key: string; versionId?: string }[];
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
    return versionId === undefined ? { key } : { key, versionId };
  });
  return { quiet, objects };
}
