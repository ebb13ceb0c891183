// The KMS store on PostgreSQL, for nodes of a cluster sharing one database
// (docs/CLUSTER.md); the twin of sqlite-kms-store.ts, passing the same contract suite.
//
// Every multi-step write runs in one SERIALIZABLE transaction that is retried on a
// serialization failure (src/storage/postgres/transaction.ts), so the checks SQLite's
// single writer made safe (an alias name is free, a grant name is free on its key, a
// tag's position is the next one) hold across nodes. Single-statement writes run on
// their own. Nothing is cached: another node may write at any time. Every write of a key
// record that carries a revision is a compare-and-swap on it (KmsKeyRecord.revision).
//
// Sealed material is stored and returned as it came (BYTEA); it never appears in an
// error message or a log line from here.

import type pg from 'pg';
import { migrate } from '../../storage/postgres/migrate.js';
import { serializable, type Queryable } from '../../storage/postgres/transaction.js';
import { conflict } from './kms-conflicts.js';
import type { AliasRecord, GrantRecord, KeyListCursor, KeyMaterialRecord, KmsKeyRecord, KmsStore, Tag } from './types.js';
import { keyValues, mutableKeyValues, toAlias, toGrant, toKey, toMaterial, toTag } from './sqlite-kms-rows.js';
import type { AliasRow, GrantRow, KeyRow, MaterialRow } from './sqlite-kms-rows.js';
import { PG_KMS_MIGRATIONS } from './pg-kms-schema.js';

export interface PgKmsStoreOptions {
  /** End the pool when the store closes (a pool of its own); by default the pool is the caller's. */
  closePool?: boolean;
}

// rotation_enabled is a BOOLEAN here and 0/1 in SQLite: selected as 0/1, the row mappers are shared.
const KEY_COLUMNS =
  'key_id, arn, account_id, region, description, key_usage, key_spec, origin, key_manager, state, creation_date, ' +
  'deletion_date, pending_window_days, policy, rotation_enabled::int AS rotation_enabled, rotation_period_days, ' +
  'next_rotation_date, on_demand_rotations, current_version, expiration_model, valid_to, pending_version, import_tokens';
const KEY_INSERT_COLUMNS = KEY_COLUMNS.replace('rotation_enabled::int AS rotation_enabled', 'rotation_enabled');
// Selected, not inserted: a new key's revision is the column's default (1).
const KEY_SELECT = `${KEY_COLUMNS}, revision`;
const MATERIAL_COLUMNS = 'key_id, version, material_id, sealed, created_at, rotation_type';
const ALIAS_COLUMNS = 'alias_name, key_id, creation_date, last_updated_date';
const GRANT_COLUMNS =
  'grant_id, key_id, name, grantee_principal, retiring_principal, issuing_account, operations, constraints, creation_date, grant_token';

