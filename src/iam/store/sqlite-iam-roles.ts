// Roles in the SQLite IAM store: the roles table (trust policy, max session duration,
// tags) and role inline policies.

import type Database from 'better-sqlite3';
import { IamStoreConflict } from './types.js';
import type { InlinePolicyRecord, ListUsersQuery, RoleRecord, RoleStore } from './types.js';
import type { SqliteShared } from './sqlite-iam-shared.js';

interface RoleRow {
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

const COLS = 'role_name, role_id, arn, path, create_date, assume_role_policy, description, max_session_duration, tags';

export const ROLE_SQL = {
  get: `SELECT ${COLS} FROM roles WHERE role_name = ?`,
  idExists: 'SELECT 1 FROM roles WHERE role_id = ?',
  insert: `INSERT INTO roles (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  update: 'UPDATE roles SET assume_role_policy = ?, description = ?, max_session_duration = ?, tags = ? WHERE role_name = ?',
  list: `SELECT ${COLS} FROM roles
     WHERE role_name > @after AND (@prefix IS NULL OR substr(path, 1, length(@prefix)) = @prefix)
     ORDER BY role_name LIMIT @limit`,
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
  private readonly s: { readonly [K in keyof typeof ROLE_SQL]: Database.Statement<unknown[], unknown> };

  constructor(private readonly sh: SqliteShared) {
    this.s = sh.prepareAll(ROLE_SQL);
  }

  async create(r: RoleRecord): Promise<void> {
    this.sh.tx(() => {
      const taken = this.s.get.get(r.roleName) as RoleRow | undefined;
      if (taken) throw new IamStoreConflict('EntityAlreadyExists', `Role with name ${taken.role_name} already exists.`);
      if (this.s.idExists.get(r.roleId) !== undefined) throw new IamStoreConflict('EntityAlreadyExists', `role id ${r.roleId} exists`);
      this.s.insert.run(r.roleName, r.roleId, r.arn, r.path, r.createDate, r.assumeRolePolicyDocument, r.description ?? null, r.maxSessionDuration, JSON.stringify(r.tags));
    });
  }

  async get(roleName: string): Promise<RoleRecord | undefined> {
    const r = this.s.get.get(roleName) as RoleRow | undefined;
    return r && toRole(r);
  }

  async list(q: ListUsersQuery = {}): Promise<RoleRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (this.s.list.all({ after: q.after ?? '', prefix: q.pathPrefix ?? null, limit: q.limit ?? -1 }) as RoleRow[]).map(toRole);
  }

  async update(r: RoleRecord): Promise<boolean> {
    return this.s.update.run(r.assumeRolePolicyDocument, r.description ?? null, r.maxSessionDuration, JSON.stringify(r.tags), r.roleName).changes > 0;
  }

  async delete(roleName: string): Promise<boolean> {
    return this.sh.tx(() => {
      const r = this.s.get.get(roleName) as RoleRow | undefined;
      if (!r) return false;
      if (this.s.hasPolicy.get(r.role_name) !== undefined) throw new IamStoreConflict('DeleteConflict', 'Cannot delete entity, must delete policies first.');
      if (this.s.hasAttachment.get(r.role_name) !== undefined) throw new IamStoreConflict('DeleteConflict', 'Cannot delete entity, must detach all policies first.');
      this.s.delete.run(r.role_name);
      return true;
    });
  }

  async putPolicy(roleName: string, policyName: string, document: string): Promise<void> {
    this.sh.tx(() => {
      const r = this.s.get.get(roleName) as RoleRow | undefined;
      if (!r) throw new IamStoreConflict('NoSuchEntity', `The role with name ${roleName} cannot be found.`);
      this.s.putPolicy.run(r.role_name, policyName, document);
    });
  }

  async getPolicy(roleName: string, policyName: string): Promise<InlinePolicyRecord | undefined> {
    const r = this.s.getPolicy.get(roleName, policyName) as { policy_name: string; document: string } | undefined;
    return r && { policyName: r.policy_name, document: r.document };
  }

  async listPolicies(roleName: string): Promise<string[]> {
    return (this.s.listPolicies.all(roleName) as { policy_name: string }[]).map((r) => r.policy_name);
  }

  async deletePolicy(roleName: string, policyName: string): Promise<boolean> {
    return this.s.deletePolicy.run(roleName, policyName).changes > 0;
  }
}

function toRole(r: RoleRow): RoleRecord {
  const out: RoleRecord = {
    roleName: r.role_name, roleId: r.role_id, arn: r.arn, path: r.path, createDate: r.create_date,
    assumeRolePolicyDocument: r.assume_role_policy, maxSessionDuration: r.max_session_duration, tags: JSON.parse(r.tags),
  };
  if (r.description !== null) out.description = r.description;
  return out;
}
