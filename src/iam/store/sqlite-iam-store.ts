// The embedded IAM store: its own SQLite database (better-sqlite3, WAL), apart from S3
// metadata and KMS keys. The app puts it at <data-dir>/iam.sqlite.
//
// Same habits as src/storage/sqlite-metadata-store.ts: synchronous=NORMAL by default
// ('FULL' on request), statements prepared once, every multi-step write in one
// BEGIN IMMEDIATE transaction, an async interface over synchronous work. IAM writes are
// rare, so SQLite's own WAL autocheckpoint is enough (no checkpointer worker).
//
// Records referring to a user (access keys, policies) store the user's name as the user
// was created, whatever case the caller used. Sealed secrets never appear in an error
// message or a log line from here.

import { openSqlite } from '../../storage/sqlite-database.js';
import { SqliteConnection, type Statements } from '../../storage/sqlite-connection.js';
import type Database from 'better-sqlite3';
import type {
  AccessKeyLastUsed,
  AccessKeyRecord,
  AccessKeyStatus,
  IamStore,
  IamTag,
  ListUsersQuery,
  UserPolicyRecord,
  UserRecord,
} from './types.js';
import { migrateIam } from './sqlite-iam-schema.js';
import { listPage, pageParams } from './sqlite-iam-page.js';
import { accessKeyValues, KEY_COLUMNS, policyNameOf, toAccessKey, toUser, toUserPolicy, USER_COLUMNS, userValues } from './iam-rows.js';
import type { AccessKeyRow, InlinePolicyRow, UserRow } from './iam-rows.js';
import { conflict, deleteConflict, USER_DELETE_GUARDS } from './iam-conflicts.js';
import { SqliteGroupStore } from './sqlite-iam-groups.js';
import { SqliteRoleStore } from './sqlite-iam-roles.js';
import { SqlitePolicyStore } from './sqlite-iam-policies.js';
import { SqliteSessionStore } from './sqlite-iam-sessions.js';

export interface SqliteIamStoreOptions {
  /** 'NORMAL' (default): survives a process crash. 'FULL': also survives power loss, at an fsync per commit. */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a writer waits for another process's lock before failing, in ms (default 5000). */
  busyTimeoutMs?: number;
}

type Stmt = Database.Statement<unknown[], unknown>;

/** Every statement the store runs, by name (exported so tests can check their query plans). */
export const IAM_SQL = {
  getUser: `SELECT ${USER_COLUMNS} FROM users WHERE user_name = ?`,
  userIdExists: 'SELECT 1 FROM users WHERE user_id = ?',
  insertUser: `INSERT INTO users (${USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
  listUsers: listPage('users', USER_COLUMNS, 'user_name'),
  deleteUser: 'DELETE FROM users WHERE user_name = ?',
  userHasKey: 'SELECT 1 FROM access_keys WHERE user_name = ? LIMIT 1',
  userHasPolicy: 'SELECT 1 FROM user_policies WHERE user_name = ? LIMIT 1',
  userHasGroup: 'SELECT 1 FROM group_members WHERE user_name = ? LIMIT 1',
  userHasAttachment: "SELECT 1 FROM policy_attachments WHERE target = 'user' AND target_name = ? LIMIT 1",
  setUserTags: 'UPDATE users SET tags = ? WHERE user_name = ?',
  renameUser: 'UPDATE users SET user_name = @to, path = @path, arn = @arn WHERE user_name = @from',
  renameInKeys: 'UPDATE access_keys SET user_name = @to WHERE user_name = @from',
  renameInPolicies: 'UPDATE user_policies SET user_name = @to WHERE user_name = @from',
  renameInGroups: 'UPDATE group_members SET user_name = @to WHERE user_name = @from',
  renameInAttachments: "UPDATE policy_attachments SET target_name = @to WHERE target = 'user' AND target_name = @from",

  insertKey: `INSERT INTO access_keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  getKey: `SELECT ${KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?`,
  countKeys: 'SELECT COUNT(*) AS n FROM access_keys WHERE user_name = ?',
  listKeys: `SELECT ${KEY_COLUMNS} FROM access_keys WHERE user_name = ? ORDER BY create_date, access_key_id`,
  updateKeyStatus: 'UPDATE access_keys SET status = ? WHERE access_key_id = ? AND user_name = ?',
  deleteKey: 'DELETE FROM access_keys WHERE access_key_id = ? AND user_name = ?',
  markKeyUsed: 'UPDATE access_keys SET last_used_date = ?, last_used_service = ?, last_used_region = ? WHERE access_key_id = ?',
  resealKey: 'UPDATE access_keys SET sealed_secret = ? WHERE access_key_id = ? AND sealed_secret = ?',

  upsertPolicy: `INSERT INTO user_policies (user_name, policy_name, document) VALUES (?, ?, ?)
     ON CONFLICT (user_name, policy_name) DO UPDATE SET document = excluded.document`,
  getPolicy: 'SELECT user_name, policy_name, document FROM user_policies WHERE user_name = ? AND policy_name = ?',
  listPolicies: 'SELECT policy_name FROM user_policies WHERE user_name = ? ORDER BY policy_name',
  deletePolicy: 'DELETE FROM user_policies WHERE user_name = ? AND policy_name = ?',
} as const;


