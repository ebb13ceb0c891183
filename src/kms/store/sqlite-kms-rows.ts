// Row shapes, prepared statements and row <-> record mapping of the SQLite KMS store
// (sqlite-kms-store.ts). Statements are prepared once per connection.

import type Database from 'better-sqlite3';
import type { AliasRecord, GrantRecord, KeyMaterialRecord, KmsKeyRecord, Tag } from './types.js';

export interface KeyRow {
  key_id: string;
  arn: string;
  account_id: string;
  region: string;
  description: string;
  key_usage: string;
  key_spec: string;
  origin: string;
  key_manager: string;
  state: string;
  creation_date: number;
  deletion_date: number | null;
  pending_window_days: number | null;
  policy: string;
  rotation_enabled: number;
  rotation_period_days: number | null;
  next_rotation_date: number | null;
  on_demand_rotations: number;
  current_version: number;
  expiration_model: string | null;
  valid_to: number | null;
  pending_version: number | null;
  import_tokens: string | null;
  revision: number;
}

export interface MaterialRow {
  key_id: string;
  version: number;
  material_id: string;
  sealed: Buffer;
  created_at: number;
  rotation_type: string | null;
}

export interface AliasRow {
  alias_name: string;
  key_id: string;
  creation_date: number;
  last_updated_date: number;
}

export interface GrantRow {
  grant_id: string;
  key_id: string;
  name: string | null;
  grantee_principal: string;
  retiring_principal: string | null;
  issuing_account: string;
  operations: string;
  constraints: string | null;
  creation_date: number;
  grant_token: string;
}

export type Stmt = Database.Statement<unknown[], unknown>;

const KEY_COLUMNS =
  'key_id, arn, account_id, region, description, key_usage, key_spec, origin, key_manager, state, creation_date, ' +
  'deletion_date, pending_window_days, policy, rotation_enabled, rotation_period_days, next_rotation_date, ' +
  'on_demand_rotations, current_version, expiration_model, valid_to, pending_version, import_tokens';
// Selected, not inserted: a new key's revision is the column's default (1).
const KEY_SELECT = `${KEY_COLUMNS}, revision`;
const MATERIAL_COLUMNS = 'key_id, version, material_id, sealed, created_at, rotation_type';
const ALIAS_COLUMNS = 'alias_name, key_id, creation_date, last_updated_date';
const GRANT_COLUMNS =
  'grant_id, key_id, name, grantee_principal, retiring_principal, issuing_account, operations, constraints, creation_date, grant_token';

