// The job leader's lease: one row in the shared database naming the node that leads, until
// when (by the database's clock, the one clock every node shares), and an epoch that grows
// at each change of hands. Every operation is one statement, so it works through PgBouncer
// in transaction mode (a session-level advisory lock would not). PostgreSQL only: an
// embedded server always leads (job-leader.ts, SoleLeader).

import type pg from 'pg';
import { migrate } from '../storage/postgres/migrate.js';
import { numbered } from '../storage/postgres/pg-metadata-sql.js';

/** Who holds the lease. */
export interface LeaseHolder {
  /** The holding process (its writer instance id). */
  holder: string;
  /** Its node (cluster/node-identity.ts). */
  node: string;
  /** Grows by one each time the lease changes hands. */
  epoch: number;
  /** Milliseconds until it expires unless renewed (negative: expired). */
  expiresInMs: number;
}

export interface LeaderLease {
  /** Takes the lease for ttlMs if nobody holds it or its holder let it expire; the new epoch, or undefined. */
  tryAcquire(holder: string, node: string, ttlMs: number): Promise<number | undefined>;
  /** Extends the holder's lease of that epoch by ttlMs from now; false if it is no longer theirs. */
  renew(holder: string, epoch: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up at once (a clean stop), if still held. */
  release(holder: string, epoch: number): Promise<void>;
  /** The current holder, if any (expired leases included: expiresInMs says so). */
  current(): Promise<LeaseHolder | undefined>;
}

const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';
const LEASE = 'jobs';

/** Component 'cluster' in schema_migrations. Append steps, never edit a shipped one. */
export const PG_CLUSTER_MIGRATIONS: readonly string[] = [
  `CREATE TABLE cluster_leases (
    name        TEXT NOT NULL PRIMARY KEY,
    holder      TEXT NOT NULL,
    node        TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
  )`,
];

const SQL = {
  acquire: numbered(`INSERT INTO cluster_leases (name, holder, node, epoch, acquired_at, expires_at)
     VALUES ('${LEASE}', ?, ?, 1, ${NOW_MS}, ${NOW_MS} + ?)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, node = excluded.node, epoch = cluster_leases.epoch + 1,
       acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
     WHERE cluster_leases.expires_at < ${NOW_MS}
     RETURNING epoch`),
  renew: numbered(`UPDATE cluster_leases SET expires_at = ${NOW_MS} + ? WHERE name = '${LEASE}' AND holder = ? AND epoch = ? AND expires_at >= ${NOW_MS}`),
  release: numbered(`UPDATE cluster_leases SET expires_at = 0 WHERE name = '${LEASE}' AND holder = ? AND epoch = ?`),
  current: `SELECT holder, node, epoch, expires_at - ${NOW_MS} AS expires_in_ms FROM cluster_leases WHERE name = '${LEASE}'`,
};

export class PgLeaderLease implements LeaderLease {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(pool: pg.Pool): Promise<PgLeaderLease> {
    await migrate(pool, 'cluster', PG_CLUSTER_MIGRATIONS, 'cluster tables');
    return new PgLeaderLease(pool);
  }

  async tryAcquire(holder: string, node: string, ttlMs: number): Promise<number | undefined> {
    const r = await this.pool.query<{ epoch: number }>(SQL.acquire, [holder, node, ttlMs]);
    return r.rows[0]?.epoch;
  }

  async renew(holder: string, epoch: number, ttlMs: number): Promise<boolean> {
    // A lease that expired is not renewed: another node may have seen it free and be taking it.
    return ((await this.pool.query(SQL.renew, [ttlMs, holder, epoch])).rowCount ?? 0) > 0;
  }

  async release(holder: string, epoch: number): Promise<void> {
    await this.pool.query(SQL.release, [holder, epoch]);
  }

  async current(): Promise<LeaseHolder | undefined> {
    const row = (await this.pool.query<{ holder: string; node: string; epoch: number; expires_in_ms: number }>(SQL.current)).rows[0];
    return row && { holder: row.holder, node: row.node, epoch: row.epoch, expiresInMs: row.expires_in_ms };
  }
}
