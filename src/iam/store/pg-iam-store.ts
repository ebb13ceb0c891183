// The IAM store on PostgreSQL, for nodes of a cluster sharing one database
// (docs/CLUSTER.md); the twin of sqlite-iam-store.ts with its pg-iam-*.ts siblings
// (groups, roles, managed policies, STS sessions), passing the same contract suite.
//
// Every multi-step write runs in one SERIALIZABLE transaction, retried on a
// serialization failure (src/storage/postgres/transaction.ts): a name checked free, a
// user's key count below the limit, a user without keys when deleted — each holds across
// nodes. version() reads a counter that each such write moves on in its own transaction
// (pg-iam-schema.ts, V2), so a reader caching by it sees another node's committed write on
// its next read of the version.
//
// Sealed secrets are stored and returned as they came (BYTEA); they never appear in an
// error message or a log line from here.

import type pg from 'pg';
import { migrate } from '../../storage/postgres/migrate.js';
import { changed, first, rows } from '../../storage/postgres/query.js';
import { serializable, type Queryable } from '../../storage/postgres/transaction.js';
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
import { ci, PG_IAM_MIGRATIONS } from './pg-iam-schema.js';
import { listPage, pageValues } from './pg-iam-page.js';
import { accessKeyValues, KEY_COLUMNS, policyNameOf, toAccessKey, toUser, toUserPolicy, USER_COLUMNS, userValues } from './iam-rows.js';
import type { AccessKeyRow, InlinePolicyRow, UserRow } from './iam-rows.js';
import { conflict, deleteConflict, USER_DELETE_GUARDS } from './iam-conflicts.js';
import { PgGroupStore } from './pg-iam-groups.js';
import { PgRoleStore } from './pg-iam-roles.js';
import { PgPolicyStore } from './pg-iam-policies.js';
import { PgSessionStore } from './pg-iam-sessions.js';

export const PG_IAM_SQL = {
  getUser: `SELECT ${USER_COLUMNS} FROM iam_users WHERE lower(user_name) = ${ci(1)}`,
  userIdExists: 'SELECT 1 FROM iam_users WHERE user_id = $1',
  insertUser: `INSERT INTO iam_users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
  listUsers: listPage('iam_users', USER_COLUMNS, 'user_name'),
  deleteUser: 'DELETE FROM iam_users WHERE user_name = $1',
  userHasKey: `SELECT 1 FROM iam_access_keys WHERE lower(user_name) = ${ci(1)} LIMIT 1`,
  userHasPolicy: `SELECT 1 FROM iam_user_policies WHERE lower(user_name) = ${ci(1)} LIMIT 1`,
  userHasGroup: `SELECT 1 FROM iam_group_members WHERE lower(user_name) = ${ci(1)} LIMIT 1`,
  userHasAttachment: `SELECT 1 FROM iam_policy_attachments WHERE target = 'user' AND lower(target_name) = ${ci(1)} LIMIT 1`,
  setUserTags: `UPDATE iam_users SET tags = $1 WHERE lower(user_name) = ${ci(2)}`,
  // Access keys, inline policies and memberships follow through ON UPDATE CASCADE; attachments have no foreign key.
  renameUser: 'UPDATE iam_users SET user_name = $2, path = $3, arn = $4 WHERE user_name = $1',
  renameInAttachments: "UPDATE iam_policy_attachments SET target_name = $2 WHERE target = 'user' AND target_name = $1",

  insertKey: `INSERT INTO iam_access_keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  getKey: `SELECT ${KEY_COLUMNS} FROM iam_access_keys WHERE access_key_id = $1`,
  countKeys: `SELECT COUNT(*) AS n FROM iam_access_keys WHERE lower(user_name) = ${ci(1)}`,
  listKeys: `SELECT ${KEY_COLUMNS} FROM iam_access_keys WHERE lower(user_name) = ${ci(1)} ORDER BY create_date, access_key_id`,
  updateKeyStatus: `UPDATE iam_access_keys SET status = $1 WHERE access_key_id = $2 AND lower(user_name) = ${ci(3)}`,
  deleteKey: `DELETE FROM iam_access_keys WHERE access_key_id = $1 AND lower(user_name) = ${ci(2)}`,
  markKeyUsed: 'UPDATE iam_access_keys SET last_used_date = $1, last_used_service = $2, last_used_region = $3 WHERE access_key_id = $4',
  resealKey: 'UPDATE iam_access_keys SET sealed_secret = $1 WHERE access_key_id = $2 AND sealed_secret = $3',

  upsertPolicy: `INSERT INTO iam_user_policies (user_name, policy_name, document) VALUES ($1, $2, $3)
     ON CONFLICT ((lower(user_name)), (lower(policy_name))) DO UPDATE SET document = excluded.document`,
  getPolicy: `SELECT user_name, policy_name, document FROM iam_user_policies WHERE lower(user_name) = ${ci(1)} AND lower(policy_name) = ${ci(2)}`,
  listPolicies: `SELECT policy_name FROM iam_user_policies WHERE lower(user_name) = ${ci(1)} ORDER BY lower(policy_name)`,
  deletePolicy: `DELETE FROM iam_user_policies WHERE lower(user_name) = ${ci(1)} AND lower(policy_name) = ${ci(2)}`,
} as const;

