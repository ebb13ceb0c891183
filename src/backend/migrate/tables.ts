// What `coffer migrate` copies, table by table: each SQLite table of an embedded data
// directory and the PostgreSQL table that is its twin (docs/CLUSTER.md: the PostgreSQL
// schemas mirror the SQLite ones column for column, names prefixed per component). A
// table-level copy, not one through the store interfaces: those are shaped for requests
// (a new key gets a new id, a grant a new creation number, a usage count lands in the
// current hour), while a migration must keep every id, sequence number, time and sealed
// byte exactly as it is.
//
// Before anything is copied, checkSchemas() holds both sides to this plan: every column
// of a source table exists in its target and the reverse, and no source table is unknown
// to it. A later schema step on either side that the plan does not follow is refused by
// name instead of losing a column.

import type Database from 'better-sqlite3';
import type pg from 'pg';

export type Component = 'metadata' | 'kms' | 'iam' | 'usage';

export const SOURCE_FILES: Record<Component, string> = {
  metadata: 'metadata.sqlite',
  kms: 'kms.sqlite',
  iam: 'iam.sqlite',
  usage: 'usage.sqlite',
};

export interface TablePlan {
  component: Component;
  /** The SQLite table. */
  from: string;
  /** The PostgreSQL table. */
  to: string;
  /** Only these source rows (SQL condition on the source table). */
  where?: string;
  /** The target has an identity column whose values are copied as they are (kms_grants.seq). */
  identity?: string;
  /** Derived by the target's triggers: compared by verify, never copied. */
  derived?: boolean;
}

/** In copy order: parents before the rows that refer to them. */
export const TABLES: readonly TablePlan[] = [
  { component: 'metadata', from: 'buckets', to: 'meta_buckets' },
  { component: 'metadata', from: 'objects', to: 'meta_objects' },
  { component: 'metadata', from: 'object_versions', to: 'meta_object_versions' },
  { component: 'metadata', from: 'uploads', to: 'meta_uploads' },
  { component: 'metadata', from: 'parts', to: 'meta_parts' },
  { component: 'metadata', from: 'completed_uploads', to: 'meta_completed_uploads' },
  // Blobs of writes that never committed (pending) or of deleted objects (garbage) stay behind.
  { component: 'metadata', from: 'inline_blobs', to: 'meta_inline_blobs', where: 'blob_id NOT IN (SELECT blob_id FROM pending_blobs UNION SELECT blob_id FROM garbage_blobs)' },
  { component: 'metadata', from: 'bucket_usage', to: 'meta_bucket_usage', derived: true },
  { component: 'kms', from: 'keys', to: 'kms_keys' },
  { component: 'kms', from: 'key_materials', to: 'kms_key_materials' },
  { component: 'kms', from: 'aliases', to: 'kms_aliases' },
  { component: 'kms', from: 'grants', to: 'kms_grants', identity: 'seq' },
  { component: 'kms', from: 'key_tags', to: 'kms_key_tags' },
  { component: 'iam', from: 'users', to: 'iam_users' },
  { component: 'iam', from: 'access_keys', to: 'iam_access_keys' },
  { component: 'iam', from: 'user_policies', to: 'iam_user_policies' },
  { component: 'iam', from: 'groups', to: 'iam_groups' },
  { component: 'iam', from: 'group_members', to: 'iam_group_members' },
  { component: 'iam', from: 'group_policies', to: 'iam_group_policies' },
  { component: 'iam', from: 'roles', to: 'iam_roles' },
  { component: 'iam', from: 'role_policies', to: 'iam_role_policies' },
  { component: 'iam', from: 'managed_policies', to: 'iam_managed_policies' },
  { component: 'iam', from: 'managed_policy_versions', to: 'iam_policy_versions' },
  { component: 'iam', from: 'policy_attachments', to: 'iam_policy_attachments' },
  { component: 'iam', from: 'sessions', to: 'iam_sessions' },
  { component: 'usage', from: 'requests', to: 'usage_requests' },
  { component: 'usage', from: 'key_hours', to: 'usage_key_hours' },
];

/**
 * Source tables deliberately not copied: bookkeeping of the SQLite files themselves, blob
 * ids of writes that never committed or of blobs waiting to be deleted, and the writer
 * instances those pending marks name (a cluster's nodes register their own). The version
 * clock becomes the target's sequence (setVersionSequence in copy-rows.ts).
 */
const NOT_COPIED: Record<Component, readonly string[]> = {
  metadata: ['schema_version', 'pending_blobs', 'garbage_blobs', 'version_clock', 'blob_writers'],
  kms: ['schema_version'],
  iam: ['schema_version'],
  usage: ['schema_version'],
};

/**
 * Every table a target must hold no row of before a migration starts: `account` too, as
 * a node that started on the target set an account of its own there.
 */
export const TARGET_TABLES: readonly string[] = [...TABLES.filter((t) => !t.derived).map((t) => t.to), 'meta_pending_blobs', 'meta_garbage_blobs', 'account'];

export class MigrateError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** The columns of a SQLite table and its primary key columns in key order (rowid when none). */
export function sourceColumns(db: Database.Database, table: string): { columns: string[]; order: string[] } {
  const info = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string; pk: number }[];
  const columns = info.map((c) => c.name).sort();
  const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  return { columns, order: pk.length > 0 ? pk : ['rowid'] };
}

function sourceTables(db: Database.Database): string[] {
  return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
}

async function targetColumns(pool: pg.Pool, table: string): Promise<string[]> {
  const r = await pool.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table]);
  return r.rows.map((c) => c.column_name).sort();
}

/**
 * Refuses a source or target whose tables differ from the plan: an unknown source table,
 * a column on one side only. `dbs` holds the open source databases (a missing file is left out).
 */
export async function checkSchemas(dbs: Partial<Record<Component, Database.Database>>, pool: pg.Pool): Promise<void> {
  const hint = 'use the same Coffer release for the source and the migration: start the embedded server once with this release (it upgrades its databases), stop it, then run coffer migrate again';
  for (const [component, db] of Object.entries(dbs) as [Component, Database.Database][]) {
    const planned = new Set(TABLES.filter((t) => t.component === component).map((t) => t.from));
    for (const t of sourceTables(db)) {
      if (!planned.has(t) && !NOT_COPIED[component].includes(t)) {
        throw new MigrateError(`${SOURCE_FILES[component]} has a table this build cannot migrate: ${t}`, hint);
      }
    }
    for (const plan of TABLES.filter((t) => t.component === component)) {
      const from = sourceTables(db).includes(plan.from) ? sourceColumns(db, plan.from).columns : [];
      if (from.length === 0) throw new MigrateError(`${SOURCE_FILES[component]} has no table ${plan.from}: it is from an older Coffer`, hint);
      const to = await targetColumns(pool, plan.to);
      const missing = from.filter((c) => !to.includes(c));
      const extra = to.filter((c) => !from.includes(c));
      if (missing.length > 0 || extra.length > 0) {
        throw new MigrateError(
          `${SOURCE_FILES[component]} table ${plan.from} and PostgreSQL table ${plan.to} differ (${[...missing.map((c) => `${c} only in the source`), ...extra.map((c) => `${c} only in the target`)].join(', ')})`,
          hint,
        );
      }
    }
  }
}