export class SqliteIamStore implements IamStore {
  private readonly s: Statements<typeof IAM_SQL>;
  private readonly conn: SqliteConnection;
  readonly groups: SqliteGroupStore;
  readonly roles: SqliteRoleStore;
  readonly policies: SqlitePolicyStore;
  readonly sessions: SqliteSessionStore;
  private readonly versionStmt: Stmt;

  private constructor(private readonly db: Database.Database) {
    this.versionStmt = db.prepare('SELECT total_changes() AS t, (SELECT data_version FROM pragma_data_version) AS d');
    this.conn = new SqliteConnection(db);
    this.s = this.conn.prepareAll(IAM_SQL);
    this.groups = new SqliteGroupStore(this.conn);
    this.roles = new SqliteRoleStore(this.conn);
    this.policies = new SqlitePolicyStore(this.conn);
    this.sessions = new SqliteSessionStore(this.conn);
  }

  static open(path: string, opts: SqliteIamStoreOptions = {}): SqliteIamStore {
    return new SqliteIamStore(openSqlite(path, opts, migrateIam));
  }

  /** The connection's synchronous level (FULL when the server runs with fsync on). */
  get synchronous(): 'NORMAL' | 'FULL' {
    return this.conn.synchronous;
  }

  // ---- users ----

  async createUser(u: UserRecord): Promise<void> {
    this.conn.tx(() => {
      const taken = this.s.getUser.get(u.userName) as UserRow | undefined;
      if (taken !== undefined) throw conflict.userExists(taken.user_name);
      if (this.s.userIdExists.get(u.userId) !== undefined) throw conflict.idExists('user', u.userId);
      this.s.insertUser.run(...userValues(u));
    });
  }

  async getUser(userName: string): Promise<UserRecord | undefined> {
    const row = this.s.getUser.get(userName) as UserRow | undefined;
    return row && toUser(row);
  }

