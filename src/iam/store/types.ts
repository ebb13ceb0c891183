// The account's IAM principals behind one interface: users, their access keys and
// inline policies at the top level; groups, roles, managed policies (with versions and
// attachments) and STS sessions as sub-stores (`groups`, `roles`, `policies`,
// `sessions`). The embedded implementation is SQLite (sqlite-iam-store.ts and its
// sqlite-iam-*.ts siblings).
//
// Names of users and policies are unique without regard to case, as in IAM ("you cannot
// create users named both testuser and TESTUSER"): lookups ignore case, records keep the
// spelling they were created with. Access key secrets are sealed by the caller under the
// root key before they reach the store; they are opaque here.

export interface IamTag {
  Key: string;
  Value: string;
}

export interface UserRecord {
  userName: string;
  /** AIDA and 17 upper-case letters or digits (newUserId()). */
  userId: string;
  /** arn:aws:iam::ACCOUNT:user/NAME for path '/' (userArn()). */
  arn: string;
  path: string;
  /** Epoch milliseconds. */
  createDate: number;
  tags: IamTag[];
}

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface AccessKeyLastUsed {
  date: number;
  service: string;
  region: string;
}

export interface AccessKeyRecord {
  accessKeyId: string;
  userName: string;
  status: AccessKeyStatus;
  createDate: number;
  /** The secret, sealed by the caller under the root key (opaque here). Never log it. */
  sealedSecret: Buffer;
  lastUsed?: AccessKeyLastUsed;
}

export interface UserPolicyRecord {
  userName: string;
  policyName: string;
  /** The policy document as JSON text, as the caller stored it. */
  document: string;
}

/**
 * A write the store refused, named after IAM's error code for it.
 * - EntityAlreadyExists: the user name (any case), user id or access key id is taken.
 * - NoSuchEntity: the user the write refers to does not exist.
 * - DeleteConflict: deleteUser while the user still has access keys or policies.
 * - LimitExceeded: createAccessKey beyond maxKeysPerUser.
 */
export type IamStoreConflictKind = 'EntityAlreadyExists' | 'NoSuchEntity' | 'DeleteConflict' | 'LimitExceeded';

export interface GroupRecord {
  groupName: string;
  /** AGPA and 17 upper-case letters or digits. */
  groupId: string;
  arn: string;
  path: string;
  createDate: number;
}

export interface RoleRecord {
  roleName: string;
  /** AROA and 17 upper-case letters or digits. */
  roleId: string;
  arn: string;
  path: string;
  createDate: number;
  /** The trust policy, JSON text as given. */
  assumeRolePolicyDocument: string;
  description?: string;
  /** Seconds, 3600..43200. */
  maxSessionDuration: number;
  tags: IamTag[];
}

export interface InlinePolicyRecord {
  policyName: string;
  document: string;
}

export interface ManagedPolicyRecord {
  policyName: string;
  /** ANPA and 17 upper-case letters or digits. */
  policyId: string;
  arn: string;
  path: string;
  description?: string;
  defaultVersionId: string;
  /** The number the next version gets (v1, v2, ...). */
  nextVersion: number;
  createDate: number;
  updateDate: number;
  attachmentCount: number;
}

export interface PolicyVersionRecord {
  versionId: string;
  document: string;
  isDefaultVersion: boolean;
  createDate: number;
}

export type AttachmentTarget = 'user' | 'group' | 'role';

/** Temporary credentials issued by STS (AssumeRole, GetSessionToken). */
export interface SessionRecord {
  /** ASIA... */
  accessKeyId: string;
  /** The secret key and session token, sealed by the caller under the root key. Never log. */
  sealedSecret: Buffer;
  /** The principal the session acts as, as JSON (src/iam/credentials.ts reads it). */
  principal: string;
  createDate: number;
  expiresAt: number;
}

