// Roles in the SQLite IAM store: the roles table (trust policy, max session duration,
// tags) and role inline policies.

import type { InlinePolicyRecord, ListUsersQuery, RoleRecord, RoleStore } from './types.js';
import { listPage, pageParams } from './sqlite-iam-page.js';
import type { SqliteConnection, Statements } from '../../storage/sqlite-connection.js';
import { ROLE_COLUMNS as COLS, policyNameOf, roleUpdateValues, roleValues, toInlinePolicy, toRole } from './iam-rows.js';
import type { InlinePolicyRow, RoleRow } from './iam-rows.js';
import { conflict, deleteConflict, ROLE_DELETE_GUARDS } from './iam-conflicts.js';

export const ROLE_SQL = {
  get: `SELECT ${COLS} FROM roles WHERE role_name = ?`,
  idExists: 'SELECT 1 FROM roles WHERE role_id = ?',
  insert: `INSERT INTO roles (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  update: 'UPDATE roles SET assume_role_policy = ?, description = ?, max_session_duration = ?, tags = ? WHERE role_name = ?',
  list: listPage('roles', COLS, 'role_name'),
  delete: 'DELETE FROM roles WHERE role_name = ?',
  hasPolicy: 'SELECT 1 FROM role_policies WHERE role_name = ? LIMIT 1',
  hasAttachment: "SELECT 1 FROM policy_attachments WHERE target = 'role' AND target_name = ? LIMIT 1",
  putPolicy: `INSERT INTO role_policies (role_name, policy_name, document) VALUES (?, ?, ?)
     ON CONFLICT (role_name, policy_name) DO UPDATE SET document = excluded.document`,
  getPolicy: 'SELECT policy_name, document FROM role_policies WHERE role_name = ? AND policy_name = ?',
  listPolicies: 'SELECT policy_name FROM role_policies WHERE role_name = ? ORDER BY policy_name',
  deletePolicy: 'DELETE FROM role_policies WHERE role_name = ? AND policy_name = ?',
} as const;

export class SqliteRoleStore implements RoleStore {
  private readonly s: Statements<typeof ROLE_SQL>;

  constructor(private readonly sh: SqliteConnection) {
    this.s = sh.prepareAll(ROLE_SQL);
  }

  async create(r: RoleRecord): Promise<void> {
    this.sh.tx(() => {
      const taken = this.s.get.get(r.roleName) as RoleRow | undefined;
      if (taken) throw conflict.roleExists(taken.role_name);
      if (this.s.idExists.get(r.roleId) !== undefined) throw conflict.idExists('role', r.roleId);
      this.s.insert.run(...roleValues(r));
    });
  }

  async get(roleName: string): Promise<RoleRecord | undefined> {
    const r = this.s.get.get(roleName) as RoleRow | undefined;
    return r && toRole(r);
  }

  async list(q: ListUsersQuery = {}): Promise<RoleRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (this.s.list.all(pageParams(q)) as RoleRow[]).map(toRole);
  }

  async update(r: RoleRecord): Promise<boolean> {
    return this.s.update.run(...roleUpdateValues(r)).changes > 0;
  }

  async delete(roleName: string): Promise<boolean> {
    return this.sh.tx(() => {
      const r = this.s.get.get(roleName) as RoleRow | undefined;
      if (!r) return false;
      for (const g of ROLE_DELETE_GUARDS) if (this.s[g.found].get(r.role_name) !== undefined) throw deleteConflict(g, r.role_name);
      this.s.delete.run(r.role_name);
      return true;
    });
  }

  async putPolicy(roleName: string, policyName: string, document: string): Promise<void> {
    this.sh.tx(() => {
      const r = this.s.get.get(roleName) as RoleRow | undefined;
      if (!r) throw conflict.noTarget('role', roleName);
      this.s.putPolicy.run(r.role_name, policyName, document);
    });
  }

  async getPolicy(roleName: string, policyName: string): Promise<InlinePolicyRecord | undefined> {
    const r = this.s.getPolicy.get(roleName, policyName) as InlinePolicyRow | undefined;
    return r && toInlinePolicy(r);
  }

  async listPolicies(roleName: string): Promise<string[]> {
    return (this.s.listPolicies.all(roleName) as InlinePolicyRow[]).map(policyNameOf);
  }

  async deletePolicy(roleName: string, policyName: string): Promise<boolean> {
    return this.s.deletePolicy.run(roleName, policyName).changes > 0;
  }
}
