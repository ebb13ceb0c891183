// Groups in the SQLite IAM store: the groups table, memberships and group inline
// policies. Shares the connection and write transaction of SqliteIamStore.

import type { GroupRecord, GroupStore, InlinePolicyRecord, ListUsersQuery, UserRecord } from './types.js';
import { listPage, pageParams } from './sqlite-iam-page.js';
import type { SqliteConnection, Statements } from '../../storage/sqlite-connection.js';
import { GROUP_COLUMNS as COLS, groupValues, policyNameOf, toGroup, toInlinePolicy, toUser } from './iam-rows.js';
import type { GroupRow, InlinePolicyRow, UserRow } from './iam-rows.js';
import { conflict, deleteConflict, GROUP_DELETE_GUARDS } from './iam-conflicts.js';

const UCOLS = 'u.user_name, u.user_id, u.arn, u.path, u.create_date, u.tags';

export const GROUP_SQL = {
  get: `SELECT ${COLS} FROM groups WHERE group_name = ?`,
  idExists: 'SELECT 1 FROM groups WHERE group_id = ?',
  insert: `INSERT INTO groups (${COLS}) VALUES (?, ?, ?, ?, ?)`,
  list: listPage('groups', COLS, 'group_name'),
  delete: 'DELETE FROM groups WHERE group_name = ?',
  hasMember: 'SELECT 1 FROM group_members WHERE group_name = ? LIMIT 1',
  hasPolicy: 'SELECT 1 FROM group_policies WHERE group_name = ? LIMIT 1',
  hasAttachment: "SELECT 1 FROM policy_attachments WHERE target = 'group' AND target_name = ? LIMIT 1",
  getUser: 'SELECT user_name FROM users WHERE user_name = ?',
  addMember: 'INSERT OR IGNORE INTO group_members (group_name, user_name) VALUES (?, ?)',
  removeMember: 'DELETE FROM group_members WHERE group_name = ? AND user_name = ?',
  members: `SELECT ${UCOLS} FROM group_members m JOIN users u ON u.user_name = m.user_name WHERE m.group_name = ? ORDER BY u.user_name`,
  groupsForUser: `SELECT g.group_name, g.group_id, g.arn, g.path, g.create_date FROM group_members m JOIN groups g ON g.group_name = m.group_name
     WHERE m.user_name = ? ORDER BY g.group_name`,
  putPolicy: `INSERT INTO group_policies (group_name, policy_name, document) VALUES (?, ?, ?)
     ON CONFLICT (group_name, policy_name) DO UPDATE SET document = excluded.document`,
  getPolicy: 'SELECT policy_name, document FROM group_policies WHERE group_name = ? AND policy_name = ?',
  listPolicies: 'SELECT policy_name FROM group_policies WHERE group_name = ? ORDER BY policy_name',
  deletePolicy: 'DELETE FROM group_policies WHERE group_name = ? AND policy_name = ?',
} as const;

export class SqliteGroupStore implements GroupStore {
  private readonly s: Statements<typeof GROUP_SQL>;

  constructor(private readonly sh: SqliteConnection) {
    this.s = sh.prepareAll(GROUP_SQL);
  }

  async create(g: GroupRecord): Promise<void> {
    this.sh.tx(() => {
      const taken = this.s.get.get(g.groupName) as GroupRow | undefined;
      if (taken) throw conflict.groupExists(taken.group_name);
      if (this.s.idExists.get(g.groupId) !== undefined) throw conflict.idExists('group', g.groupId);
      this.s.insert.run(...groupValues(g));
    });
  }

  async get(groupName: string): Promise<GroupRecord | undefined> {
    const r = this.s.get.get(groupName) as GroupRow | undefined;
    return r && toGroup(r);
  }

  async list(q: ListUsersQuery = {}): Promise<GroupRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (this.s.list.all(pageParams(q)) as GroupRow[]).map(toGroup);
  }

  async delete(groupName: string): Promise<boolean> {
    return this.sh.tx(() => {
      const r = this.s.get.get(groupName) as GroupRow | undefined;
      if (!r) return false;
      for (const guard of GROUP_DELETE_GUARDS) if (this.s[guard.found].get(r.group_name) !== undefined) throw deleteConflict(guard, r.group_name);
      this.s.delete.run(r.group_name);
      return true;
    });
  }

  async addUser(groupName: string, userName: string): Promise<void> {
    this.sh.tx(() => {
      const g = this.requireGroup(groupName);
      const u = this.s.getUser.get(userName) as { user_name: string } | undefined;
      if (!u) throw conflict.noTarget('user', userName);
      this.s.addMember.run(g, u.user_name);
    });
  }

  async removeUser(groupName: string, userName: string): Promise<boolean> {
    return this.s.removeMember.run(groupName, userName).changes > 0;
  }

  async members(groupName: string): Promise<UserRecord[]> {
    return (this.s.members.all(groupName) as UserRow[]).map(toUser);
  }

  async groupsForUser(userName: string): Promise<GroupRecord[]> {
    return (this.s.groupsForUser.all(userName) as GroupRow[]).map(toGroup);
  }

  async putPolicy(groupName: string, policyName: string, document: string): Promise<void> {
    this.sh.tx(() => {
      this.s.putPolicy.run(this.requireGroup(groupName), policyName, document);
    });
  }

  async getPolicy(groupName: string, policyName: string): Promise<InlinePolicyRecord | undefined> {
    const r = this.s.getPolicy.get(groupName, policyName) as InlinePolicyRow | undefined;
    return r && toInlinePolicy(r);
  }

  async listPolicies(groupName: string): Promise<string[]> {
    return (this.s.listPolicies.all(groupName) as InlinePolicyRow[]).map(policyNameOf);
  }

  async deletePolicy(groupName: string, policyName: string): Promise<boolean> {
    return this.s.deletePolicy.run(groupName, policyName).changes > 0;
  }

  private requireGroup(groupName: string): string {
    const r = this.s.get.get(groupName) as GroupRow | undefined;
    if (!r) throw conflict.noTarget('group', groupName);
    return r.group_name;
  }
}
