// Roles in the PostgreSQL IAM store: roles (trust policy, max session duration, tags)
// and role inline policies.

import type pg from 'pg';
import { changed, first, rows } from '../../storage/postgres/query.js';
import { serializable } from '../../storage/postgres/transaction.js';
import { IamStoreConflict } from './types.js';
import type { InlinePolicyRecord, ListUsersQuery, RoleRecord, RoleStore } from './types.js';
import { ci } from './pg-iam-schema.js';
import { listPage, pageValues } from './pg-iam-page.js';

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
      if (taken) throw new IamStoreConflict('EntityAlreadyExists', `Role with name ${taken.role_name} already exists.`);
      if (await changed(q, S.idExists, [r.roleId])) throw new IamStoreConflict('EntityAlreadyExists', `role id ${r.roleId} exists`);
      await q.query(S.insert, [
        r.roleName, r.roleId, r.arn, r.path, r.createDate, r.assumeRolePolicyDocument, r.description ?? null,
        r.maxSessionDuration, JSON.stringify(r.tags),
      ]);
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
    return changed(this.pool, S.update, [r.assumeRolePolicyDocument, r.description ?? null, r.maxSessionDuration, JSON.stringify(r.tags), r.roleName]);
  }

  async delete(roleName: string): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const r = await first<RoleRow>(q, S.get, [roleName]);
      if (!r) return false;
      if (await changed(q, S.hasPolicy, [r.role_name])) throw new IamStoreConflict('DeleteConflict', 'Cannot delete entity, must delete policies first.');
      if (await changed(q, S.hasAttachment, [r.role_name])) throw new IamStoreConflict('DeleteConflict', 'Cannot delete entity, must detach all policies first.');
      await q.query(S.delete, [r.role_name]);
      return true;
    });
  }

  async putPolicy(roleName: string, policyName: string, document: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      const r = await first<RoleRow>(q, S.get, [roleName]);
      if (!r) throw new IamStoreConflict('NoSuchEntity', `The role with name ${roleName} cannot be found.`);
      await q.query(S.putPolicy, [r.role_name, policyName, document]);
    });
  }

  async getPolicy(roleName: string, policyName: string): Promise<InlinePolicyRecord | undefined> {
    const r = await first<{ policy_name: string; document: string }>(this.pool, S.getPolicy, [roleName, policyName]);
    return r && { policyName: r.policy_name, document: r.document };
  }

  async listPolicies(roleName: string): Promise<string[]> {
    return (await rows<{ policy_name: string }>(this.pool, S.listPolicies, [roleName])).map((r) => r.policy_name);
  }

  async deletePolicy(roleName: string, policyName: string): Promise<boolean> {
    return changed(this.pool, S.deletePolicy, [roleName, policyName]);
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
