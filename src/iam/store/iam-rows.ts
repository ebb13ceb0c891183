// The rows of the IAM tables as both SQL stores read them (sqlite-iam-*.ts and
// pg-iam-*.ts have the same columns under other table names), the records they hold,
// and the values of each INSERT and UPDATE in column order. One place, so the twins
// cannot drift apart in what a column means.
//
// Times are epoch milliseconds: INTEGER in SQLite, BIGINT in PostgreSQL, read as numbers
// there too (src/storage/postgres/pool.ts parses int8). Sealed secrets pass through as
// they came; nothing here logs or prints them.

import type {
  AccessKeyRecord,
  AccessKeyStatus,
  GroupRecord,
  InlinePolicyRecord,
  ManagedPolicyRecord,
  PolicyVersionRecord,
  RoleRecord,
  SessionRecord,
  UserPolicyRecord,
  UserRecord,
} from './types.js';

// ---- users ----

export const USER_COLUMNS = 'user_name, user_id, arn, path, create_date, tags';

export interface UserRow {
  user_name: string;
  user_id: string;
  arn: string;
  path: string;
  create_date: number;
  tags: string;
}

export function toUser(r: UserRow): UserRecord {
  return { userName: r.user_name, userId: r.user_id, arn: r.arn, path: r.path, createDate: r.create_date, tags: JSON.parse(r.tags) };
}

/** USER_COLUMNS' values. */
export function userValues(u: UserRecord): unknown[] {
  return [u.userName, u.userId, u.arn, u.path, u.createDate, JSON.stringify(u.tags)];
}

// ---- access keys ----

export const KEY_COLUMNS =
  'access_key_id, user_name, status, create_date, sealed_secret, last_used_date, last_used_service, last_used_region';

export interface AccessKeyRow {
  access_key_id: string;
  user_name: string;
  status: string;
  create_date: number;
  sealed_secret: Buffer;
  last_used_date: number | null;
  last_used_service: string | null;
  last_used_region: string | null;
}

export function toAccessKey(r: AccessKeyRow): AccessKeyRecord {
  const k: AccessKeyRecord = {
    accessKeyId: r.access_key_id,
    userName: r.user_name,
    status: r.status as AccessKeyStatus,
    createDate: r.create_date,
    sealedSecret: r.sealed_secret,
  };
  if (r.last_used_date !== null) {
    k.lastUsed = { date: r.last_used_date, service: r.last_used_service ?? '', region: r.last_used_region ?? '' };
  }
  return k;
}

/** KEY_COLUMNS' values, the key filed under `userName` (the user's name as stored). */
export function accessKeyValues(k: AccessKeyRecord, userName: string): unknown[] {
  return [
    k.accessKeyId, userName, k.status, k.createDate, k.sealedSecret,
    k.lastUsed?.date ?? null, k.lastUsed?.service ?? null, k.lastUsed?.region ?? null,
  ];
}

// ---- inline policies (of users, groups and roles) ----

export interface InlinePolicyRow {
  policy_name: string;
  document: string;
}

export function toInlinePolicy(r: InlinePolicyRow): InlinePolicyRecord {
  return { policyName: r.policy_name, document: r.document };
}

export function toUserPolicy(r: InlinePolicyRow & { user_name: string }): UserPolicyRecord {
  return { userName: r.user_name, policyName: r.policy_name, document: r.document };
}

export const policyNameOf = (r: { policy_name: string }): string => r.policy_name;

// ---- groups ----

export const GROUP_COLUMNS = 'group_name, group_id, arn, path, create_date';

export interface GroupRow {
  group_name: string;
  group_id: string;
  arn: string;
  path: string;
  create_date: number;
}

export function toGroup(r: GroupRow): GroupRecord {
  return { groupName: r.group_name, groupId: r.group_id, arn: r.arn, path: r.path, createDate: r.create_date };
}

/** GROUP_COLUMNS' values. */
export function groupValues(g: GroupRecord): unknown[] {
  return [g.groupName, g.groupId, g.arn, g.path, g.createDate];
}

// ---- roles ----

export const ROLE_COLUMNS = 'role_name, role_id, arn, path, create_date, assume_role_policy, description, max_session_duration, tags';