/** Groups and their members and inline policies. Names ignore case, as users'. */
export interface GroupStore {
  create(g: GroupRecord): Promise<void>;
  get(groupName: string): Promise<GroupRecord | undefined>;
  list(q?: ListUsersQuery): Promise<GroupRecord[]>;
  /** False if absent; DeleteConflict while it has members, inline or attached policies. */
  delete(groupName: string): Promise<boolean>;
  /** NoSuchEntity if the group or user is absent; idempotent. */
  addUser(groupName: string, userName: string): Promise<void>;
  /** False if the user was not a member. */
  removeUser(groupName: string, userName: string): Promise<boolean>;
  members(groupName: string): Promise<UserRecord[]>;
  groupsForUser(userName: string): Promise<GroupRecord[]>;
  putPolicy(groupName: string, policyName: string, document: string): Promise<void>;
  getPolicy(groupName: string, policyName: string): Promise<InlinePolicyRecord | undefined>;
  listPolicies(groupName: string): Promise<string[]>;
  deletePolicy(groupName: string, policyName: string): Promise<boolean>;
}

export interface RoleStore {
  create(r: RoleRecord): Promise<void>;
  get(roleName: string): Promise<RoleRecord | undefined>;
  list(q?: ListUsersQuery): Promise<RoleRecord[]>;
  /** Replaces the mutable fields (trust policy, description, max session duration, tags). False if absent. */
  update(r: RoleRecord): Promise<boolean>;
  /** False if absent; DeleteConflict while it has inline or attached policies. */
  delete(roleName: string): Promise<boolean>;
  putPolicy(roleName: string, policyName: string, document: string): Promise<void>;
  getPolicy(roleName: string, policyName: string): Promise<InlinePolicyRecord | undefined>;
  listPolicies(roleName: string): Promise<string[]>;
  deletePolicy(roleName: string, policyName: string): Promise<boolean>;
}

export interface ManagedPolicyStore {
  /** Creates the policy with version v1 as its default. EntityAlreadyExists if the name is taken. */
  create(p: Omit<ManagedPolicyRecord, 'defaultVersionId' | 'nextVersion' | 'attachmentCount'>, document: string): Promise<void>;
  get(arn: string): Promise<ManagedPolicyRecord | undefined>;
  list(q?: ListUsersQuery & { onlyAttached?: boolean }): Promise<ManagedPolicyRecord[]>;
  /** DeleteConflict while attached or while it has versions besides the default. False if absent. */
  delete(arn: string): Promise<boolean>;
  /** LimitExceeded beyond maxVersions. Returns the new version id. */
  createVersion(arn: string, document: string, setAsDefault: boolean, maxVersions: number): Promise<string>;
  getVersion(arn: string, versionId: string): Promise<PolicyVersionRecord | undefined>;
  listVersions(arn: string): Promise<PolicyVersionRecord[]>;
  /** DeleteConflict for the default version. False if absent. */
  deleteVersion(arn: string, versionId: string): Promise<boolean>;
  /** NoSuchEntity if the version is absent. */
  setDefaultVersion(arn: string, versionId: string): Promise<void>;
  /** NoSuchEntity if the policy or the target is absent; idempotent. */
  attach(target: AttachmentTarget, name: string, arn: string): Promise<void>;
  /** False if it was not attached. */
  detach(target: AttachmentTarget, name: string, arn: string): Promise<boolean>;
  /** The policies attached to a user, group or role, ordered by name. */
  attached(target: AttachmentTarget, name: string): Promise<ManagedPolicyRecord[]>;
  /** The default version's document of each policy attached to the target. */
  attachedDocuments(target: AttachmentTarget, name: string): Promise<{ policyName: string; arn: string; document: string }[]>;
}

