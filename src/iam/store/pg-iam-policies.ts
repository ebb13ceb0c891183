// Managed policies in the PostgreSQL IAM store: policies keyed by ARN, their versions
// (v1, v2, ...; one is the default) and their attachments to users, groups and roles.

import type pg from 'pg';
import { changed, first, rows } from '../../storage/postgres/query.js';
import { serializable, type Queryable } from '../../storage/postgres/transaction.js';
import type { AttachmentTarget, ListUsersQuery, ManagedPolicyRecord, ManagedPolicyStore, PolicyVersionRecord } from './types.js';
import { ci } from './pg-iam-schema.js';
import { listPage } from './pg-iam-page.js';
import { policyColumns, policyValues, toAttachedDocument, toPolicy, toVersion } from './iam-rows.js';
import type { AttachedDocumentRow, PolicyRow, VersionRow } from './iam-rows.js';
import { conflict } from './iam-conflicts.js';

const COLS = policyColumns('iam_policy_attachments');

const TARGET_NAME: Record<AttachmentTarget, string> = {
  user: `SELECT user_name AS name FROM iam_users WHERE lower(user_name) = ${ci(1)}`,
  group: `SELECT group_name AS name FROM iam_groups WHERE lower(group_name) = ${ci(1)}`,
  role: `SELECT role_name AS name FROM iam_roles WHERE lower(role_name) = ${ci(1)}`,
};

export const PG_POLICY_SQL = {
  get: `SELECT ${COLS} FROM iam_managed_policies p WHERE p.arn = $1`,
  byName: `SELECT arn FROM iam_managed_policies WHERE lower(policy_name) = ${ci(1)}`,
  insert: `INSERT INTO iam_managed_policies (arn, policy_name, policy_id, path, description, default_version, next_version, create_date, update_date)
     VALUES ($1, $2, $3, $4, $5, 'v1', 2, $6, $7)`,
  list: listPage('iam_managed_policies p', COLS, 'p.policy_name', 'p.path',
    '\n       AND (NOT $4::boolean OR EXISTS (SELECT 1 FROM iam_policy_attachments a WHERE a.policy_arn = p.arn))'),
  delete: 'DELETE FROM iam_managed_policies WHERE arn = $1',
  deleteVersions: 'DELETE FROM iam_policy_versions WHERE policy_arn = $1',
  insertVersion: 'INSERT INTO iam_policy_versions (policy_arn, version_id, document, create_date) VALUES ($1, $2, $3, $4)',
  getVersion: 'SELECT version_id, document, create_date FROM iam_policy_versions WHERE policy_arn = $1 AND version_id = $2',
  listVersions: 'SELECT version_id, document, create_date FROM iam_policy_versions WHERE policy_arn = $1 ORDER BY create_date DESC, version_id DESC',
  countVersions: 'SELECT COUNT(*) AS n FROM iam_policy_versions WHERE policy_arn = $1',
  deleteVersion: 'DELETE FROM iam_policy_versions WHERE policy_arn = $1 AND version_id = $2',
  setDefault: 'UPDATE iam_managed_policies SET default_version = $1, update_date = $2 WHERE arn = $3',
  bumpVersion: 'UPDATE iam_managed_policies SET next_version = next_version + 1, update_date = $1 WHERE arn = $2',
  attach: 'INSERT INTO iam_policy_attachments (target, target_name, policy_arn) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
  detach: `DELETE FROM iam_policy_attachments WHERE target = $1 AND lower(target_name) = ${ci(2)} AND policy_arn = $3`,
  attached: `SELECT ${COLS} FROM iam_policy_attachments a0 JOIN iam_managed_policies p ON p.arn = a0.policy_arn
     WHERE a0.target = $1 AND lower(a0.target_name) = ${ci(2)} ORDER BY lower(p.policy_name)`,
  attachedDocuments: `SELECT p.policy_name, p.arn, v.document FROM iam_policy_attachments a0
     JOIN iam_managed_policies p ON p.arn = a0.policy_arn
     JOIN iam_policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version
     WHERE a0.target = $1 AND lower(a0.target_name) = ${ci(2)} ORDER BY lower(p.policy_name)`,
} as const;

const S = PG_POLICY_SQL;

