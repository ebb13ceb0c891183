// Bucket and object ACLs under S3 Object Ownership "bucket owner enforced": ACLs are
// disabled. GET answers the one ACL that holds (the owner has FULL_CONTROL); PUT
// accepts only an ACL that says exactly that and changes nothing; anything else is
// AccessControlListNotSupported, as AWS answers for such buckets.

import type { IncomingHttpHeaders } from 'node:http';
import { requireBucket } from '../bucket-access.js';
import { type Owner, type S3Context, sendEmpty, sendXml } from '../context.js';
import { s3Error } from '../errors.js';
import { childArray, childObject, childText, el, parseXmlRoot, text, xmlDocument } from '../xml.js';
import { readXmlBody } from './tagging.js';

const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
const CANNED_OWNER_ONLY = new Set(['private', 'bucket-owner-full-control']);
const GRANT_HEADERS = ['x-amz-grant-full-control', 'x-amz-grant-read', 'x-amz-grant-read-acp', 'x-amz-grant-write', 'x-amz-grant-write-acp'];

export async function getBucketAcl(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  sendXml(ctx, 200, ownerOnlyPolicy(ctx.owner));
}

export async function putBucketAcl(ctx: S3Context, bucket: string): Promise<void> {
  await requireBucket(ctx, bucket);
  await checkAclRequest(ctx);
  sendEmpty(ctx, 200);
}

export async function getObjectAcl(ctx: S3Context, bucket: string, key: string): Promise<void> {
  await requireObject(ctx, bucket, key);
  sendXml(ctx, 200, ownerOnlyPolicy(ctx.owner));
}

export async function putObjectAcl(ctx: S3Context, bucket: string, key: string): Promise<void> {
  await requireObject(ctx, bucket, key);
  await checkAclRequest(ctx);
  sendEmpty(ctx, 200);
}

export function ownerOnlyPolicy(owner: Owner): string {
  const ownerXml = text('ID', owner.id) + text('DisplayName', owner.displayName);
  const grant = el('Grant', `<Grantee xmlns:xsi="${XSI_NS}" xsi:type="CanonicalUser">${ownerXml}</Grantee>`, text('Permission', 'FULL_CONTROL'));
  return xmlDocument('AccessControlPolicy', el('Owner', ownerXml) + el('AccessControlList', grant));
}

async function requireObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  const v = ctx.query.get('versionId');
  if (v !== null && v !== 'null') throw s3Error('NotImplemented', {}, 'Object versions are not implemented by Coffer');
  await requireBucket(ctx, bucket);
  if (!(await ctx.services.meta.getObject(bucket, key))) throw s3Error('NoSuchKey', { Key: key });
}

/** Accepts a canned ACL, grant headers or an AccessControlPolicy body only when it grants the owner FULL_CONTROL and nobody anything else. */
async function checkAclRequest(ctx: S3Context): Promise<void> {
  const h = ctx.req.headers;
  const canned = h['x-amz-acl'];
  const grants = GRANT_HEADERS.filter((g) => h[g] !== undefined);
  const body = await readXmlBody(ctx);
  const hasBody = body.toString('utf8').trim() !== '';
  if ((canned !== undefined || grants.length > 0) && hasBody) throw s3Error('UnexpectedContent');
  if (canned !== undefined && grants.length > 0) {
    throw s3Error('InvalidRequest', {}, 'Specifying both Canned ACLs and Header Grants is not allowed');
  }
  if (canned !== undefined) {
    if (typeof canned !== 'string' || !CANNED_OWNER_ONLY.has(canned)) throw s3Error('AccessControlListNotSupported');
    return;
  }
  if (grants.length > 0) {
    if (!ownerOnlyGrantHeaders(h, ctx.owner.id)) throw s3Error('AccessControlListNotSupported');
    return;
  }
  if (!hasBody) throw s3Error('MissingSecurityHeader', { MissingHeaderName: 'x-amz-acl' });
  if (!ownerOnlyBody(body, ctx.owner.id)) throw s3Error('AccessControlListNotSupported');
}

/** x-amz-grant-full-control: id="<owner>" and no other grant header. */
function ownerOnlyGrantHeaders(h: IncomingHttpHeaders, ownerId: string): boolean {
  for (const g of GRANT_HEADERS) {
    const v = h[g];
    if (v === undefined) continue;
    if (g !== 'x-amz-grant-full-control' || typeof v !== 'string') return false;
    const grantees = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (grantees.length === 0) return false;
    for (const grantee of grantees) {
      const m = /^id\s*=\s*"?([^"]*)"?$/i.exec(grantee);
      if (!m || m[1] !== ownerId) return false;
    }
  }
  return true;
}

function ownerOnlyBody(body: Buffer, ownerId: string): boolean {
  const doc = parseXmlRoot(body, 'AccessControlPolicy');
  const owner = childObject(doc, 'Owner');
  if (owner !== undefined) {
    const id = childText(owner, 'ID');
    if (id !== undefined && id !== ownerId) return false;
  }
  const list = childObject(doc, 'AccessControlList');
  if (list === undefined) throw s3Error('MalformedACLError');
  const grants = childArray(list, 'Grant');
  if (grants.length === 0) return false;
  for (const g of grants) {
    const grantee = childObject(g, 'Grantee');
    const permission = childText(g, 'Permission');
    if (grantee === undefined || permission === undefined) throw s3Error('MalformedACLError');
    if (permission !== 'FULL_CONTROL' || childText(grantee, 'ID') !== ownerId) return false;
  }
  return true;
}