const params = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`).join(', ');

/** Every statement the store runs, by name. */
export const PG_KMS_SQL = {
  keyExists: 'SELECT 1 FROM kms_keys WHERE key_id = $1',
  keyRevision: 'SELECT revision FROM kms_keys WHERE key_id = $1',
  getKey: `SELECT ${KEY_SELECT} FROM kms_keys WHERE key_id = $1`,
  insertKey: `INSERT INTO kms_keys (${KEY_INSERT_COLUMNS}) VALUES (${params(23)})`,
  updateKey: `UPDATE kms_keys SET description = $1, state = $2, deletion_date = $3, pending_window_days = $4, policy = $5,
       rotation_enabled = $6, rotation_period_days = $7, next_rotation_date = $8, on_demand_rotations = $9, current_version = $10,
       expiration_model = $11, valid_to = $12, pending_version = $13, import_tokens = $14, revision = revision + 1
     WHERE key_id = $15 AND ($16::integer IS NULL OR revision = $16)`,
  deleteKey: 'DELETE FROM kms_keys WHERE key_id = $1',
  listKeysFirst: `SELECT ${KEY_SELECT} FROM kms_keys ORDER BY creation_date, key_id LIMIT $1`,
  listKeysAfter: `SELECT ${KEY_SELECT} FROM kms_keys WHERE (creation_date, key_id) > ($1, $2) ORDER BY creation_date, key_id LIMIT $3`,
  dueForDeletion: `SELECT ${KEY_SELECT} FROM kms_keys WHERE deletion_date <= $1 AND state = 'PendingDeletion' ORDER BY deletion_date, key_id`,
  dueForRotation: `SELECT ${KEY_SELECT} FROM kms_keys WHERE next_rotation_date <= $1 AND rotation_enabled AND state = 'Enabled'
     ORDER BY next_rotation_date, key_id`,
  dueForExpiry: `SELECT ${KEY_SELECT} FROM kms_keys WHERE valid_to <= $1 AND state IN ('Enabled', 'Disabled') ORDER BY valid_to, key_id`,

  insertMaterial: `INSERT INTO kms_key_materials (${MATERIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
  materialExists: 'SELECT 1 FROM kms_key_materials WHERE key_id = $1 AND version = $2',
  upsertMaterial: `INSERT INTO kms_key_materials (${MATERIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (key_id, version) DO UPDATE SET material_id = excluded.material_id, sealed = excluded.sealed,
       created_at = excluded.created_at, rotation_type = excluded.rotation_type`,
  getMaterial: `SELECT ${MATERIAL_COLUMNS} FROM kms_key_materials WHERE key_id = $1 AND version = $2`,
  listMaterials: `SELECT ${MATERIAL_COLUMNS} FROM kms_key_materials WHERE key_id = $1 ORDER BY version`,
  resealMaterial: 'UPDATE kms_key_materials SET sealed = $1 WHERE key_id = $2 AND version = $3 AND sealed = $4',
  deleteMaterials: 'DELETE FROM kms_key_materials WHERE key_id = $1',

  insertAlias: `INSERT INTO kms_aliases (${ALIAS_COLUMNS}) VALUES ($1, $2, $3, $4)`,
  getAlias: `SELECT ${ALIAS_COLUMNS} FROM kms_aliases WHERE alias_name = $1`,
  updateAlias: 'UPDATE kms_aliases SET key_id = $1, last_updated_date = $2 WHERE alias_name = $3',
  deleteAlias: 'DELETE FROM kms_aliases WHERE alias_name = $1',
  listAliases: `SELECT ${ALIAS_COLUMNS} FROM kms_aliases ORDER BY alias_name`,
  listAliasesOfKey: `SELECT ${ALIAS_COLUMNS} FROM kms_aliases WHERE key_id = $1 ORDER BY alias_name`,
  deleteAliasesOfKey: 'DELETE FROM kms_aliases WHERE key_id = $1',

  insertGrant: `INSERT INTO kms_grants (${GRANT_COLUMNS}) VALUES (${params(10)})`,
  getGrant: `SELECT ${GRANT_COLUMNS} FROM kms_grants WHERE grant_id = $1`,
  grantByToken: `SELECT ${GRANT_COLUMNS} FROM kms_grants WHERE grant_token = $1`,
  grantByName: `SELECT ${GRANT_COLUMNS} FROM kms_grants WHERE key_id = $1 AND name = $2`,
  listGrants: `SELECT ${GRANT_COLUMNS} FROM kms_grants WHERE key_id = $1 ORDER BY seq`,
  listGrantsByRetiring: `SELECT ${GRANT_COLUMNS} FROM kms_grants WHERE retiring_principal = $1 ORDER BY seq`,
  deleteGrant: 'DELETE FROM kms_grants WHERE grant_id = $1',
  deleteGrantsOfKey: 'DELETE FROM kms_grants WHERE key_id = $1',

  getTags: 'SELECT tag_key, tag_value FROM kms_key_tags WHERE key_id = $1 ORDER BY position',
  upsertTag: `INSERT INTO kms_key_tags (key_id, tag_key, tag_value, position)
     VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM kms_key_tags WHERE key_id = $1))
     ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
  deleteTag: 'DELETE FROM kms_key_tags WHERE key_id = $1 AND tag_key = $2',
  deleteTagsOfKey: 'DELETE FROM kms_key_tags WHERE key_id = $1',
} as const;

const S = PG_KMS_SQL;

/** rotation_enabled is a BOOLEAN here. */
const asBoolean = (b: boolean): boolean => b;

/** The values of updateKey: the mutable fields, the key id, the revision it must still be at (null: any). */
function updateValues(k: KmsKeyRecord): unknown[] {
  return [...mutableKeyValues(k, asBoolean), k.keyId, k.revision ?? null];
}

export class PgKmsStore implements KmsStore {
  private closed = false;

  private constructor(private readonly pool: pg.Pool, private readonly opts: PgKmsStoreOptions) {}

  /** Brings the KMS tables up to date (once across nodes) and returns the store. */
  static async open(pool: pg.Pool, opts: PgKmsStoreOptions = {}): Promise<PgKmsStore> {
    try {
      await migrate(pool, 'kms', PG_KMS_MIGRATIONS, 'KMS database');
    } catch (e) {
      if (opts.closePool) await pool.end();
      throw e;
    }
    return new PgKmsStore(pool, opts);
  }

  private async rows<R>(sql: string, values: unknown[], q: Queryable = this.pool): Promise<R[]> {
    return (await q.query(sql, values)).rows as R[];
  }

  private async changed(sql: string, values: unknown[], q: Queryable = this.pool): Promise<boolean> {
    return ((await q.query(sql, values)).rowCount ?? 0) > 0;
  }

  // ---- keys ----

  async createKey(key: KmsKeyRecord, material: KeyMaterialRecord | undefined, tags: Tag[]): Promise<void> {
    if (material && (material.keyId !== key.keyId || material.version !== key.currentVersion)) {
      throw new RangeError('createKey: the material must be the key\'s current version');
    }
    await serializable(this.pool, async (q) => {
      if (await this.changed(S.keyExists, [key.keyId], q)) throw conflict.keyExists(key.keyId);
      await q.query(S.insertKey, keyValues(key, asBoolean));
      if (material) await this.insertMaterial(q, material);
      for (const t of tags) await q.query(S.upsertTag, [key.keyId, t.TagKey, t.TagValue]);
    });
  }

  async getKey(keyId: string): Promise<KmsKeyRecord | undefined> {
    const [row] = await this.rows<KeyRow>(S.getKey, [keyId]);
    return row && toKey(row);
  }

  async listKeys(after: string | KeyListCursor | undefined, limit: number): Promise<KmsKeyRecord[]> {
    if (limit <= 0) return [];
    if (after === undefined) return (await this.rows<KeyRow>(S.listKeysFirst, [limit])).map(toKey);
    let cursor: KeyListCursor;
    if (typeof after === 'string') {
      const [row] = await this.rows<KeyRow>(S.getKey, [after]);
      if (row === undefined) throw conflict.noMarkerKey(after);
      cursor = { creationDate: row.creation_date, keyId: row.key_id };
    } else {
      cursor = after;
    }
    return (await this.rows<KeyRow>(S.listKeysAfter, [cursor.creationDate, cursor.keyId, limit])).map(toKey);
  }

  async updateKey(key: KmsKeyRecord): Promise<boolean> {
    // One statement at READ COMMITTED: a concurrent writer of the row makes this one wait,
    // then the revision test is made again on the row it committed (so it fails).
    if (await this.changed(S.updateKey, updateValues(key))) return true;
    if (!(await this.changed(S.keyExists, [key.keyId]))) return false;
    throw conflict.changed(key.keyId, key.revision);
  }

  async deleteKey(keyId: string, ifRevision?: number): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      if (ifRevision !== undefined) {
        const [row] = await this.rows<{ revision: number }>(S.keyRevision, [keyId], q);
        if (row === undefined) return false;
        if (row.revision !== ifRevision) throw conflict.changed(keyId, ifRevision);
      }
      await q.query(S.deleteTagsOfKey, [keyId]);
      await q.query(S.deleteGrantsOfKey, [keyId]);
      await q.query(S.deleteAliasesOfKey, [keyId]);
      await q.query(S.deleteMaterials, [keyId]);
      return this.changed(S.deleteKey, [keyId], q);
    });
  }

  // ---- material ----

  async getMaterial(keyId: string, version: number): Promise<KeyMaterialRecord | undefined> {
    const [row] = await this.rows<MaterialRow>(S.getMaterial, [keyId, version]);
    return row && toMaterial(row);
  }

  async listMaterials(keyId: string): Promise<KeyMaterialRecord[]> {
    return (await this.rows<MaterialRow>(S.listMaterials, [keyId])).map(toMaterial);
  }

  async resealMaterial(keyId: string, version: number, expected: Buffer, sealed: Buffer): Promise<boolean> {
    // Compare-and-swap in one statement (as sqlite-kms-store.ts), run in the store's
    // SERIALIZABLE transaction so a rotation racing another node's write retries or loses cleanly.
    return serializable(this.pool, (q) => this.changed(S.resealMaterial, [sealed, keyId, version, expected], q));
  }

  async addMaterial(material: KeyMaterialRecord, key: KmsKeyRecord): Promise<void> {
    if (material.keyId !== key.keyId) throw new RangeError('addMaterial: the material belongs to another key');
    await serializable(this.pool, async (q) => {
      await this.requireKey(q, key.keyId);
      await this.insertMaterial(q, material);
      if (!(await this.changed(S.updateKey, updateValues({ ...key, currentVersion: material.version }), q))) throw conflict.changed(key.keyId, key.revision);
    });
  }

  async putMaterial(material: KeyMaterialRecord, key: KmsKeyRecord): Promise<void> {
    if (material.keyId !== key.keyId) throw new RangeError('putMaterial: the material belongs to another key');
    await serializable(this.pool, async (q) => {
      await this.requireKey(q, key.keyId);
      if (!(await this.changed(S.updateKey, updateValues(key), q))) throw conflict.changed(key.keyId, key.revision);
      await q.query(S.upsertMaterial, [material.keyId, material.version, material.materialId, material.sealed, material.createdAt, material.rotationType ?? null]);
    });
  }

  // ---- aliases ----

  async createAlias(a: AliasRecord): Promise<void> {
    await serializable(this.pool, async (q) => {
      if (await this.changed(S.getAlias, [a.aliasName], q)) throw conflict.aliasExists(a.aliasName);
      await this.requireKey(q, a.keyId);
      await q.query(S.insertAlias, [a.aliasName, a.keyId, a.creationDate, a.lastUpdatedDate]);
    });
  }

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    const [row] = await this.rows<AliasRow>(S.getAlias, [aliasName]);
    return row && toAlias(row);
  }

  async updateAlias(aliasName: string, keyId: string, now: number): Promise<boolean> {
    return serializable(this.pool, async (q) => {
      if (!(await this.changed(S.getAlias, [aliasName], q))) return false;
      await this.requireKey(q, keyId);
      return this.changed(S.updateAlias, [keyId, now, aliasName], q);
    });
  }

  async deleteAlias(aliasName: string): Promise<boolean> {
    return this.changed(S.deleteAlias, [aliasName]);
  }

  async listAliases(keyId?: string): Promise<AliasRecord[]> {
    const rows = keyId === undefined ? await this.rows<AliasRow>(S.listAliases, []) : await this.rows<AliasRow>(S.listAliasesOfKey, [keyId]);
    return rows.map(toAlias);
  }

  // ---- grants ----

  async createGrant(g: GrantRecord): Promise<void> {
    await serializable(this.pool, async (q) => {
      await this.requireKey(q, g.keyId);
      if (await this.changed(S.getGrant, [g.grantId], q)) throw conflict.grantExists(g.grantId);
      if (await this.changed(S.grantByToken, [g.grantToken], q)) throw conflict.grantTokenExists();
      if (g.name !== undefined && (await this.changed(S.grantByName, [g.keyId, g.name], q))) {
        throw conflict.grantNameTaken(g.keyId, g.name);
      }
      await q.query(S.insertGrant, [
        g.grantId, g.keyId, g.name ?? null, g.granteePrincipal, g.retiringPrincipal ?? null, g.issuingAccount,
        JSON.stringify(g.operations), g.constraints === undefined ? null : JSON.stringify(g.constraints),
        g.creationDate, g.grantToken,
      ]);
    });
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    const [row] = await this.rows<GrantRow>(S.getGrant, [grantId]);
    return row && toGrant(row);
  }

  async findGrantByToken(token: string): Promise<GrantRecord | undefined> {
    const [row] = await this.rows<GrantRow>(S.grantByToken, [token]);
    return row && toGrant(row);
  }

  async findGrantByName(keyId: string, name: string): Promise<GrantRecord | undefined> {
    const [row] = await this.rows<GrantRow>(S.grantByName, [keyId, name]);
    return row && toGrant(row);
  }

  async listGrants(keyId: string): Promise<GrantRecord[]> {
    return (await this.rows<GrantRow>(S.listGrants, [keyId])).map(toGrant);
  }

  async listGrantsByRetiringPrincipal(principal: string): Promise<GrantRecord[]> {
    return (await this.rows<GrantRow>(S.listGrantsByRetiring, [principal])).map(toGrant);
  }

  async deleteGrant(grantId: string): Promise<boolean> {
    return this.changed(S.deleteGrant, [grantId]);
  }

  // ---- tags ----

  async getTags(keyId: string): Promise<Tag[]> {
    return (await this.rows<{ tag_key: string; tag_value: string }>(S.getTags, [keyId])).map(toTag);
  }

  async setTags(keyId: string, tags: Tag[]): Promise<void> {
    await serializable(this.pool, async (q) => {
      await this.requireKey(q, keyId);
      for (const t of tags) await q.query(S.upsertTag, [keyId, t.TagKey, t.TagValue]);
    });
  }

  async removeTags(keyId: string, tagKeys: string[]): Promise<void> {
    await serializable(this.pool, async (q) => {
      await this.requireKey(q, keyId);
      for (const k of tagKeys) await q.query(S.deleteTag, [keyId, k]);
    });
  }

  // ---- sweeps ----

  async dueForDeletion(now: number): Promise<KmsKeyRecord[]> {
    return (await this.rows<KeyRow>(S.dueForDeletion, [now])).map(toKey);
  }

  async dueForRotation(now: number): Promise<KmsKeyRecord[]> {
    return (await this.rows<KeyRow>(S.dueForRotation, [now])).map(toKey);
  }

  async dueForExpiry(now: number): Promise<KmsKeyRecord[]> {
    return (await this.rows<KeyRow>(S.dueForExpiry, [now])).map(toKey);
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('the store is closed');
    await this.pool.query('SELECT 1 FROM kms_keys LIMIT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.opts.closePool) await this.pool.end();
  }

  // ---- internals ----

  private async requireKey(q: Queryable, keyId: string): Promise<void> {
    if (!(await this.changed(S.keyExists, [keyId], q))) throw conflict.noKey(keyId);
  }

  private async insertMaterial(q: Queryable, m: KeyMaterialRecord): Promise<void> {
    if (await this.changed(S.materialExists, [m.keyId, m.version], q)) {
      throw conflict.materialExists(m.keyId, m.version);
    }
    await q.query(S.insertMaterial, [m.keyId, m.version, m.materialId, m.sealed, m.createdAt, m.rotationType ?? null]);
  }
}
