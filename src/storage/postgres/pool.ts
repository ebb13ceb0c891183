// The connection pool every PostgreSQL store of a node shares (docs/CLUSTER.md). Opened
// once by the backend and handed to each store; a store given `closePool` ends it on
// close (tests, one pool per store).
//
// Type parsing is per pool, not node-postgres's process-wide registry: BIGINT (epoch
// milliseconds, counters) and NUMERIC (what sum() of a BIGINT gives) come back as JS
// numbers — every value Coffer stores in them is far below 2^53 — and BYTEA as a Buffer.
//
// A NOT NULL or CHECK violation comes back with a `detail` of "Failing row contains (…)",
// every column of the row — sealed secrets and key material included. The pool's
// connections withhold those values, so such an error can be logged like any other.

import pg from 'pg';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

const FAILING_ROW = 'Failing row contains';

/** The error with the row values PostgreSQL put in its detail withheld. */
export function withholdRowValues(e: unknown): unknown {
  const err = e as { detail?: unknown } | null;
  if (err !== null && typeof err === 'object' && typeof err.detail === 'string' && err.detail.startsWith(FAILING_ROW)) {
    err.detail = `${FAILING_ROW} (values withheld)`;
  }
  return e;
}

/** node-postgres's client, but every failed query's error passes withholdRowValues. */
class WithholdingClient extends pg.Client {
  override query(...args: any[]): any {
    const last = args.length - 1;
    const cb: unknown = args[last];
    if (typeof cb === 'function') {
      args[last] = (err: unknown, res: unknown) => (cb as (e: unknown, r: unknown) => void)(err && withholdRowValues(err), res);
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const r = (super.query as (...a: unknown[]) => unknown)(...args);
    return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(withholdRowValues(e))) : r;
  }
}

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
    Client: WithholdingClient,
  });
  // An idle connection that the server drops (restart, failover) emits 'error' on the
  // pool; without a listener that would end the process. The next query opens a new one.
  pool.on('error', () => {});
  return pool;
}
