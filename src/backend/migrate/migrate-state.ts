// The record a migration keeps in its target database, so that a run killed at any point
// (SIGKILL, power loss) is finished by running the same command again, and so that a
// target already holding anything else is refused (component 'migrate' in
// schema_migrations, storage/postgres/migrate.ts):
//
//   migrate_source    one row: which data directory is being copied (its account, root key,
//                     custody canary), what it held when the copy began (row counts and the
//                     version clock: a source changed in between is refused), the blob tier
//                     it copies to, and when it finished
//   migrate_progress  per step (a table, the blob list, the blobs): source rows done, in the
//                     step's order; committed in the same transaction as the rows it counts
//   migrate_blobs     the blob files to copy, each once, and whether it is copied (the list
//                     lives here, not in memory: a deployment may have millions of blobs)
//
// Only one migration runs against a database at a time: a session advisory lock, held by
// one connection for the whole run.

import type pg from 'pg';
import { migrate, type PgMigration } from '../../storage/postgres/migrate.js';
import { MigrateError, TARGET_TABLES } from './tables.js';

const V1 = `
CREATE TABLE migrate_source (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  source      TEXT NOT NULL,
  root_key    TEXT NOT NULL,
  account_id  TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  blobs       TEXT NOT NULL,
  started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ
);
CREATE TABLE migrate_progress (
  step     TEXT NOT NULL PRIMARY KEY,
  done     BIGINT NOT NULL,
  finished BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE migrate_blobs (
  blob_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  copied  BOOLEAN NOT NULL DEFAULT false
);
`;

const MIGRATE_MIGRATIONS: readonly PgMigration[] = [V1];

/** pg_advisory_lock's key for a running migration: 'coffer.g' read as a big-endian int64. */
const MIGRATE_LOCK = 0x636f666665722e67n;

export interface SourceIdentity {
  /** Account id, root key id and a digest of the custody canary: the same data directory wherever it is mounted. */
  source: string;
  rootKey: string;
  accountId: string;
  /** Row counts and the version clock when the copy began. */
  fingerprint: string;
  /** The blob tier written to, as shown (no secret). */
  blobs: string;
}

export interface MigrateRecord extends SourceIdentity {
  finished: boolean;
}

export class MigrateState {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly lockClient: pg.PoolClient,
  ) {}

  /** Creates the tables if needed and takes the migration lock; refused while another migration runs. */
  static async open(pool: pg.Pool): Promise<MigrateState> {
    await migrate(pool, 'migrate', MIGRATE_MIGRATIONS, 'migration record');
    const client = await pool.connect();
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATE_LOCK.toString()]).catch((e: unknown) => {
      client.release(true);
      throw e;
    });
    if (!got.rows[0]?.ok) {
      client.release(true);
      throw new MigrateError('another coffer migrate is running against this database', 'wait for it to finish (or stop it), then run this command again: it resumes');
    }
    return new MigrateState(pool, client);
  }

  /** The pool, for progress written outside a transaction. */
  get queryable(): Pick<pg.Pool, 'query'> {
    return this.pool;
  }

  async record(): Promise<MigrateRecord | undefined> {
    const r = await this.pool.query<{ source: string; root_key: string; account_id: string; fingerprint: string; blobs: string; finished_at: Date | null }>('SELECT * FROM migrate_source WHERE id = 1');
    const row = r.rows[0];
    return row && { source: row.source, rootKey: row.root_key, accountId: row.account_id, fingerprint: row.fingerprint, blobs: row.blobs, finished: row.finished_at !== null };
  }

  /** Sessions of Coffer nodes on the target database (their pools' application name is 'coffer'). */
  async nodeSessions(): Promise<number> {
    const r = await this.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'coffer' AND pid <> pg_backend_pid()");
    return r.rows[0]?.n ?? 0;
  }

  /** Target tables that hold rows (at most a few named), for the refusal of a non-empty target. */
  async nonEmptyTables(): Promise<string[]> {
    const out: string[] = [];
    for (const t of TARGET_TABLES) {
      const r = await this.pool.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t}) AS any`);
      if (r.rows[0]?.any) out.push(t);
    }
    return out;
  }

  async begin(id: SourceIdentity): Promise<void> {
    await this.pool.query('INSERT INTO migrate_source (id, source, root_key, account_id, fingerprint, blobs) VALUES (1, $1, $2, $3, $4, $5)', [id.source, id.rootKey, id.accountId, id.fingerprint, id.blobs]);
  }

  /** Units of `step` done so far, and whether it finished. */
  async progress(step: string): Promise<{ done: number; finished: boolean }> {
    const r = await this.pool.query<{ done: number; finished: boolean }>('SELECT done, finished FROM migrate_progress WHERE step = $1', [step]);
    return r.rows[0] ?? { done: 0, finished: false };
  }

  /** Records progress; pass the transaction's connection to commit it with the rows it counts. */
  async advance(q: Pick<pg.PoolClient, 'query'>, step: string, done: number, finished = false): Promise<void> {
    await q.query('INSERT INTO migrate_progress (step, done, finished) VALUES ($1, $2, $3) ON CONFLICT (step) DO UPDATE SET done = excluded.done, finished = excluded.finished', [step, done, finished]);
  }

  async finish(): Promise<void> {
    await this.pool.query('UPDATE migrate_source SET finished_at = now() WHERE id = 1 AND finished_at IS NULL');
  }

  async close(): Promise<void> {
    // Ending the session releases the advisory lock.
    this.lockClient.release(true);
  }
}