  async listUsers(q: ListUsersQuery = {}): Promise<UserRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (this.s.listUsers.all(pageParams(q)) as UserRow[]).map(toUser);
  }

  async deleteUser(userName: string): Promise<boolean> {
    return this.conn.tx(() => {
      const row = this.s.getUser.get(userName) as UserRow | undefined;
      if (row === undefined) return false;
      for (const guard of USER_DELETE_GUARDS) {
        if (this.s[guard.found].get(row.user_name) !== undefined) throw deleteConflict(guard, row.user_name);
      }
      this.s.deleteUser.run(row.user_name);
      return true;
    });
  }

  async updateUser(userName: string, change: { newUserName?: string; newPath?: string; newArn?: string }): Promise<boolean> {
    return this.conn.tx(() => {
      const row = this.s.getUser.get(userName) as UserRow | undefined;
      if (row === undefined) return false;
      const to = change.newUserName ?? row.user_name;
      if (to.toLowerCase() !== row.user_name.toLowerCase() && this.s.getUser.get(to) !== undefined) {
        throw conflict.userRenameTaken(to);
      }
      // Children first point at the new name; foreign keys are checked per statement,
      // so the user row is renamed with them deferred.
      this.db.pragma('defer_foreign_keys = ON');
      const args = { from: row.user_name, to, path: change.newPath ?? row.path, arn: change.newArn ?? row.arn };
      this.s.renameUser.run(args);
      this.s.renameInKeys.run(args);
      this.s.renameInPolicies.run(args);
      this.s.renameInGroups.run(args);
      this.s.renameInAttachments.run(args);
      return true;
    });
  }

  async setUserTags(userName: string, tags: IamTag[]): Promise<boolean> {
    return this.s.setUserTags.run(JSON.stringify(tags), userName).changes > 0;
  }

  // ---- access keys ----

  async createAccessKey(k: AccessKeyRecord, opts: { maxKeysPerUser?: number } = {}): Promise<void> {
    this.conn.tx(() => {
      const user = this.requireUser(k.userName);
      if (this.s.getKey.get(k.accessKeyId) !== undefined) {
        throw conflict.keyExists(k.accessKeyId);
      }
      if (opts.maxKeysPerUser !== undefined) {
        const count = (this.s.countKeys.get(user) as { n: number }).n;
        if (count >= opts.maxKeysPerUser) {
          throw conflict.tooManyKeys(user, count);
        }
      }
      this.s.insertKey.run(...accessKeyValues(k, user));
    });
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const row = this.s.getKey.get(accessKeyId) as AccessKeyRow | undefined;
    return row && toAccessKey(row);
  }

  async listAccessKeys(userName: string): Promise<AccessKeyRecord[]> {
    return (this.s.listKeys.all(userName) as AccessKeyRow[]).map(toAccessKey);
  }

  async updateAccessKeyStatus(userName: string, accessKeyId: string, status: AccessKeyStatus): Promise<boolean> {
    return this.s.updateKeyStatus.run(status, accessKeyId, userName).changes > 0;
  }

  async resealAccessKey(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean> {
    return this.s.resealKey.run(sealed, accessKeyId, expected).changes > 0;
  }

  async deleteAccessKey(userName: string, accessKeyId: string): Promise<boolean> {
    return this.s.deleteKey.run(accessKeyId, userName).changes > 0;
  }

  async markAccessKeyUsed(accessKeyId: string, used: AccessKeyLastUsed): Promise<boolean> {
    return this.s.markKeyUsed.run(used.date, used.service, used.region, accessKeyId).changes > 0;
  }

  // ---- inline user policies ----

  async putUserPolicy(userName: string, policyName: string, document: string): Promise<void> {
    this.conn.tx(() => {
      const user = this.requireUser(userName);
      this.s.upsertPolicy.run(user, policyName, document);
    });
  }

  async getUserPolicy(userName: string, policyName: string): Promise<UserPolicyRecord | undefined> {
    const row = this.s.getPolicy.get(userName, policyName) as (InlinePolicyRow & { user_name: string }) | undefined;
    return row && toUserPolicy(row);
  }

  async listUserPolicies(userName: string): Promise<string[]> {
    return (this.s.listPolicies.all(userName) as InlinePolicyRow[]).map(policyNameOf);
  }

  async deleteUserPolicy(userName: string, policyName: string): Promise<boolean> {
    return this.s.deletePolicy.run(userName, policyName).changes > 0;
  }

  /** total_changes() counts this connection's writes; data_version moves on other connections' commits. */
  version(): string {
    const r = this.versionStmt.get() as { t: number; d: number };
    return `${r.t}:${r.d}`;
  }

  async ping(): Promise<void> {
    this.conn.ping();
  }

  async close(): Promise<void> {
    this.conn.close();
  }

  // ---- internals ----

  /** The user's name as stored; NoSuchEntity if there is no such user. */
  private requireUser(userName: string): string {
    const row = this.s.getUser.get(userName) as UserRow | undefined;
    if (row === undefined) throw conflict.noUser(userName);
    return row.user_name;
  }
}