const S = PG_IAM_SQL;

export class PgIamStore implements IamStore {
  readonly groups: PgGroupStore;
  readonly roles: PgRoleStore;
  readonly policies: PgPolicyStore;
  readonly sessions: PgSessionStore;
  private closed = false;

  private constructor(private readonly pool: pg.Pool, private readonly closePool: boolean) {
    this.groups = new PgGroupStore(pool);
    this.roles = new PgRoleStore(pool);
    this.policies = new PgPolicyStore(pool);
    this.sessions = new PgSessionStore(pool);
  }

  /** Brings the IAM tables up to date (once across nodes) and returns the store. */
  static async open(pool: pg.Pool, opts: { closePool?: boolean } = {}): Promise<PgIamStore> {
    try {
      await migrate(pool, 'iam', PG_IAM_MIGRATIONS, 'IAM database');
    } catch (e) {
      if (opts.closePool) await pool.end();
      throw e;
    }
    return new PgIamStore(pool, opts.closePool ?? false);
  }

  // ---- users ----

  async createUser(u: UserRecord): Promise<void> {
    await serializable(this.pool, async (q) => {
      const taken = await first<UserRow>(q, S.getUser, [u.userName]);
      if (taken !== undefined) throw conflict.userExists(taken.user_name);
      if (await changed(q, S.userIdExists, [u.userId])) throw conflict.idExists('user', u.userId);
      await q.query(S.insertUser, userValues(u));
    });
  }

  async getUser(userName: string): Promise<UserRecord | undefined> {
    const row = await first<UserRow>(this.pool, S.getUser, [userName]);
    return row && toUser(row);
  }

