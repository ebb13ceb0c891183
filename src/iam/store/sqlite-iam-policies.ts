// Managed policies in the SQLite IAM store: policies keyed by ARN, their versions
// (v1, v2, ...; one is the default) and their attachments to users, groups and roles.

import type { AttachmentTarget, ListUsersQuery, ManagedPolicyRecord, ManagedPolicyStore, PolicyVersionRecord } from './types.js';
import { listPage, pageParams } from './sqlite-iam-page.js';
import type { SqliteConnection, Statements } from '../../storage/sqlite-connection.js';
import { policyColumns, policyValues, toAttachedDocument, toPolicy, toVersion } from './iam-rows.js';
import type { AttachedDocumentRow, PolicyRow, VersionRow } from './iam-rows.js';
import { conflict } from './iam-conflicts.js';

const COLS = policyColumns('policy_attachments');

export const POLICY_SQL = {
  get: `SELECT ${COLS} FROM managed_policies p WHERE p.arn = ?`,
  byName: 'SELECT arn FROM managed_policies WHERE policy_name = ?',
  insert: `INSERT INTO managed_policies (arn, policy_name, policy_id, path, description, default_version, next_version, create_date, update_date)
     VALUES (?, ?, ?, ?, ?, 'v1', 2, ?, ?)`,
  list: listPage('managed_policies p', COLS, 'p.policy_name', 'p.path',
    '\n       AND (@attached = 0 OR EXISTS (SELECT 1 FROM policy_attachments a WHERE a.policy_arn = p.arn))'),
  delete: 'DELETE FROM managed_policies WHERE arn = ?',
  deleteVersions: 'DELETE FROM managed_policy_versions WHERE policy_arn = ?',
  insertVersion: 'INSERT INTO managed_policy_versions (policy_arn, version_id, document, create_date) VALUES (?, ?, ?, ?)',
  getVersion: 'SELECT version_id, document, create_date FROM managed_policy_versions WHERE policy_arn = ? AND version_id = ?',
  listVersions: 'SELECT version_id, document, create_date FROM managed_policy_versions WHERE policy_arn = ? ORDER BY create_date DESC, version_id DESC',
  countVersions: 'SELECT COUNT(*) AS n FROM managed_policy_versions WHERE policy_arn = ?',
  deleteVersion: 'DELETE FROM managed_policy_versions WHERE policy_arn = ? AND version_id = ?',
  setDefault: 'UPDATE managed_policies SET default_version = ?, update_date = ? WHERE arn = ?',
  bumpVersion: 'UPDATE managed_policies SET next_version = next_version + 1, update_date = ? WHERE arn = ?',
  attach: 'INSERT OR IGNORE INTO policy_attachments (target, target_name, policy_arn) VALUES (?, ?, ?)',
  detach: 'DELETE FROM policy_attachments WHERE target = ? AND target_name = ? AND policy_arn = ?',
  attached: `SELECT ${COLS} FROM policy_attachments a0 JOIN managed_policies p ON p.arn = a0.policy_arn
     WHERE a0.target = ? AND a0.target_name = ? ORDER BY p.policy_name`,
  attachedDocuments: `SELECT p.policy_name, p.arn, v.document FROM policy_attachments a0
     JOIN managed_policies p ON p.arn = a0.policy_arn
     JOIN managed_policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version
     WHERE a0.target = ? AND a0.target_name = ? ORDER BY p.policy_name`,
  userName: 'SELECT user_name AS name FROM users WHERE user_name = ?',
  groupName: 'SELECT group_name AS name FROM groups WHERE group_name = ?',
  roleName: 'SELECT role_name AS name FROM roles WHERE role_name = ?',
} as const;

export class SqlitePolicyStore implements ManagedPolicyStore {
  private readonly s: Statements<typeof POLICY_SQL>;

  constructor(private readonly sh: SqliteConnection) {
    this.s = sh.prepareAll(POLICY_SQL);
  }

  async create(p: Omit<ManagedPolicyRecord, 'defaultVersionId' | 'nextVersion' | 'attachmentCount'>, document: string): Promise<void> {
    this.sh.tx(() => {
      if (this.s.byName.get(p.policyName) !== undefined || this.s.get.get(p.arn) !== undefined) {
        throw conflict.policyExists(p.policyName);
      }
      this.s.insert.run(...policyValues(p));
      this.s.insertVersion.run(p.arn, 'v1', document, p.createDate);
    });
  }

