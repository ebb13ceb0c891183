// Pieces the IAM operation families share: records as XML shapes, store conflicts as
// IAM errors, pagination, policy document checks.

import { parsePolicyDocument, PolicyDocumentError } from '../policy/index.js';
import { IamStoreConflict, type GroupRecord, type IamTag, type ManagedPolicyRecord, type RoleRecord, type UserRecord } from '../store/types.js';
import { iamArn } from '../store/ids.js';
import type { ApiContext } from './context.js';
import { encodedPolicy, queryError, validationError, type Params, type XmlValue } from './query.js';

export function userXml(u: UserRecord, withTags = false): XmlValue {
  return { Path: u.path, UserName: u.userName, UserId: u.userId, Arn: u.arn, CreateDate: new Date(u.createDate), Tags: withTags && u.tags.length ? tagsXml(u.tags) : undefined };
}

export function groupXml(g: GroupRecord): XmlValue {
  return { Path: g.path, GroupName: g.groupName, GroupId: g.groupId, Arn: g.arn, CreateDate: new Date(g.createDate) };
}

export function roleXml(r: RoleRecord): XmlValue {
  return {
    Path: r.path, RoleName: r.roleName, RoleId: r.roleId, Arn: r.arn, CreateDate: new Date(r.createDate),
    AssumeRolePolicyDocument: encodedPolicy(r.assumeRolePolicyDocument), Description: r.description,
    MaxSessionDuration: r.maxSessionDuration, Tags: r.tags.length ? tagsXml(r.tags) : undefined,
  };
}

export function policyXml(p: ManagedPolicyRecord): XmlValue {
  return {
    PolicyName: p.policyName, PolicyId: p.policyId, Arn: p.arn, Path: p.path, DefaultVersionId: p.defaultVersionId,
    AttachmentCount: p.attachmentCount, PermissionsBoundaryUsageCount: 0, IsAttachable: true, Description: p.description,
    CreateDate: new Date(p.createDate), UpdateDate: new Date(p.updateDate),
  };
}

export function tagsXml(tags: IamTag[]): XmlValue {
  return tags.map((t) => ({ Key: t.Key, Value: t.Value }));
}

/** Tags.member.N.Key/Value, checked as IAM checks them (at most 50, keys unique). */
export function tagsParam(p: Params, name = 'Tags'): IamTag[] {
  const tags = p.structs(name, ['Key', 'Value']);
  if (tags.length > 50) throw validationError('tags', undefined, 'Member must have length less than or equal to 50');
  const out: IamTag[] = [];
  for (const t of tags) {
    if (!t.Key || t.Key.length > 128) throw validationError('tags.member.key', t.Key, 'Member must have length between 1 and 128');
    if ((t.Value ?? '').length > 256) throw validationError('tags.member.value', t.Value, 'Member must have length less than or equal to 256');
    out.push({ Key: t.Key, Value: t.Value ?? '' });
  }
  if (new Set(out.map((t) => t.Key.toLowerCase())).size !== out.length) throw queryError('InvalidInput', 'Duplicate tag keys found. Please note that Tag keys are case insensitive.');
  return out;
}

/** Tags merged as TagUser/TagRole merge them: same key (any case) replaced. */
export function mergeTags(old: IamTag[], add: IamTag[]): IamTag[] {
  const out = old.filter((t) => !add.some((a) => a.Key.toLowerCase() === t.Key.toLowerCase()));
  out.push(...add);
  if (out.length > 50) throw queryError('LimitExceeded', 'The number of tags has reached the maximum limit.');
  return out;
}

/** A store conflict as IAM's error (the store's message already reads like IAM's). */
export function storeError(e: unknown): never {
  if (e instanceof IamStoreConflict) throw queryError(e.kind, e.message);
  throw e;
}

export async function mapConflict<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    storeError(e);
  }
}

export function noUser(name: string): Error {
  return queryError('NoSuchEntity', `The user with name ${name} cannot be found.`);
}

export function noGroup(name: string): Error {
  return queryError('NoSuchEntity', `The group with name ${name} cannot be found.`);
}

export function noRole(name: string): Error {
  return queryError('NoSuchEntity', `The role with name ${name} cannot be found.`);
}

/** The user named by the UserName parameter, or NoSuchEntity. */
export async function requireUser(c: ApiContext, p: Params): Promise<UserRecord> {
  const name = p.name('UserName');
  const u = await c.iam.getUser(name);
  if (!u) throw noUser(name);
  return u;
}

