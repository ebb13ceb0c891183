// Roles in the PostgreSQL IAM store: roles (trust policy, max session duration, tags)
// and role inline policies.

import type pg from 'pg';
import { changed, first, rows } from '../../storage/postgres/query.js';
import { serializable } from '../../storage/postgres/transaction.js';
import type { InlinePolicyRecord, ListUsersQuery, RoleRecord, RoleStore } from './types.js';
import { ci } from './pg-iam-schema.js';
import { listPage, pageValues } from './pg-iam-page.js';
import { ROLE_COLUMNS as COLS, policyNameOf, roleUpdateValues, roleValues, toInlinePolicy, toRole } from './iam-rows.js';
import type { InlinePolicyRow, RoleRow } from './iam-rows.js';
import { conflict, deleteConflict, ROLE_DELETE_GUARDS } from './iam-conflicts.js';

export const PG_ROLE_SQL = {
  get: `SELECT ${COLS} FROM iam_roles WHERE lower(role_name) = ${ci(1)}`,
  idExists: 'SELECT 1 FROM iam_roles WHERE role_id = $1',
  insert: `INSERT INTO iam_roles (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  update: `UPDATE iam_roles SET assume_role_policy = $1, description = $2, max_session_duration = $3, tags = $4 WHERE lower(role_name) = ${ci(5)}`,
  list: listPage('iam_roles', COLS, 'role_name'),
  delete: 'DELETE FROM iam_roles WHERE role_name = $1',
  hasPolicy: `SELECT 1 FROM iam_role_policies WHERE lower(role_name) = ${ci(1)} LIMIT 1`,
  hasAttachment: `SELECT 1 FROM iam_policy_attachments WHERE target = 'role' AND lower(target_name) = ${ci(1)} LIMIT 1`,
  putPolicy: `INSERT INTO iam_role_policies (role_name, policy_name, document) VALUES ($1, $2, $3)
     ON CONFLICT ((lower(role_name)), (lower(policy_name))) DO UPDATE SET document = excluded.document`,
  getPolicy: `SELECT policy_name, document FROM iam_role_policies WHERE lower(role_name) = ${ci(1)} AND lower(policy_name) = ${ci(2)}`,
  listPolicies: `SELECT policy_name FROM iam_role_policies WHERE lower(role_name) = ${ci(1)} ORDER BY lower(policy_name)`,
  deletePolicy: `DELETE FROM iam_role_policies WHERE lower(role_name) = ${ci(1)} AND lower(policy_name) = ${ci(2)}`,
} as const;

const S = PG_ROLE_SQL;

export class PgRoleStore implements RoleStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: RoleRecord): Promise<void> {
    await serializable(this.pool, async (q) => {
      const taken = await first<RoleRow>(q, S.get, [r.roleName]);
      if (taken) throw conflict.roleExists(taken.role_name);
      if (await changed(q, S.idExists, [r.roleId])) throw conflict.idExists('role', r.roleId);
      await q.query(S.insert, roleValues(r));
    });
  }

  async get(roleName: string): Promise<RoleRecord | undefined> {
    const r = await first<RoleRow>(this.pool, S.get, [roleName]);
    return r && toRole(r);
  }

  async list(q: ListUsersQuery = {}): Promise<RoleRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (await rows<RoleRow>(this.pool, S.list, pageValues(q))).map(toRole);
  }

  async update(r: RoleRecord): Promise<boolean> {
    return changed(this.pool, S.update, roleUpdateValues(r));
  }

  async delete(roleName: string): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const r = await first<RoleRow>(q, S.get, [roleName]);
      if (!r) return false;
      for (const g of ROLE_DELETE_GUARDS) if (await changed(q, S[g.found], [r.role_name])) throw deleteConflict(g, r.role_name);
      await q.query(S.delete, [r.role_name]);
      return true;
    });
  }

  async putPolicy(roleName: string, policyName: string, document: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      const r = await first<RoleRow>(q, S.get, [roleName]);
      if (!r) throw conflict.noTarget('role', roleName);
      await q.query(S.putPolicy, [r.role_name, policyName, document]);
    });
  }

  async getPolicy(roleName: string, policyName: string): Promise<InlinePolicyRecord | undefined> {
    const r = await first<InlinePolicyRow>(this.pool, S.getPolicy, [roleName, policyName]);
    return r && toInlinePolicy(r);
  }

  async listPolicies(roleName: string): Promise<string[]> {
    return (await rows<InlinePolicyRow>(this.pool, S.listPolicies, [roleName])).map(policyNameOf);
  }

  async deletePolicy(roleName: string, policyName: string): Promise<boolean> {
    return changed(this.pool, S.deletePolicy, [roleName, policyName]);
  }
}