  async get(arn: string): Promise<ManagedPolicyRecord | undefined> {
    const r = this.s.get.get(arn) as PolicyRow | undefined;
    return r && toPolicy(r);
  }

  async list(q: ListUsersQuery & { onlyAttached?: boolean } = {}): Promise<ManagedPolicyRecord[]> {
    if (q.limit !== undefined && q.limit <= 0) return [];
    return (this.s.list.all({ ...pageParams(q), attached: q.onlyAttached ? 1 : 0 }) as PolicyRow[]).map(toPolicy);
  }

  async delete(arn: string): Promise<boolean> {
    return this.sh.tx(() => {
      const r = this.s.get.get(arn) as PolicyRow | undefined;
      if (!r) return false;
      if (r.attachments > 0) throw conflict.policyAttached();
      if ((this.s.countVersions.get(arn) as { n: number }).n > 1) {
        throw conflict.policyHasVersions();
      }
      this.s.deleteVersions.run(arn);
      this.s.delete.run(arn);
      return true;
    });
  }

  async createVersion(arn: string, document: string, setAsDefault: boolean, maxVersions: number): Promise<string> {
    return this.sh.tx(() => {
      const r = this.require(arn);
      const n = (this.s.countVersions.get(arn) as { n: number }).n;
      if (n >= maxVersions) {
        throw conflict.tooManyVersions(maxVersions);
      }
      const versionId = `v${r.next_version}`;
      const now = Date.now();
      this.s.insertVersion.run(arn, versionId, document, now);
      this.s.bumpVersion.run(now, arn);
      if (setAsDefault) this.s.setDefault.run(versionId, now, arn);
      return versionId;
    });
  }

  async getVersion(arn: string, versionId: string): Promise<PolicyVersionRecord | undefined> {
    const p = this.s.get.get(arn) as PolicyRow | undefined;
    if (!p) return undefined;
    const v = this.s.getVersion.get(arn, versionId) as VersionRow | undefined;
    return v && toVersion(v, p);
  }

  async listVersions(arn: string): Promise<PolicyVersionRecord[]> {
    const p = this.s.get.get(arn) as PolicyRow | undefined;
    if (!p) return [];
    return (this.s.listVersions.all(arn) as VersionRow[]).map((v) => toVersion(v, p));
  }

  async deleteVersion(arn: string, versionId: string): Promise<boolean> {
    return this.sh.tx(() => {
      const p = this.s.get.get(arn) as PolicyRow | undefined;
      if (!p) return false;
      if (p.default_version === versionId) throw conflict.defaultVersion();
      return this.s.deleteVersion.run(arn, versionId).changes > 0;
    });
  }

  async setDefaultVersion(arn: string, versionId: string): Promise<void> {
    this.sh.tx(() => {
      this.require(arn);
      if (this.s.getVersion.get(arn, versionId) === undefined) throw conflict.noVersion(arn, versionId);
      this.s.setDefault.run(versionId, Date.now(), arn);
    });
  }

  async attach(target: AttachmentTarget, name: string, arn: string): Promise<void> {
    this.sh.tx(() => {
      this.require(arn);
      const stmt = target === 'user' ? this.s.userName : target === 'group' ? this.s.groupName : this.s.roleName;
      const t = stmt.get(name) as { name: string } | undefined;
      if (!t) throw conflict.noTarget(target, name);
      this.s.attach.run(target, t.name, arn);
    });
  }

  async detach(target: AttachmentTarget, name: string, arn: string): Promise<boolean> {
    return this.s.detach.run(target, name, arn).changes > 0;
  }

  async attached(target: AttachmentTarget, name: string): Promise<ManagedPolicyRecord[]> {
    return (this.s.attached.all(target, name) as PolicyRow[]).map(toPolicy);
  }

  async attachedDocuments(target: AttachmentTarget, name: string): Promise<{ policyName: string; arn: string; document: string }[]> {
    return (this.s.attachedDocuments.all(target, name) as AttachedDocumentRow[]).map(toAttachedDocument);
  }

  private require(arn: string): PolicyRow {
    const r = this.s.get.get(arn) as PolicyRow | undefined;
    if (!r) throw conflict.noPolicy(arn);
    return r;
  }
}