  async listUsers(q: ListUsersQuery = {}): Promise<UserRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (await rows<UserRow>(this.pool, S.listUsers, pageValues(q))).map(toUser);
  }

  async deleteUser(userName: string): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const row = await first<UserRow>(q, S.getUser, [userName]);
      if (row === undefined) return false;
      const name = row.user_name;
      for (const guard of USER_DELETE_GUARDS) if (await changed(q, S[guard.found], [name])) throw deleteConflict(guard, name);
      await q.query(S.deleteUser, [name]);
      return true;
    });
  }

  async updateUser(userName: string, change: { newUserName?: string; newPath?: string; newArn?: string }): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const row = await first<UserRow>(q, S.getUser, [userName]);
      if (row === undefined) return false;
      const to = change.newUserName ?? row.user_name;
      if (to.toLowerCase() !== row.user_name.toLowerCase() && (await changed(q, S.getUser, [to]))) {
        throw conflict.userRenameTaken(to);
      }
      await q.query(S.renameUser, [row.user_name, to, change.newPath ?? row.path, change.newArn ?? row.arn]);
      await q.query(S.renameInAttachments, [row.user_name, to]);
      return true;
    });
  }

  async setUserTags(userName: string, tags: IamTag[]): Promise<boolean> {
    return changed(this.pool, S.setUserTags, [JSON.stringify(tags), userName]);
  }

  // ---- access keys ----

  async createAccessKey(k: AccessKeyRecord, opts: { maxKeysPerUser?: number } = {}): Promise<void> {
    await serializable(this.pool, async (q) => {
      const user = await this.requireUser(q, k.userName);
      if (await changed(q, S.getKey, [k.accessKeyId])) {
        throw conflict.keyExists(k.accessKeyId);
      }
      if (opts.maxKeysPerUser !== undefined) {
        const count = (await first<{ n: number }>(q, S.countKeys, [user]))!.n;
        if (count >= opts.maxKeysPerUser) {
          throw conflict.tooManyKeys(user, count);
        }
      }
      await q.query(S.insertKey, accessKeyValues(k, user));
    });
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyRecord | undefined> {
    const row = await first<AccessKeyRow>(this.pool, S.getKey, [accessKeyId]);
    return row && toAccessKey(row);
  }

  async listAccessKeys(userName: string): Promise<AccessKeyRecord[]> {
    return (await rows<AccessKeyRow>(this.pool, S.listKeys, [userName])).map(toAccessKey);
  }

  async updateAccessKeyStatus(userName: string, accessKeyId: string, status: AccessKeyStatus): Promise<boolean> {
    return changed(this.pool, S.updateKeyStatus, [status, accessKeyId, userName]);
  }

  async resealAccessKey(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean> {
    // Compare-and-swap in one statement (as sqlite-iam-store.ts), in a SERIALIZABLE transaction.
    return serializable(this.pool, (q) => changed(q, S.resealKey, [sealed, accessKeyId, expected]));
  }

  async deleteAccessKey(userName: string, accessKeyId: string): Promise<boolean> {
    return changed(this.pool, S.deleteKey, [accessKeyId, userName]);
  }

  async markAccessKeyUsed(accessKeyId: string, used: AccessKeyLastUsed): Promise<boolean> {
    return changed(this.pool, S.markKeyUsed, [used.date, used.service, used.region, accessKeyId]);
  }

  // ---- inline user policies ----

  async putUserPolicy(userName: string, policyName: string, document: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      const user = await this.requireUser(q, userName);
      await q.query(S.upsertPolicy, [user, policyName, document]);
    });
  }

  async getUserPolicy(userName: string, policyName: string): Promise<UserPolicyRecord | undefined> {
    const row = await first<InlinePolicyRow & { user_name: string }>(this.pool, S.getPolicy, [userName, policyName]);
    return row && toUserPolicy(row);
  }

  async listUserPolicies(userName: string): Promise<string[]> {
    return (await rows<InlinePolicyRow>(this.pool, S.listPolicies, [userName])).map(policyNameOf);
  }

  async deleteUserPolicy(userName: string, policyName: string): Promise<boolean> {
    return changed(this.pool, S.deletePolicy, [userName, policyName]);
  }

  /** The counter every write of users, keys (not their last use), groups, roles and policies moves on (not STS sessions). */
  async version(): Promise<string> {
    const row = await first<{ version: number }>(this.pool, 'SELECT version FROM iam_version WHERE id = 1');
    return String(row?.version ?? 0);
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('the store is closed');
    await this.pool.query('SELECT 1 FROM iam_users LIMIT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.closePool) await this.pool.end();
  }

  /** The user's name as stored; NoSuchEntity if there is no such user. */
  private async requireUser(q: Queryable, userName: string): Promise<string> {
    const row = await first<UserRow>(q, S.getUser, [userName]);
    if (row === undefined) throw conflict.noUser(userName);
    return row.user_name;
  }
}