export interface RoleRow {
  role_name: string;
  role_id: string;
  arn: string;
  path: string;
  create_date: number;
  assume_role_policy: string;
  description: string | null;
  max_session_duration: number;
  tags: string;
}

export function toRole(r: RoleRow): RoleRecord {
  const out: RoleRecord = {
    roleName: r.role_name, roleId: r.role_id, arn: r.arn, path: r.path, createDate: r.create_date,
    assumeRolePolicyDocument: r.assume_role_policy, maxSessionDuration: r.max_session_duration, tags: JSON.parse(r.tags),
  };
  if (r.description !== null) out.description = r.description;
  return out;
}

/** ROLE_COLUMNS' values. */
export function roleValues(r: RoleRecord): unknown[] {
  return [
    r.roleName, r.roleId, r.arn, r.path, r.createDate, r.assumeRolePolicyDocument, r.description ?? null,
    r.maxSessionDuration, JSON.stringify(r.tags),
  ];
}

/** The values of a role's UPDATE: assume_role_policy, description, max_session_duration, tags, then the name. */
export function roleUpdateValues(r: RoleRecord): unknown[] {
  return [r.assumeRolePolicyDocument, r.description ?? null, r.maxSessionDuration, JSON.stringify(r.tags), r.roleName];
}

// ---- managed policies ----

/** A policy row, with the number of its attachments counted from `attachments` (the table's name in the dialect). */
export function policyColumns(attachments: string): string {
  return `p.arn, p.policy_name, p.policy_id, p.path, p.description, p.default_version, p.next_version, p.create_date, p.update_date,
  (SELECT COUNT(*) FROM ${attachments} a WHERE a.policy_arn = p.arn) AS attachments`;
}

export interface PolicyRow {
  arn: string;
  policy_name: string;
  policy_id: string;
  path: string;
  description: string | null;
  default_version: string;
  next_version: number;
  create_date: number;
  update_date: number;
  attachments: number;
}

export function toPolicy(r: PolicyRow): ManagedPolicyRecord {
  const out: ManagedPolicyRecord = {
    policyName: r.policy_name, policyId: r.policy_id, arn: r.arn, path: r.path, defaultVersionId: r.default_version,
    nextVersion: r.next_version, createDate: r.create_date, updateDate: r.update_date, attachmentCount: r.attachments,
  };
  if (r.description !== null) out.description = r.description;
  return out;
}

/** The values of a new policy's INSERT: arn, policy_name, policy_id, path, description, create_date, update_date. */
export function policyValues(p: Omit<ManagedPolicyRecord, 'defaultVersionId' | 'nextVersion' | 'attachmentCount'>): unknown[] {
  return [p.arn, p.policyName, p.policyId, p.path, p.description ?? null, p.createDate, p.updateDate];
}

export interface VersionRow {
  version_id: string;
  document: string;
  create_date: number;
}

export function toVersion(v: VersionRow, p: PolicyRow): PolicyVersionRecord {
  return { versionId: v.version_id, document: v.document, createDate: v.create_date, isDefaultVersion: v.version_id === p.default_version };
}

export interface AttachedDocumentRow {
  policy_name: string;
  arn: string;
  document: string;
}

export function toAttachedDocument(r: AttachedDocumentRow): { policyName: string; arn: string; document: string } {
  return { policyName: r.policy_name, arn: r.arn, document: r.document };
}

// ---- STS sessions ----

export const SESSION_COLUMNS = 'access_key_id, sealed_secret, principal, create_date, expires_at';

export interface SessionRow {
  access_key_id: string;
  sealed_secret: Buffer;
  principal: string;
  create_date: number;
  expires_at: number;
}

export function toSession(r: SessionRow): SessionRecord {
  return { accessKeyId: r.access_key_id, sealedSecret: r.sealed_secret, principal: r.principal, createDate: r.create_date, expiresAt: r.expires_at };
}

/** SESSION_COLUMNS' values. */
export function sessionValues(r: SessionRecord): unknown[] {
  return [r.accessKeyId, r.sealedSecret, r.principal, r.createDate, r.expiresAt];
}
