// S3 access control lists as data: the grants of a bucket or object, read once from a
// request (a canned x-amz-acl, x-amz-grant-* headers or an AccessControlPolicy body),
// stored (a bucket's config item "acl", an object's sys.acl: {"v":1,"grants":[...]}), and
// written back in AWS's XML shape. No ACL stored means "private": the owner's FULL_CONTROL.
// Whether ACLs apply at all is the bucket's Object Ownership (ownership.ts); what they allow
// is acl-grants.ts.

import type { IncomingHttpHeaders } from 'node:http';
import { type ServiceError } from '../errors.js';
import type { Owner } from './context.js';
import { invalidArgument, s3Error } from './errors.js';
import { childArray, childObject, childText, el, parseXmlRoot, text, xmlDocument } from './xml.js';

export type AclPermission = 'FULL_CONTROL' | 'READ' | 'WRITE' | 'READ_ACP' | 'WRITE_ACP';
export type AclGrantee = { type: 'CanonicalUser'; id: string } | { type: 'Group'; uri: string };
export interface AclGrant {
  grantee: AclGrantee;
  permission: AclPermission;
}

export const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
export const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
export const LOG_DELIVERY = 'http://acs.amazonaws.com/groups/s3/LogDelivery';
const GROUPS = new Set([ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY]);
/** Grants to these groups make an ACL public (AWS's "The meaning of public"). */
const PUBLIC_GROUPS = new Set([ALL_USERS, AUTHENTICATED_USERS]);

const PERMISSIONS = new Set<string>(['FULL_CONTROL', 'READ', 'WRITE', 'READ_ACP', 'WRITE_ACP']);
const GRANT_HEADERS: [string, AclPermission][] = [
  ['x-amz-grant-read', 'READ'], ['x-amz-grant-write', 'WRITE'], ['x-amz-grant-read-acp', 'READ_ACP'],
  ['x-amz-grant-write-acp', 'WRITE_ACP'], ['x-amz-grant-full-control', 'FULL_CONTROL'],
];
/** S3 refuses an ACL of more than 100 grants. */
const MAX_GRANTS = 100;
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

/** The bucket config item holding a bucket's ACL; objects keep theirs in sys under the same name. */
export const ACL_ITEM = 'acl';

export const ownerFullControl = (ownerId: string): AclGrant => ({ grantee: { type: 'CanonicalUser', id: ownerId }, permission: 'FULL_CONTROL' });
const group = (uri: string, permission: AclPermission): AclGrant => ({ grantee: { type: 'Group', uri }, permission });

/** A canned ACL's grants (AWS's "Canned ACL" table); bucket-owner-* name the object's owner here, who is always the bucket's. */
export function cannedAcl(name: string, ownerId: string): AclGrant[] {
  const owner = ownerFullControl(ownerId);
  switch (name) {
    case 'private':
    case 'bucket-owner-read':
    case 'bucket-owner-full-control':
      return [owner];
    case 'public-read':
      return [owner, group(ALL_USERS, 'READ')];
    case 'public-read-write':
      return [owner, group(ALL_USERS, 'READ'), group(ALL_USERS, 'WRITE')];
    case 'authenticated-read':
      return [owner, group(AUTHENTICATED_USERS, 'READ')];
    case 'log-delivery-write':
      return [owner, group(LOG_DELIVERY, 'WRITE'), group(LOG_DELIVERY, 'READ_ACP')];
    default:
      throw s3Error('InvalidArgument', {}, undefined);
  }
}

/** Does the request carry an ACL in its headers? */
export function hasAclHeaders(h: IncomingHttpHeaders): boolean {
  return h['x-amz-acl'] !== undefined || GRANT_HEADERS.some(([name]) => h[name] !== undefined);
}

/** The ACL a request's headers set (a canned ACL or grant headers, never both), or undefined when they set none. */
export function aclFromHeaders(h: IncomingHttpHeaders, ownerId: string): AclGrant[] | undefined {
  const canned = h['x-amz-acl'];
  const present = GRANT_HEADERS.filter(([name]) => h[name] !== undefined);
  if (canned !== undefined && present.length > 0) throw s3Error('InvalidRequest', {}, 'Specifying both Canned ACLs and Header Grants is not allowed');
  if (canned !== undefined) return cannedAcl(Array.isArray(canned) ? canned.join(',') : canned, ownerId);
  if (present.length === 0) return undefined;
  const grants: AclGrant[] = [];
  for (const [name, permission] of present) {
    const v = h[name];
    for (const grantee of splitGrantees(Array.isArray(v) ? v.join(',') : (v ?? ''))) {
      grants.push({ grantee: headerGrantee(grantee), permission });
      if (grants.length > MAX_GRANTS) throw s3Error('MalformedACLError');
    }
  }
  return grants;
}

function splitGrantees(v: string): string[] {
  const out = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (out.length === 0) throw invalidArgument('Argument format not recognized');
  return out;
}

