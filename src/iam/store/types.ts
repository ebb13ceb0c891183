// The account's IAM principals behind one interface. For now: users, their access keys
// and their inline (user) policies. Groups, roles, managed policies and STS sessions
// come later, each with its own tables added by a schema migration. The embedded
// implementation is SQLite (sqlite-iam-store.ts).
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
  /** EntityAlreadyExists if the name (in any case) or the user id is taken. */
  createUser(u: UserRecord): Promise<void>;
  getUser(userName: string): Promise<UserRecord | undefined>;
  /** Ordered by name, without regard to case. */
  listUsers(q?: ListUsersQuery): Promise<UserRecord[]>;
  /**
   * False if absent. DeleteConflict while the user has access keys or inline policies
   * (IAM makes the caller remove them first).
   */
  deleteUser(userName: string): Promise<boolean>;

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
  /** Records the last use of a key; false if the key is absent. */
  markAccessKeyUsed(accessKeyId: string, used: AccessKeyLastUsed): Promise<boolean>;

  /** Creates or replaces the user's inline policy. NoSuchEntity if the user is absent. */
  putUserPolicy(userName: string, policyName: string, document: string): Promise<void>;
  getUserPolicy(userName: string, policyName: string): Promise<UserPolicyRecord | undefined>;
  /** Policy names ordered without regard to case; [] for an unknown user. */
  listUserPolicies(userName: string): Promise<string[]>;
  deleteUserPolicy(userName: string, policyName: string): Promise<boolean>;

  close(): Promise<void>;
}