export interface SessionStore {
  create(s: SessionRecord): Promise<void>;
  get(accessKeyId: string): Promise<SessionRecord | undefined>;
  /** Removes sessions that expired before `before` (epoch ms); returns how many. */
  deleteExpired(before: number): Promise<number>;
  /** Root-key rotation: sessions (expired ones too) by access key id, byte order, after `after`, at most limit. */
  list(after: string | undefined, limit: number): Promise<SessionRecord[]>;
  /** Root-key rotation: replaces the sealed secret only if it is still `expected`. */
  reseal(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean>;
}

export class IamStoreConflict extends Error {
  constructor(readonly kind: IamStoreConflictKind, message?: string) {
    super(message ?? kind);
    this.name = 'IamStoreConflict';
  }
}

export interface ListUsersQuery {
  /** Only users whose path starts with this (compared byte for byte). */
  pathPrefix?: string;
  /** Users after this name (the last of the previous page), in listUsers order. */
  after?: string;
  limit?: number;
}

export interface IamStore {
  /**
   * Changes whenever anything a credential or an identity policy depends on may have
   * changed — this process's writes and commits by other processes (the `coffer user` CLI,
   * other nodes) — so readers can cache safely. Synchronous: a local read (SQLite), cheap
   * enough to reuse for a moment; a Promise: a round trip to a database other nodes write
   * (PostgreSQL), read again for every use. A store without it is read afresh on every request.
   */
  version?(): string | Promise<string>;
  /** EntityAlreadyExists if the name (in any case) or the user id is taken. */
  createUser(u: UserRecord): Promise<void>;
  getUser(userName: string): Promise<UserRecord | undefined>;
  /** Ordered by name, without regard to case. */
  listUsers(q?: ListUsersQuery): Promise<UserRecord[]>;
  /**
   * False if absent. DeleteConflict while the user has access keys, inline or attached
   * policies, or is in a group (IAM makes the caller remove them first).
   */
  deleteUser(userName: string): Promise<boolean>;
  /**
   * Renames and/or moves a user; records that refer to it follow. False if absent,
   * EntityAlreadyExists if the new name is taken.
   */
  updateUser(userName: string, change: { newUserName?: string; newPath?: string; newArn?: string }): Promise<boolean>;
  /** Replaces the user's tags. False if absent. */
  setUserTags(userName: string, tags: IamTag[]): Promise<boolean>;

  /**
   * NoSuchEntity if the user is absent, EntityAlreadyExists if the key id is taken,
   * LimitExceeded if the user already has maxKeysPerUser keys (checked in the same
   * transaction, so two concurrent calls cannot both pass).
   */
  createAccessKey(k: AccessKeyRecord, opts?: { maxKeysPerUser?: number }): Promise<void>;
  /** The authentication lookup. */
  getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined>;
  /** The user's keys, oldest first; [] for an unknown user. */
  listAccessKeys(userName: string): Promise<AccessKeyRecord[]>;
  /** False unless the key exists and belongs to userName. */
  updateAccessKeyStatus(userName: string, accessKeyId: string, status: AccessKeyStatus): Promise<boolean>;
  /** False unless the key exists and belongs to userName. */
  deleteAccessKey(userName: string, accessKeyId: string): Promise<boolean>;
  /**
   * Root-key rotation (backend/reseal/): replaces a key's sealed secret only if it is still
   * `expected` (compare-and-swap). False if absent or changed.
   */
  resealAccessKey(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean>;
  /** Records the last use of a key; false if the key is absent. */
  markAccessKeyUsed(accessKeyId: string, used: AccessKeyLastUsed): Promise<boolean>;

  /** Creates or replaces the user's inline policy. NoSuchEntity if the user is absent. */
  putUserPolicy(userName: string, policyName: string, document: string): Promise<void>;
  getUserPolicy(userName: string, policyName: string): Promise<UserPolicyRecord | undefined>;
  /** Policy names ordered without regard to case; [] for an unknown user. */
  listUserPolicies(userName: string): Promise<string[]>;
  deleteUserPolicy(userName: string, policyName: string): Promise<boolean>;

  readonly groups: GroupStore;
  readonly roles: RoleStore;
  readonly policies: ManagedPolicyStore;
  readonly sessions: SessionStore;

  /** Readiness: resolves when the store answers a query; rejects with the cause. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
