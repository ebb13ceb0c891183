// PostObject: browser form uploads. The request is anonymous at the auth layer; the
// form carries its own authorization, a signed policy document:
//   1. parse the form up to the file part (fields, lower-cased names),
//   2. key = field "key" with ${filename} replaced,
//   3. verify the policy signature and expiry (AccessDenied otherwise),
//   4. check every policy condition against the fields,
//   5. stream the file through writeBlob, never beyond the policy's content-length-range
//      maximum, then check its minimum,
//   6. commit the object with headers, metadata and tags taken from the fields,
//   7. answer per success_action_redirect / success_action_status.

import type { IncomingHttpHeaders } from 'node:http';
import { checkContentLengthRange, checkPostPolicyConditions, verifyPostPolicy } from '../../auth/post-policy.js';
import { isSigV2Form, verifyPostPolicyV2, withoutSigV2Fields } from '../../auth/post-policy-v2.js';
import { parseFormUpload } from '../multipart-form.js';
import type { ObjectRecord } from '../../storage/types.js';
import { checksumResponseHeaders, storedChecksumOf } from '../checksums.js';
import { DEFAULT_ALGORITHM } from '../multipart-checksum.js';
import { requireBucket } from '../bucket-access.js';
import { versionHeaders, versionIdForWrite } from '../versioning.js';
import { authorizeRequestedLock, lockForNewVersion, nowOf, requestedLock, sysWithLock } from '../object-lock.js';
import { newObjectAcl, sysWithAcl } from '../acl-request.js';
import { type S3Context, header, sendEmpty, sendXml } from '../context.js';
import { invalidArgument, s3Error } from '../errors.js';
import { checkKey } from '../names.js';
import { quoteEtag, storageClass, storedHeaders, userMetadata } from '../object-headers.js';
import { parseSseHeaders } from '../sse/request.js';
import { authorizeS3, newObjectConditions, requestTagConditions, sseConditions } from '../authorization.js';
import { postFacts } from '../../http/request-facts.js';
import { S3_ACTIONS } from '../actions.js';
import { resolveSse } from '../sse/settings.js';
import { etagHex, etagIsMd5, sealObject, sseResponseHeaders, sseOf, wipe } from '../sse/object-keys.js';
import { BodyEncryptor } from '../sse/body-cipher.js';
import { requireSecureTransport } from '../sse/transport-rule.js';
import { parseIntegrity, writeBlob } from '../object-writer.js';
import { parseXmlRoot, text, xmlDocument } from '../xml.js';
import { commitObject } from './put-object.js';
import { parseTaggingXml } from './tagging.js';
import { NO_TAGS } from '../../storage/object-tags.js';
import { setOwn } from '../../records.js';

const INTEGRITY_FIELDS = ['content-md5', 'x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-crc64nvme', 'x-amz-checksum-sha1', 'x-amz-checksum-sha256', 'x-amz-checksum-algorithm'];

export async function postObject(ctx: S3Context, bucket: string): Promise<void> {
  try {
    await upload(ctx, bucket);
  } catch (e) {
    // The form parser leaves an unread rest of the body paused; drain it so the connection can answer and be reused.
    ctx.req.resume();
    throw e;
  }
}

