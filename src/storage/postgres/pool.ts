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
//
// An error of a connection that cannot be made or that broke is marked "database
// unavailable" (unavailable.ts), so the services answer 503 and not 500; the pool then
// replaces the connection on the next query, so service resumes when the database is back.
// A connection attempt that gets no answer gives up after CONNECT_TIMEOUT_MS.

import pg from 'pg';
import { markIfUnavailable, markUnavailable } from './unavailable.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const toNumber = (v: string): number => Number(v);
// Asked for every column of every query's result (node-postgres's Result.addFields): one parser, not one closure per column.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID || oid === NUMERIC_OID) return toNumber;
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

const FAILING_ROW = 'Failing row contains';
/** How long a new connection may take before the request that needs it fails (unavailable). */
const CONNECT_TIMEOUT_MS = 10_000;

/** The error with the row values PostgreSQL put in its detail withheld. */
export function withholdRowValues(e: unknown): unknown {
  const err = e as { detail?: unknown } | null;
  if (err !== null && typeof err === 'object' && typeof err.detail === 'string' && err.detail.startsWith(FAILING_ROW)) {
    err.detail = `${FAILING_ROW} (values withheld)`;
  }
  return e;
}

const failed = (e: unknown): unknown => markIfUnavailable(withholdRowValues(e));

/**
 * node-postgres's client, but every failed query's error passes withholdRowValues, and
 * connection failures are marked. A connection that breaks while checked out of the pool
 * (a transaction between two statements when PostgreSQL crashes or restarts) emits 'error'
 * on its client, where the pool listens only while it is idle: without a listener of its
 * own, that error ended the node's process. The queries in flight get the error anyway, the
 * next one on that client fails (not queryable), and the pool drops it when it is released.
 */
class WithholdingClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => {});
  }

  override query(...args: any[]): any {
    const last = args.length - 1;
    const cb: unknown = args[last];
    if (typeof cb === 'function') {
      args[last] = (err: unknown, res: unknown) => (cb as (e: unknown, r: unknown) => void)(err && failed(err), res);
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const r = (super.query as (...a: unknown[]) => unknown)(...args);
    return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(failed(e))) : r;
  }

  override connect(...args: any[]): any {
    const cb: unknown = args[0];
    if (typeof cb === 'function') return (super.connect as (c: (e: unknown) => void) => void)((err: unknown) => (cb as (e: unknown) => void)(err && markUnavailable(err)));
    return (super.connect as () => Promise<unknown>)().catch((e: unknown) => Promise.reject(markUnavailable(e)));
  }
}

export interface PgPoolOptions {
  /** Most connections this node opens (default 10): size it to max_connections divided by the nodes. */
  max?: number;
  /** Shown in pg_stat_activity (default 'coffer'). */
  applicationName?: string;
}

const unref = (c: pg.PoolClient): void => (c as unknown as { unref(): void }).unref();

/** Whether a checked-out connection can still take queries (node-postgres's own flags). */
function queryable(c: pg.PoolClient): boolean {
  const f = c as unknown as { _queryable?: boolean; _ending?: boolean };
  return f._queryable !== false && f._ending !== true;
}

/**
 * The pool, with one connection held out of it for read-only statements sent on their own
 * (readAlone): each is written to that connection straight away, pipelined behind the ones
 * still answering, instead of a checkout and a release of a pool connection per statement.
 * Only reads go there — a read never waits for a lock, so nothing queued behind it stalls.
 * A held connection that broke (the database restarted) goes back to the pool with its error,
 * which drops it, and the next read checks out another: a read fails as any statement would
 * (unavailable: 503), and the next one after recovery succeeds. end() lets it go first.
 */
class LanePool extends pg.Pool {
  #held: Promise<pg.PoolClient> | undefined;
  #inFlight = 0;
  /** end() was called: no connection is held any more (a read then is a plain pool query, which fails once the pool ended). */
  #ending = false;

  async readAlone(config: pg.QueryConfig): Promise<pg.QueryResult> {
    let held = this.#held;
    if (held === undefined) {
      if (this.#ending) return this.query(config);
      held = this.#held = this.connect().then((c) => {
        // Like an idle pool connection, it keeps the process alive only while it has reads in flight.
        unref(c);
        return c;
      });
      held.catch(() => {
        if (this.#held === held) this.#held = undefined;
      });
    }
    const client = await held;
    if (this.#held !== held) return this.readAlone(config); // dropped while it connected
    if (!queryable(client)) {
      this.#drop(held, client);
      return this.readAlone(config);
    }
    if (this.#inFlight++ === 0) (client as unknown as { ref(): void }).ref();
    try {
      return await client.query(config);
    } catch (e) {
      if (!queryable(client)) this.#drop(held, client, e);
      throw e;
    } finally {
      // A dropped connection's reads no longer count (#drop started the count again).
      if (this.#held === held && --this.#inFlight === 0) unref(client);
    }
  }

  #drop(held: Promise<pg.PoolClient>, client: pg.PoolClient, e?: unknown): void {
    if (this.#held !== held) return;
    this.#held = undefined;
    this.#inFlight = 0;
    client.release(e instanceof Error ? e : new Error('connection not queryable'));
  }

  override async end(): Promise<void> {
    // Reads already waiting for the held connection are written to it before it goes back
    // (they resume first); it is let go only then. Clearing it first sent them on to check
    // out a new connection, held forever: end() never settled.
    this.#ending = true;
    const held = this.#held;
    if (held !== undefined) {
      const client = await held.catch(() => undefined);
      if (this.#held === held) {
        this.#held = undefined;
        client?.release();
        // The pool unrefs an idle connection; its pipelined reads still answer before it ends.
        if (client !== undefined && this.#inFlight > 0) (client as unknown as { ref(): void }).ref();
      }
    }
    return super.end();
  }
}

/** pool.query(config), or on openPgPool's pool its held connection for reads (LanePool). For read-only statements only. */
export function readAlone(pool: pg.Pool, config: pg.QueryConfig): Promise<pg.QueryResult> {
  return pool instanceof LanePool ? pool.readAlone(config) : pool.query(config);
}

/** A pool for `url` (postgres://user@host:port/db). Connections are made on first use. */
export function openPgPool(url: string, opts: PgPoolOptions = {}): pg.Pool {
  const max = opts.max ?? 10;
  // The held connection is one of `max`; a pool smaller than 3 keeps all of them for checkouts.
  const pool = new (max >= 3 ? LanePool : pg.Pool)({
    connectionString: url,
    max,
    application_name: opts.applicationName ?? 'coffer',
    types,
    allowExitOnIdle: true,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    Client: WithholdingClient,
    // A query is sent without waiting for the answer to the one before it on the same
    // connection, so statements a transaction issues together share one round trip
    // (transaction.ts: a key write's BEGIN, lock and first read; its last write and COMMIT).
    // Code that awaits each query, as every other store does, sees no difference.
    pipeline: true,
  });
  // An idle connection that the server drops (restart, failover) emits 'error' on the
  // pool; without a listener that would end the process. The next query opens a new one.
  pool.on('error', () => {});
  return pool;
}
