// The connection pool every PostgreSQL store of a node shares (docs/CLUSTER.md). Opened
// once by the backend and handed to each store; a store given `closePool` ends it on
// close (tests, one pool per store).
//
// Type parsing is per pool, not node-postgres's process-wide registry: BIGINT (epoch
// milliseconds, counters) and NUMERIC (what sum() of a BIGINT gives) come back as JS
// numbers — every value Coffer stores in them is far below 2^53 — and BYTEA as a Buffer.

import pg from 'pg';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

export interface PgPoolOptions {
  /** Most connections this node opens (default 10): size it to max_connections divided by the nodes. */
  max?: number;
  /** Shown in pg_stat_activity (default 'coffer'). */
  applicationName?: string;
}

/** A pool for `url` (postgres://user@host:port/db). Connections are made on first use. */
export function openPgPool(url: string, opts: PgPoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'coffer',
    types,
    allowExitOnIdle: true,
  });
  // An idle connection that the server drops (restart, failover) emits 'error' on the
  // pool; without a listener that would end the process. The next query opens a new one.
  pool.on('error', () => {});
  return pool;
}
