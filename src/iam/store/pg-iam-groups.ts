// Groups in the PostgreSQL IAM store: groups, memberships and group inline policies.
// Multi-step writes are SERIALIZABLE transactions, as in pg-iam-store.ts.

import type pg from 'pg';
import { changed, first, rows } from '../../storage/postgres/query.js';
import { serializable, type Queryable } from '../../storage/postgres/transaction.js';
import type { GroupRecord, GroupStore, InlinePolicyRecord, ListUsersQuery, UserRecord } from './types.js';
import { ci } from './pg-iam-schema.js';
import { listPage, pageValues } from './pg-iam-page.js';
import { GROUP_COLUMNS as COLS, groupValues, policyNameOf, toGroup, toInlinePolicy, toUser } from './iam-rows.js';
import type { GroupRow, InlinePolicyRow, UserRow } from './iam-rows.js';
import { conflict, deleteConflict, GROUP_DELETE_GUARDS } from './iam-conflicts.js';

export const PG_GROUP_SQL = {
  get: `SELECT ${COLS} FROM iam_groups WHERE lower(group_name) = ${ci(1)}`,
  idExists: 'SELECT 1 FROM iam_groups WHERE group_id = $1',
  insert: `INSERT INTO iam_groups (${COLS}) VALUES ($1, $2, $3, $4, $5)`,
  list: listPage('iam_groups', COLS, 'group_name'),
  delete: 'DELETE FROM iam_groups WHERE group_name = $1',
  hasMember: `SELECT 1 FROM iam_group_members WHERE lower(group_name) = ${ci(1)} LIMIT 1`,
  hasPolicy: `SELECT 1 FROM iam_group_policies WHERE lower(group_name) = ${ci(1)} LIMIT 1`,
  hasAttachment: `SELECT 1 FROM iam_policy_attachments WHERE target = 'group' AND lower(target_name) = ${ci(1)} LIMIT 1`,
  getUser: `SELECT user_name FROM iam_users WHERE lower(user_name) = ${ci(1)}`,
  addMember: 'INSERT INTO iam_group_members (group_name, user_name) VALUES ($1, $2) ON CONFLICT DO NOTHING',
  removeMember: `DELETE FROM iam_group_members WHERE lower(group_name) = ${ci(1)} AND lower(user_name) = ${ci(2)}`,
  members: `SELECT u.user_name, u.user_id, u.arn, u.path, u.create_date, u.tags
     FROM iam_group_members m JOIN iam_users u ON u.user_name = m.user_name
     WHERE lower(m.group_name) = ${ci(1)} ORDER BY lower(u.user_name)`,
  groupsForUser: `SELECT g.group_name, g.group_id, g.arn, g.path, g.create_date
     FROM iam_group_members m JOIN iam_groups g ON g.group_name = m.group_name
     WHERE lower(m.user_name) = ${ci(1)} ORDER BY lower(g.group_name)`,
  putPolicy: `INSERT INTO iam_group_policies (group_name, policy_name, document) VALUES ($1, $2, $3)
     ON CONFLICT ((lower(group_name)), (lower(policy_name))) DO UPDATE SET document = excluded.document`,
  getPolicy: `SELECT policy_name, document FROM iam_group_policies WHERE lower(group_name) = ${ci(1)} AND lower(policy_name) = ${ci(2)}`,
  listPolicies: `SELECT policy_name FROM iam_group_policies WHERE lower(group_name) = ${ci(1)} ORDER BY lower(policy_name)`,
  deletePolicy: `DELETE FROM iam_group_policies WHERE lower(group_name) = ${ci(1)} AND lower(policy_name) = ${ci(2)}`,
} as const;

const S = PG_GROUP_SQL;

export class PgGroupStore implements GroupStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(g: GroupRecord): Promise<void> {
    await serializable(this.pool, async (q) => {
      const taken = await first<GroupRow>(q, S.get, [g.groupName]);
      if (taken) throw conflict.groupExists(taken.group_name);
      if (await changed(q, S.idExists, [g.groupId])) throw conflict.idExists('group', g.groupId);
      await q.query(S.insert, groupValues(g));
    });
  }

  async get(groupName: string): Promise<GroupRecord | undefined> {
    const r = await first<GroupRow>(this.pool, S.get, [groupName]);
    return r && toGroup(r);
  }

  async list(q: ListUsersQuery = {}): Promise<GroupRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (await rows<GroupRow>(this.pool, S.list, pageValues(q))).map(toGroup);
  }

  async delete(groupName: string): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const r = await first<GroupRow>(q, S.get, [groupName]);
      if (!r) return false;
      for (const guard of GROUP_DELETE_GUARDS) if (await changed(q, S[guard.found], [r.group_name])) throw deleteConflict(guard, r.group_name);
      await q.query(S.delete, [r.group_name]);
      return true;
    });
  }

  async addUser(groupName: string, userName: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      const g = await this.requireGroup(q, groupName);
      const u = await first<{ user_name: string }>(q, S.getUser, [userName]);
      if (!u) throw conflict.noTarget('user', userName);
      await q.query(S.addMember, [g, u.user_name]);
    });
  }

  async removeUser(groupName: string, userName: string): Promise<boolean> {
    return changed(this.pool, S.removeMember, [groupName, userName]);
  }

  async members(groupName: string): Promise<UserRecord[]> {
    return (await rows<UserRow>(this.pool, S.members, [groupName])).map(toUser);
  }

  async groupsForUser(userName: string): Promise<GroupRecord[]> {
    return (await rows<GroupRow>(this.pool, S.groupsForUser, [userName])).map(toGroup);
  }

  async putPolicy(groupName: string, policyName: string, document: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      await q.query(S.putPolicy, [await this.requireGroup(q, groupName), policyName, document]);
    });
  }

  async getPolicy(groupName: string, policyName: string): Promise<InlinePolicyRecord | undefined> {
    const r = await first<InlinePolicyRow>(this.pool, S.getPolicy, [groupName, policyName]);
    return r && toInlinePolicy(r);
  }

  async listPolicies(groupName: string): Promise<string[]> {
    return (await rows<InlinePolicyRow>(this.pool, S.listPolicies, [groupName])).map(policyNameOf);
  }

  async deletePolicy(groupName: string, policyName: string): Promise<boolean> {
    return changed(this.pool, S.deletePolicy, [groupName, policyName]);
  }

  private async requireGroup(q: Queryable, groupName: string): Promise<string> {
    const r = await first<GroupRow>(q, S.get, [groupName]);
    if (!r) throw conflict.noTarget('group', groupName);
    return r.group_name;
  }
}