/** One `id="..."`, `uri="..."` or `emailAddress="..."` of a grant header. */
function headerGrantee(s: string): AclGrantee {
  const m = /^([A-Za-z]+)\s*=\s*"?([^"]*)"?$/.exec(s);
  if (!m) throw invalidArgument('Argument format not recognized');
  const kind = m[1]!.toLowerCase();
  const value = m[2]!.trim();
  if (kind === 'id') return canonicalGrantee(value);
  if (kind === 'uri') return groupGrantee(value);
  if (kind === 'emailaddress') throw unresolvableEmail();
  throw invalidArgument('Argument format not recognized');
}

function canonicalGrantee(id: string): AclGrantee {
  if (!/^[0-9a-f]{64}$/.test(id)) throw invalidArgument('Invalid id', 'CanonicalUser/ID', id);
  return { type: 'CanonicalUser', id };
}

function groupGrantee(uri: string): AclGrantee {
  if (!GROUPS.has(uri)) throw invalidArgument('Invalid group uri', 'Group/URI', uri);
  return { type: 'Group', uri };
}

/** Coffer knows no account by e-mail address: AWS's answer for an address that matches none. */
function unresolvableEmail(): ServiceError {
  return s3Error('UnresolvableGrantByEmailAddress');
}

/**
 * An AccessControlPolicy body's grants. Its Owner, when given, must be the owner (AWS
 * refuses to change an owner through an ACL); a grantee is told by the element it carries
 * (ID, URI or EmailAddress), which is what its xsi:type says.
 */
export function aclFromBody(body: Buffer, ownerId: string): AclGrant[] {
  const doc = parseXmlRoot(body, 'AccessControlPolicy');
  const owner = childObject(doc, 'Owner');
  const ownerGiven = owner && childText(owner, 'ID');
  if (ownerGiven !== undefined && ownerGiven !== ownerId) throw s3Error('AccessDenied');
  const list = childObject(doc, 'AccessControlList');
  if (list === undefined) throw s3Error('MalformedACLError');
  const items = childArray(list, 'Grant');
  if (items.length > MAX_GRANTS) throw s3Error('MalformedACLError');
  return items.map((g) => {
    const grantee = childObject(g, 'Grantee');
    const permission = childText(g, 'Permission');
    if (grantee === undefined || permission === undefined || !PERMISSIONS.has(permission)) throw s3Error('MalformedACLError');
    const id = childText(grantee, 'ID');
    const uri = childText(grantee, 'URI');
    const email = childText(grantee, 'EmailAddress');
    if ([id, uri, email].filter((x) => x !== undefined).length !== 1) throw s3Error('MalformedACLError');
    if (email !== undefined) throw unresolvableEmail();
    return { grantee: id !== undefined ? canonicalGrantee(id) : groupGrantee(uri!), permission: permission as AclPermission };
  });
}

/** Does the ACL grant anything to AllUsers or AuthenticatedUsers? */
export function isPublicAcl(grants: readonly AclGrant[]): boolean {
  return grants.some((g) => g.grantee.type === 'Group' && PUBLIC_GROUPS.has(g.grantee.uri));
}

export function isPublicGrantee(g: AclGrantee): boolean {
  return g.type === 'Group' && PUBLIC_GROUPS.has(g.uri);
}

/** Does the ACL grant nothing to anyone but the owner (the only ACL a bucket without ACLs accepts)? */
export function isOwnerOnly(grants: readonly AclGrant[], ownerId: string): boolean {
  return grants.every((g) => g.grantee.type === 'CanonicalUser' && g.grantee.id === ownerId);
}

/** The stored form: {"v":1,"grants":[...]}. */
export function storedAcl(grants: readonly AclGrant[]): { v: 1; grants: AclGrant[] } {
  return { v: 1, grants: [...grants] };
}

/** The grants of a stored ACL (a bucket's JSON text or an object's sys value); undefined when none is stored. */
export function grantsOf(stored: unknown): AclGrant[] | undefined {
  if (stored === undefined) return undefined;
  const v = (typeof stored === 'string' ? JSON.parse(stored) : stored) as { v?: number; grants?: AclGrant[] };
  if (v.v !== 1 || !Array.isArray(v.grants)) throw new Error('unknown stored ACL version');
  return v.grants;
}

/** AWS's AccessControlPolicy document for an owner and its grants. */
export function aclDocument(owner: Owner, grants: readonly AclGrant[]): string {
  const ownerXml = text('ID', owner.id) + text('DisplayName', owner.displayName);
  const items = grants.map((g) => {
    const grantee = g.grantee.type === 'CanonicalUser'
      ? `<Grantee xmlns:xsi="${XSI_NS}" xsi:type="CanonicalUser">${g.grantee.id === owner.id ? ownerXml : text('ID', g.grantee.id)}</Grantee>`
      : `<Grantee xmlns:xsi="${XSI_NS}" xsi:type="Group">${text('URI', g.grantee.uri)}</Grantee>`;
    return el('Grant', grantee, text('Permission', g.permission));
  });
  return xmlDocument('AccessControlPolicy', el('Owner', ownerXml) + el('AccessControlList', ...items));
}