export class PgPolicyStore implements ManagedPolicyStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(p: Omit<ManagedPolicyRecord, 'defaultVersionId' | 'nextVersion' | 'attachmentCount'>, document: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      if ((await changed(q, S.byName, [p.policyName])) || (await changed(q, S.get, [p.arn]))) {
        throw conflict.policyExists(p.policyName);
      }
      await q.query(S.insert, policyValues(p));
      await q.query(S.insertVersion, [p.arn, 'v1', document, p.createDate]);
    });
  }

  async get(arn: string): Promise<ManagedPolicyRecord | undefined> {
    const r = await first<PolicyRow>(this.pool, S.get, [arn]);
    return r && toPolicy(r);
  }

  async list(q: ListUsersQuery & { onlyAttached?: boolean } = {}): Promise<ManagedPolicyRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    const values = [q.after ?? '', q.pathPrefix ?? null, q.limit ?? null, q.onlyAttached === true];
    return (await rows<PolicyRow>(this.pool, S.list, values)).map(toPolicy);
  }

  async delete(arn: string): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const r = await first<PolicyRow>(q, S.get, [arn]);
      if (!r) return false;
      if (r.attachments > 0) throw conflict.policyAttached();
      if ((await first<{ n: number }>(q, S.countVersions, [arn]))!.n > 1) {
        throw conflict.policyHasVersions();
      }
      await q.query(S.deleteVersions, [arn]);
      await q.query(S.delete, [arn]);
      return true;
    });
  }

  async createVersion(arn: string, document: string, setAsDefault: boolean, maxVersions: number): Promise<string> {
    return serializable(this.pool, async (q) => {
      const r = await this.require(q, arn);
      const n = (await first<{ n: number }>(q, S.countVersions, [arn]))!.n;
      if (n >= maxVersions) {
        throw conflict.tooManyVersions(maxVersions);
      }
      const versionId = `v${r.next_version}`;
      const now = Date.now();
      await q.query(S.insertVersion, [arn, versionId, document, now]);
      await q.query(S.bumpVersion, [now, arn]);
      if (setAsDefault) await q.query(S.setDefault, [versionId, now, arn]);
      return versionId;
    });
  }

  async getVersion(arn: string, versionId: string): Promise<PolicyVersionRecord | undefined> {
    const p = await first<PolicyRow>(this.pool, S.get, [arn]);
    if (!p) return undefined;
    const v = await first<VersionRow>(this.pool, S.getVersion, [arn, versionId]);
    return v && toVersion(v, p);
  }

  async listVersions(arn: string): Promise<PolicyVersionRecord[]> {
    const p = await first<PolicyRow>(this.pool, S.get, [arn]);
    if (!p) return [];
    return (await rows<VersionRow>(this.pool, S.listVersions, [arn])).map((v) => toVersion(v, p));
  }

  async deleteVersion(arn: string, versionId: string): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      const p = await first<PolicyRow>(q, S.get, [arn]);
      if (!p) return false;
      if (p.default_version === versionId) throw conflict.defaultVersion();
      return changed(q, S.deleteVersion, [arn, versionId]);
    });
  }

  async setDefaultVersion(arn: string, versionId: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      await this.require(q, arn);
      if (!(await changed(q, S.getVersion, [arn, versionId]))) {
        throw conflict.noVersion(arn, versionId);
      }
      await q.query(S.setDefault, [versionId, Date.now(), arn]);
    });
  }

  async attach(target: AttachmentTarget, name: string, arn: string): Promise<void> {
    await serializable(this.pool, async (q) => {
      await this.require(q, arn);
      const t = await first<{ name: string }>(q, TARGET_NAME[target], [name]);
      if (!t) throw conflict.noTarget(target, name);
      await q.query(S.attach, [target, t.name, arn]);
    });
  }

  async detach(target: AttachmentTarget, name: string, arn: string): Promise<boolean> {
    return changed(this.pool, S.detach, [target, name, arn]);
  }

  async attached(target: AttachmentTarget, name: string): Promise<ManagedPolicyRecord[]> {
    return (await rows<PolicyRow>(this.pool, S.attached, [target, name])).map(toPolicy);
  }

  async attachedDocuments(target: AttachmentTarget, name: string): Promise<{ policyName: string; arn: string; document: string }[]> {
    return (await rows<AttachedDocumentRow>(this.pool, S.attachedDocuments, [target, name])).map(toAttachedDocument);
  }

  private async require(q: Queryable, arn: string): Promise<PolicyRow> {
    const r = await first<PolicyRow>(q, S.get, [arn]);
    if (!r) throw conflict.noPolicy(arn);
    return r;
  }
}