async function upload(ctx: S3Context, bucket: string): Promise<void> {
  const contentType = header(ctx, 'content-type') ?? '';
  if (!/^multipart\/form-data/i.test(contentType.trim())) {
    throw s3Error('PreconditionFailed', { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' }, 'At least one of the pre-conditions you specified did not hold');
  }
  const form = await parseFormUpload(ctx.req, contentType);
  const { fields } = form;
  const rawKey = fields['key'];
  if (rawKey === undefined) {
    throw invalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", 'key', '');
  }
  const key = rawKey.replaceAll('${filename}', form.fileName);
  if (key === '') throw invalidArgument('User key must have a length greater than 0.', 'key', '');
  checkKey(key);

  const services = ctx.services;
  const v2 = services.config.sigv2 && isSigV2Form(fields);
  await services.prepareCredential(v2 ? fields['awsaccesskeyid'] : fields['x-amz-credential']?.split('/')[0]);
  const { policy, credential } = v2
    ? verifyPostPolicyV2(fields, { lookup: services.lookup })
    : await verifyPostPolicy(fields, { region: services.config.region, lookup: services.lookup, bucket });
  // The policy's signer is the principal: it needs s3:PutObject on the key (identity and
  // bucket policies, as a PUT would), and S3 uses KMS on its behalf.
  ctx.principal = credential.principal;
  ctx.facts = postFacts(ctx.req, v2);
  // Its SSE, tagging, ACL, storage class and lock condition keys come from the form's fields, as a PUT's come from headers.
  const tags = fields['tagging'] !== undefined ? parseTaggingXml(parseXmlRoot(Buffer.from(fields['tagging'], 'utf8'), 'Tagging')) : NO_TAGS;
  const h = fieldHeaders(fields);
  const fromForm = (name: string) => single(h[name]);
  await authorizeS3(services, {
    principal: credential.principal,
    bucket,
    key,
    transport: ctx.transport,
    facts: ctx.facts,
    checks: [{
      action: S3_ACTIONS.PostObject,
      conditions: {
        ...sseConditions(fields), ...newObjectConditions(fromForm, nowOf(ctx)), ...(fields['tagging'] !== undefined ? requestTagConditions(tags) : {}),
        's3:ObjectCreationOperation': 'true',
      },
    }],
  });
  const b = await requireBucket(ctx, bucket);
  checkPostPolicyConditions(policy, v2 ? withoutSigV2Fields(fields) : fields, bucket, key);

  const settings = resolveSse(ctx, b, parseSseHeaders(h));
  requireSecureTransport(ctx, settings);
  const acl = newObjectAcl(h, b, ctx.owner.id);
  const now = nowOf(ctx);
  // The x-amz-object-lock-* form fields, as PutObject's headers (checked against the bucket), else its default retention.
  const requested = requestedLock(h, b, now);
  await authorizeRequestedLock(ctx, bucket, key, requested, credential.principal); // the form's signer, as above
  const lock = lockForNewVersion(b, requested, now);
  const integrity = parseIntegrity(integrityHeaders(fields));
  const partial = {
    headers: storedHeaders(h),
    userMetadata: userMetadata(h),
    tags,
    storageClass: storageClass(h),
  };

  const maxSize = Math.min(services.config.maxObjectSize, policyMaxSize(policy) ?? Infinity);
  const sealed = await sealObject(ctx, settings, bucket, key);
  let blob;
  try {
    blob = await writeBlob(services, form.file, { integrity, maxSize, defaultAlgorithm: DEFAULT_ALGORITHM, encryptor: sealed && new BodyEncryptor(sealed.keys, 0), md5: etagIsMd5(sealed?.sse) });
  } finally {
    wipe(sealed?.keys);
  }
  try {
    checkContentLengthRange(policy, blob.size);
  } catch (e) {
    await services.meta.discardPending(blob.blobId).catch(() => undefined);
    services.collectGarbage();
    throw e;
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
  await commitObject(ctx, rec, { kind: 'none' });
  respond(ctx, rec, fields, versionHeaders(b, rec));
}

/** The form fields that stand in for request headers (content-type, x-amz-meta-*, acl ...). */
function fieldHeaders(fields: Record<string, string>): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'acl') h['x-amz-acl'] = value;
    else if (!INTEGRITY_FIELDS.includes(name)) setOwn(h, name, value);
  }
  return h;
}

function integrityHeaders(fields: Record<string, string>): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (const name of INTEGRITY_FIELDS) if (fields[name] !== undefined) h[name] = fields[name];
  return h;
}

/** The largest size the policy's content-length-range allows, read while streaming so an oversized file is cut off early. */
function policyMaxSize(policy: unknown): number | undefined {
  const conditions = (policy as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  let max: number | undefined;
  for (const c of conditions) {
    if (Array.isArray(c) && typeof c[0] === 'string' && c[0].toLowerCase() === 'content-length-range') {
      const v = Number(c[2]);
      if (Number.isFinite(v)) max = max === undefined ? v : Math.min(max, v);
    }
  }
  return max;
}

function respond(ctx: S3Context, rec: ObjectRecord, fields: Record<string, string>, version: Record<string, string>): void {
  const location = objectUrl(ctx, rec.bucket, rec.key);
  const redirect = fields['success_action_redirect'] ?? fields['redirect'];
  if (redirect !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(redirect);
    } catch {
      url = undefined;
    }
    if (url) {
      url.searchParams.append('bucket', rec.bucket);
      url.searchParams.append('key', rec.key);
      url.searchParams.append('etag', rec.etag);
      sendEmpty(ctx, 303, { location: url.toString(), etag: rec.etag, ...version });
      return;
    }
  }
  const headers = { etag: rec.etag, location, ...checksumResponseHeaders(rec), ...sseResponseHeaders(ctx, sseOf(rec.sys)), ...version };
  const status = fields['success_action_status'];
  if (status === '201') {
    const inner = text('Location', location) + text('Bucket', rec.bucket) + text('Key', rec.key) + text('ETag', rec.etag);
    sendXml(ctx, 201, xmlDocument('PostResponse', inner, false), headers);
    return;
  }
  sendEmpty(ctx, status === '200' ? 200 : 204, headers);
}

/** The object's URL as the client addressed the bucket (virtual-hosted or path style). */
function objectUrl(ctx: S3Context, bucket: string, key: string): string {
  const host = header(ctx, 'host') ?? 'localhost';
  const proto = ctx.transport.secure ? 'https' : 'http';
  const encodedKey = key.split('/').map(encodeURIComponent).join('/');
  const domain = ctx.services.config.domain;
  const virtual = domain !== undefined && host.toLowerCase().replace(/:\d+$/, '') === `${bucket}.${domain.toLowerCase()}`;
  return virtual ? `${proto}://${host}/${encodedKey}` : `${proto}://${host}/${bucket}/${encodedKey}`;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}