/** Every statement the store runs, by name (exported so tests can check their query plans). */
export const KMS_SQL = {
  keyExists: 'SELECT 1 FROM keys WHERE key_id = ?',
  keyRevision: 'SELECT revision FROM keys WHERE key_id = ?',
  getKey: `SELECT ${KEY_SELECT} FROM keys WHERE key_id = ?`,
  insertKey: `INSERT INTO keys (${KEY_COLUMNS}) VALUES (${KEY_COLUMNS.split(',').map(() => '?').join(', ')})`,
  updateKey: `UPDATE keys SET description = ?, state = ?, deletion_date = ?, pending_window_days = ?, policy = ?,
       rotation_enabled = ?, rotation_period_days = ?, next_rotation_date = ?, on_demand_rotations = ?, current_version = ?,
       expiration_model = ?, valid_to = ?, pending_version = ?, import_tokens = ?, revision = revision + 1
     WHERE key_id = ? AND (? IS NULL OR revision = ?)`,
  deleteKey: 'DELETE FROM keys WHERE key_id = ?',
  listKeysFirst: `SELECT ${KEY_SELECT} FROM keys ORDER BY creation_date, key_id LIMIT ?`,
  listKeysAfter: `SELECT ${KEY_SELECT} FROM keys WHERE (creation_date, key_id) > (?, ?) ORDER BY creation_date, key_id LIMIT ?`,
  // `deletion_date <= ?` (not NULL) and `next_rotation_date <= ?` let SQLite use the partial indexes.
  dueForDeletion: `SELECT ${KEY_SELECT} FROM keys WHERE deletion_date <= ? AND state = 'PendingDeletion' ORDER BY deletion_date, key_id`,
  dueForRotation: `SELECT ${KEY_SELECT} FROM keys WHERE next_rotation_date <= ? AND rotation_enabled = 1 AND state = 'Enabled'
     ORDER BY next_rotation_date, key_id`,
  dueForExpiry: `SELECT ${KEY_SELECT} FROM keys WHERE valid_to <= ? AND state IN ('Enabled', 'Disabled') ORDER BY valid_to, key_id`,

  insertMaterial: `INSERT INTO key_materials (${MATERIAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
  materialExists: 'SELECT 1 FROM key_materials WHERE key_id = ? AND version = ?',
  upsertMaterial: `INSERT INTO key_materials (${MATERIAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (key_id, version) DO UPDATE SET material_id = excluded.material_id, sealed = excluded.sealed,
       created_at = excluded.created_at, rotation_type = excluded.rotation_type`,
  getMaterial: `SELECT ${MATERIAL_COLUMNS} FROM key_materials WHERE key_id = ? AND version = ?`,
  listMaterials: `SELECT ${MATERIAL_COLUMNS} FROM key_materials WHERE key_id = ? ORDER BY version`,
  deleteMaterials: 'DELETE FROM key_materials WHERE key_id = ?',
  resealMaterial: 'UPDATE key_materials SET sealed = ? WHERE key_id = ? AND version = ? AND sealed = ?',

  insertAlias: `INSERT INTO aliases (${ALIAS_COLUMNS}) VALUES (?, ?, ?, ?)`,
  getAlias: `SELECT ${ALIAS_COLUMNS} FROM aliases WHERE alias_name = ?`,
  updateAlias: 'UPDATE aliases SET key_id = ?, last_updated_date = ? WHERE alias_name = ?',
  deleteAlias: 'DELETE FROM aliases WHERE alias_name = ?',
  listAliases: `SELECT ${ALIAS_COLUMNS} FROM aliases ORDER BY alias_name`,
  listAliasesOfKey: `SELECT ${ALIAS_COLUMNS} FROM aliases WHERE key_id = ? ORDER BY alias_name`,
  deleteAliasesOfKey: 'DELETE FROM aliases WHERE key_id = ?',

  insertGrant: `INSERT INTO grants (seq, ${GRANT_COLUMNS})
     VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM grants), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  getGrant: `SELECT ${GRANT_COLUMNS} FROM grants WHERE grant_id = ?`,
  grantByToken: `SELECT ${GRANT_COLUMNS} FROM grants WHERE grant_token = ?`,
  grantByName: `SELECT ${GRANT_COLUMNS} FROM grants WHERE key_id = ? AND name = ?`,
  listGrants: `SELECT ${GRANT_COLUMNS} FROM grants WHERE key_id = ? ORDER BY seq`,
  listGrantsByRetiring: `SELECT ${GRANT_COLUMNS} FROM grants WHERE retiring_principal = ? ORDER BY seq`,
  deleteGrant: 'DELETE FROM grants WHERE grant_id = ?',
  deleteGrantsOfKey: 'DELETE FROM grants WHERE key_id = ?',

  getTags: 'SELECT tag_key, tag_value FROM key_tags WHERE key_id = ? ORDER BY position',
  upsertTag: `INSERT INTO key_tags (key_id, tag_key, tag_value, position)
     VALUES (@keyId, @tagKey, @tagValue, (SELECT COALESCE(MAX(position), 0) + 1 FROM key_tags WHERE key_id = @keyId))
     ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
  deleteTag: 'DELETE FROM key_tags WHERE key_id = ? AND tag_key = ?',
  deleteTagsOfKey: 'DELETE FROM key_tags WHERE key_id = ?',
} as const;

export type KmsStatements = { readonly [K in keyof typeof KMS_SQL]: Stmt };

export function prepareKmsStatements(db: Database.Database): KmsStatements {
  const entries = Object.entries(KMS_SQL).map(([name, sql]) => [name, db.prepare(sql)] as const);
  return Object.fromEntries(entries) as KmsStatements;
}

/** How a store writes rotation_enabled: 0/1 in SQLite (the default below), a BOOLEAN in PostgreSQL. */
export type FlagValue = (b: boolean) => number | boolean;
const asBit: FlagValue = (b) => (b ? 1 : 0);

/** The values of insertKey, in KEY_COLUMNS order (both stores' statements). */
export function keyValues(k: KmsKeyRecord, flag: FlagValue = asBit): unknown[] {
  return [
    k.keyId, k.arn, k.accountId, k.region, k.description, k.keyUsage, k.keySpec, k.origin, k.keyManager, k.state,
    k.creationDate, k.deletionDate ?? null, k.pendingWindowInDays ?? null, k.policy, flag(k.rotationEnabled),
    k.rotationPeriodInDays ?? null, k.nextRotationDate ?? null, k.onDemandRotations, k.currentVersion, ...importValues(k),
  ];
}

function importValues(k: KmsKeyRecord): unknown[] {
  return [k.expirationModel ?? null, k.validTo ?? null, k.pendingVersion ?? null, k.importTokens?.length ? JSON.stringify(k.importTokens) : null];
}

/** The values of updateKey: the mutable fields, the key id, and the revision it must still be at (null: any). */
export function updateKeyValues(k: KmsKeyRecord): unknown[] {
  return [...mutableKeyValues(k), k.keyId, k.revision ?? null, k.revision ?? null];
}

/** The fields updateKey sets, in the order both stores' statements set them. */
export function mutableKeyValues(k: KmsKeyRecord, flag: FlagValue = asBit): unknown[] {
  return [
    k.description, k.state, k.deletionDate ?? null, k.pendingWindowInDays ?? null, k.policy, flag(k.rotationEnabled),
    k.rotationPeriodInDays ?? null, k.nextRotationDate ?? null, k.onDemandRotations, k.currentVersion, ...importValues(k),
  ];
}

export function toKey(r: KeyRow): KmsKeyRecord {
  const k: KmsKeyRecord = {
    keyId: r.key_id,
    arn: r.arn,
    accountId: r.account_id,
    region: r.region,
    description: r.description,
    keyUsage: r.key_usage as KmsKeyRecord['keyUsage'],
    keySpec: r.key_spec as KmsKeyRecord['keySpec'],
    origin: r.origin as KmsKeyRecord['origin'],
    keyManager: r.key_manager as KmsKeyRecord['keyManager'],
    state: r.state as KmsKeyRecord['state'],
    creationDate: r.creation_date,
    policy: r.policy,
    rotationEnabled: r.rotation_enabled === 1,
    onDemandRotations: r.on_demand_rotations,
    currentVersion: r.current_version,
  };
  if (r.deletion_date !== null) k.deletionDate = r.deletion_date;
  if (r.pending_window_days !== null) k.pendingWindowInDays = r.pending_window_days;
  if (r.rotation_period_days !== null) k.rotationPeriodInDays = r.rotation_period_days;
  if (r.next_rotation_date !== null) k.nextRotationDate = r.next_rotation_date;
  if (r.expiration_model !== null) k.expirationModel = r.expiration_model as NonNullable<KmsKeyRecord['expirationModel']>;
  if (r.valid_to !== null) k.validTo = r.valid_to;
  if (r.pending_version !== null) k.pendingVersion = r.pending_version;
  if (r.import_tokens !== null) k.importTokens = JSON.parse(r.import_tokens) as NonNullable<KmsKeyRecord['importTokens']>;
  k.revision = r.revision;
  return k;
}

export function toMaterial(r: MaterialRow): KeyMaterialRecord {
  const m: KeyMaterialRecord = {
    keyId: r.key_id,
    version: r.version,
    materialId: r.material_id,
    sealed: r.sealed,
    createdAt: r.created_at,
  };
  if (r.rotation_type !== null) m.rotationType = r.rotation_type as NonNullable<KeyMaterialRecord['rotationType']>;
  return m;
}

export function toAlias(r: AliasRow): AliasRecord {
  return { aliasName: r.alias_name, keyId: r.key_id, creationDate: r.creation_date, lastUpdatedDate: r.last_updated_date };
}

export function toGrant(r: GrantRow): GrantRecord {
  const g: GrantRecord = {
    grantId: r.grant_id,
    keyId: r.key_id,
    granteePrincipal: r.grantee_principal,
    issuingAccount: r.issuing_account,
    operations: JSON.parse(r.operations) as string[],
    creationDate: r.creation_date,
    grantToken: r.grant_token,
  };
  if (r.name !== null) g.name = r.name;
  if (r.retiring_principal !== null) g.retiringPrincipal = r.retiring_principal;
  if (r.constraints !== null) g.constraints = JSON.parse(r.constraints);
  return g;
}

export function toTag(r: { tag_key: string; tag_value: string }): Tag {
  return { TagKey: r.tag_key, TagValue: r.tag_value };
}
