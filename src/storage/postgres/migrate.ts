// Versioned schema migrations for the PostgreSQL stores, which share one database: each
// store (component 'kms', 'iam', 'usage', 'metadata') has its own numbered list,
// append only, and the table schema_migrations records (component, version) per step
// applied. A node brings its components up to date when it opens them.
//
// Nodes of a cluster start at once: migrate() runs in one transaction that first takes
// the transaction-level advisory lock MIGRATION_LOCK, so the first node applies the
// steps and the others wait, then find them applied — at READ COMMITTED whatever the
// database's default, so the read after the lock sees the first node's commit (a SERIALIZABLE
// snapshot is taken when the lock statement begins, before the lock). PostgreSQL's DDL is transactional:
// a step that fails leaves nothing of itself, and its version is not recorded. A
// database migrated by a newer Coffer (a version this build does not know) is refused.

import type pg from 'pg';

/** One step: SQL text run as is (several statements allowed). Never edit a shipped step. */
export type PgMigration = string;

/** pg_advisory_xact_lock's key for migrations: 'coffer.m' read as a big-endian int64. */
export const MIGRATION_LOCK = 0x636f666665722e6dn;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  component  TEXT NOT NULL,
  version    INTEGER NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (component, version)
)`;

/**
 * Applies the steps of `component` not yet applied, in order; migrations[n] is version
 * n + 1. Returns how many it applied (0 when another node had, or nothing was new).
 */
export async function migrate(pool: pg.Pool, component: string, migrations: readonly PgMigration[], what: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
      await client.query(CREATE_TABLE);
      const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE component = $1', [component]);
      const from = r.rows[0]?.v ?? 0;
      if (from > migrations.length) {
        throw new Error(`the ${what} is at schema version ${from}, newer than this build supports (${migrations.length}): upgrade Coffer`);
      }
      for (let v = from + 1; v <= migrations.length; v++) {
        await client.query(migrations[v - 1]!);
        await client.query('INSERT INTO schema_migrations (component, version) VALUES ($1, $2)', [component, v]);
      }
      await client.query('COMMIT');
      return migrations.length - from;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
  } finally {
    client.release();
  }
}

/** The version of `component` recorded in the database (0 before its first step). */
export async function schemaVersion(pool: pg.Pool, component: string): Promise<number> {
  const t = await pool.query<{ t: string | null }>("SELECT to_regclass('schema_migrations') AS t");
  if (t.rows[0]?.t == null) return 0;
  const r = await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE component = $1', [component]);
  return r.rows[0]?.v ?? 0;
}