/** The role named by the RoleName parameter, or NoSuchEntity. */
export async function requireRole(c: ApiContext, p: Params): Promise<RoleRecord> {
  const name = p.name('RoleName');
  const r = await c.iam.roles.get(name);
  if (!r) throw noRole(name);
  return r;
}

export function noPolicy(arn: string): Error {
  return queryError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`);
}

/** MaxItems/Marker paging: returns the page and the marker of the next one. */
export function paging(p: Params): { limit: number; after: string | undefined } {
  return { limit: p.int('MaxItems', 1, 1000) ?? 100, after: p.str('Marker') };
}

export function page<T>(items: T[], limit: number, key: (t: T) => string): { items: T[]; IsTruncated: boolean; Marker?: string } {
  if (items.length <= limit) return { items, IsTruncated: false };
  const shown = items.slice(0, limit);
  return { items: shown, IsTruncated: true, Marker: key(shown[shown.length - 1]!) };
}

/** The page MaxItems and Marker ask for of a listing the store pages by name: one more asked for than shown, to know whether more follow. */
export async function storePage<T>(p: Params, list: (q: { after: string | undefined; limit: number }) => Promise<T[]>, key: (t: T) => string): Promise<{ items: T[]; IsTruncated: boolean; Marker?: string }> {
  const { limit, after } = paging(p);
  return page(await list({ after, limit: limit + 1 }), limit, key);
}

/** The page MaxItems and Marker ask for of a listing read whole, in name order: names after the marker, compared folded as the stores order them. */
export function namePage<T>(p: Params, items: T[], key: (t: T) => string): { items: T[]; IsTruncated: boolean; Marker?: string } {
  const { limit, after } = paging(p);
  const from = after?.toLowerCase();
  return page(from === undefined ? items : items.filter((t) => key(t).toLowerCase() > from), limit, key);
}

/** An identity policy document from a parameter; MalformedPolicyDocument with the engine's reason. */
export function policyDocument(p: Params, param: string, maxBytes: number, kind: 'identity' | 'resource' = 'identity'): string {
  const text = p.req(param);
  checkPolicy(text, maxBytes, kind);
  return text;
}

export function checkPolicy(text: string, maxBytes: number, kind: 'identity' | 'resource'): void {
  if (Buffer.byteLength(text.replace(/\s+/g, ''), 'utf8') > maxBytes) {
    throw queryError('LimitExceeded', `Cannot exceed quota for PolicySize: ${maxBytes}`);
  }
  try {
    parsePolicyDocument(text, { kind, maxBytes: Math.max(maxBytes * 4, 131072) });
  } catch (e) {
    if (e instanceof PolicyDocumentError || e instanceof SyntaxError) throw queryError('MalformedPolicyDocument', e.message);
    throw e;
  }
}

/** The user an access-key or GetUser call names, or the calling user when none is named. */
export function userNameOrCaller(c: ApiContext, p: Params): string {
  const named = p.optName('UserName');
  if (named !== undefined) return named;
  if (c.principal.kind === 'user') return c.principal.userName;
  throw validationError('userName', undefined, 'Must specify userName when calling with non-User credentials');
}

/** The user userNameOrCaller names (and that name as given), or NoSuchEntity. */
export async function requireUserOrCaller(c: ApiContext, p: Params): Promise<{ userName: string; user: UserRecord }> {
  const userName = userNameOrCaller(c, p);
  const user = await c.iam.getUser(userName);
  if (!user) throw noUser(userName);
  return { userName, user };
}

/** The ARN of a user for authorization: the stored one (with its path), else path '/'. */
export async function userResource(c: ApiContext, name: string): Promise<string> {
  return (await c.iam.getUser(name))?.arn ?? iamArn(c.accountId, 'user', name);
}

export async function groupResource(c: ApiContext, name: string): Promise<string> {
  return (await c.iam.groups.get(name))?.arn ?? iamArn(c.accountId, 'group', name);
}

export async function roleResource(c: ApiContext, name: string): Promise<string> {
  return (await c.iam.roles.get(name))?.arn ?? iamArn(c.accountId, 'role', name);
}

/** A PolicyArn parameter of this account (aws-managed policies do not exist here). */
export function policyArnParam(p: Params, name = 'PolicyArn'): string {
  const v = p.req(name);
  if (!/^arn:aws[\w-]*:iam::(\d{12}|aws):policy\/.+$/.test(v)) throw queryError('InvalidInput', `ARN ${v} is not valid.`);
  return v;
}
