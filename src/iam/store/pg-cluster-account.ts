// The account of a cluster, in its PostgreSQL database (docs/CLUSTER.md, "The account"):
// every ARN, canonical user id and bucket owner holds the account id, so the nodes of a
// cluster must agree on it. The first node to start sets it (INSERT … ON CONFLICT DO
// NOTHING, then read back, so nodes starting at once still agree) and every other node
// adopts it; `coffer migrate` sets it to the migrated data directory's account.
//
// Only the id is here, never the root credentials: a node takes them from the environment
// or its own root-credentials.json, and only the node that creates the account generates
// them (iam/root-credentials.ts). An embedded data directory keeps its account in
// root-credentials.json alone; this table has no SQLite twin.
//
// Component 'account' in schema_migrations (storage/postgres/migrate.ts; 'cluster' is the job
// leader's, cluster/leader-lease.ts, and moves on its own); append steps,
// never edit a shipped one.

import type pg from 'pg';
import { migrate, type PgMigration } from '../../storage/postgres/migrate.js';

const V1 = `
CREATE TABLE account (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  account_id TEXT NOT NULL CHECK (account_id ~ '^[0-9]{12}$'),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
`;

export const PG_ACCOUNT_MIGRATIONS: readonly PgMigration[] = [V1];

/** The one account of a cluster's database. */
export interface ClusterAccountStore {
  /** The cluster's account id: `candidate` when none is set yet (it is then set, and `created`), else the one set before. */
  claim(candidate: string): Promise<{ accountId: string; created: boolean }>;
  /** The account id set, or undefined before any node or migration set one. */
  get(): Promise<string | undefined>;
  close(): Promise<void>;
}

export class PgClusterAccount implements ClusterAccountStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(pool: pg.Pool): Promise<PgClusterAccount> {
    await migrate(pool, 'account', PG_ACCOUNT_MIGRATIONS, 'account table');
    return new PgClusterAccount(pool);
  }

  async claim(candidate: string): Promise<{ accountId: string; created: boolean }> {
    const r = await this.pool.query('INSERT INTO account (id, account_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [candidate]);
    if (r.rowCount === 1) return { accountId: candidate, created: true };
    const set = await this.get();
    if (set === undefined) throw new Error('account holds no row after a conflicting insert');
    return { accountId: set, created: false };
  }

  async get(): Promise<string | undefined> {
    const r = await this.pool.query<{ account_id: string }>('SELECT account_id FROM account WHERE id = 1');
    return r.rows[0]?.account_id;
  }

  async close(): Promise<void> {
    // The pool belongs to the backend that opened this store.
  }
}
