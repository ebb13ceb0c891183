// Transactions of the PostgreSQL stores. What SQLite gave by having one writer (BEGIN
// IMMEDIATE), PostgreSQL gives here by SERIALIZABLE isolation: every multi-step write
// runs as if no other ran beside it, on this node or another, and a transaction that
// lost a conflict (40001) or a deadlock (40P01) runs again from the start. So a store's
// check-then-write (an alias name is free, a user has fewer than two keys) holds across
// nodes without naming the rows to lock.
//
// A unique violation (23505) is retried too: a concurrent insert of the same key can
// surface as one rather than as 40001, and on the retry the store's own check sees the
// row and answers its typed conflict.
//
// keyTransaction() is the object path's exception (pg-metadata-store.ts): READ COMMITTED
// under a transaction-level advisory lock on one bucket+key, which every writer of that
// key takes first, so writers of one key queue instead of aborting each other, and writers
// of different keys never conflict (SSI aborted them over shared index pages).

import type pg from 'pg';
import { prepareStatements, queryConfig, type Queryable } from './query.js';

export type { Queryable };

const RETRYABLE = new Set(['40001', '40P01', '23505']);
const MAX_ATTEMPTS = 20;
/** Retry waits: random up to BACKOFF_MS × 2^(attempt−1), at most BACKOFF_CAP_MS (exponential backoff, full jitter). */
const BACKOFF_MS = 2;
const BACKOFF_CAP_MS = 250;

/** Transactions run again after a conflict, per pool (transactionRetries). */
const retries = new WeakMap<pg.Pool, number>();

/** How many times transactions on `pool` were run again after a conflict (40001, 40P01, 23505) since it opened. */
export function transactionRetries(pool: pg.Pool): number {
  return retries.get(pool) ?? 0;
}

/** The SQLSTATE of a PostgreSQL error, or undefined. */
export function pgErrorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs fn in one SERIALIZABLE transaction on a connection of `pool`, committing when it
 * returns and rolling back when it throws. fn may run more than once (after a
 * serialization failure): it must do nothing outside the transaction but compute.
 */
export function serializable<T>(pool: pg.Pool, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return transaction(pool, 'SERIALIZABLE', fn);
}

/**
 * As serializable(), at the isolation level given: READ COMMITTED suits writes that are
 * single atomic statements (an upsert that adds to a counter), where a deadlock is the
 * only conflict to retry.
 */
export function transaction<T>(pool: pg.Pool, isolation: 'SERIALIZABLE' | 'READ COMMITTED', fn: (q: Queryable) => Promise<T>): Promise<T> {
  return run(pool, async (c) => void (await c.query(`BEGIN ISOLATION LEVEL ${isolation}`)), (q) => fn(q));
}

/** One statement with its $n values. */
export interface Statement {
  sql: string;
  values: unknown[];
}

/** A transaction's connection that can also send its last statement with the COMMIT. */
export interface TailQueryable extends Queryable {
  /**
   * Makes `sql` the transaction's last statement, sent with the COMMIT in one round trip
   * (pipelined): fn issues nothing after calling this, and its result is not read (an
   * error in it fails the transaction, which then commits nothing).
   */
  commitWith(sql: string, values: unknown[]): void;
}

/**
 * Runs fn in one READ COMMITTED transaction that first takes the transaction-level
 * advisory lock `lock` (a signed 64-bit key, pg-metadata-versions.ts keyLock). Each of fn's
 * statements then sees every write committed before it, including those of the lock's
 * previous holder: a check-then-write holds against every other transaction that takes
 * the same lock first. fn may run more than once (after a deadlock).
 *
 * `first`, a read, is sent with the BEGIN and the lock in one round trip (pipelined) and
 * its result handed to fn; it runs after the lock is granted, so it too sees the previous
 * holder's writes. It must be a read: were the BEGIN to fail, it would run outside the
 * transaction before the failure is known.
 */
export function keyTransaction<T>(
  pool: pg.Pool,
  lock: bigint,
  first: Statement | undefined,
  fn: (q: TailQueryable, first: pg.QueryResult | undefined) => Promise<T>,
): Promise<T> {
  const statements: Statement[] = [
    { sql: 'BEGIN ISOLATION LEVEL READ COMMITTED', values: [] },
    { sql: KEY_LOCK, values: [BigInt.asIntN(64, lock).toString()] },
  ];
  if (first !== undefined) statements.push(first);
  return run(pool, async (c) => (first === undefined ? undefined : (await inFlight(c, statements))[2]), fn);
}

/**
 * One round trip and one statement in its own transaction (autocommit): `write`, a call of
 * a function that takes the key's advisory lock itself and then writes only when its own
 * conditions hold (evaluated after the lock, so they see the previous holder's commit),
 * leaving everything unchanged otherwise (pg-metadata-schema.ts V5, meta_put_new_object).
 * Its one column is how many rows it wrote, and 0 means it committed nothing (the caller
 * then runs its write in full). A deadlock or serialization failure also answers 0: the
 * full write retries it.
 */
export async function keyWriteOnce(pool: pg.Pool, write: Statement): Promise<number> {
  try {
    const r = await pool.query<unknown[]>({ ...queryConfig(write.sql, write.values), rowMode: 'array' });
    return Number(r.rows[0]?.[0] ?? 0);
  } catch (e) {
    if (RETRYABLE.has(pgErrorCode(e) ?? '')) return 0;
    throw e;
  }
}

const KEY_LOCK = 'SELECT pg_advisory_xact_lock($1)';
prepareStatements('tx', { keyLock: KEY_LOCK });

/** Whether the connection sends a query before the previous one is answered (the pool's `pipeline` option, pool.ts). */
function pipelined(c: pg.PoolClient): boolean {
  return (c as { pipeline?: boolean }).pipeline === true;
}

/** Sends the statements in order, in one round trip when the connection pipelines; resolves when all are answered, rejects with the first failure. */
async function inFlight(c: pg.PoolClient, statements: Statement[]): Promise<pg.QueryResult[]> {
  if (!pipelined(c)) {
    const out: pg.QueryResult[] = [];
    for (const s of statements) out.push(await c.query(queryConfig(s.sql, s.values)));
    return out;
  }
  // One write for them all: pg corks the socket around each query's messages only, so each
  // statement was a write(2) of its own (and, on the wire, a packet PostgreSQL reads apart).
  const stream = (c as { connection?: { stream?: { cork?(): void; uncork?(): void } } }).connection?.stream;
  stream?.cork?.();
  let sent: Promise<pg.QueryResult>[];
  try {
    sent = statements.map((s) => c.query(queryConfig(s.sql, s.values)));
  } finally {
    stream?.uncork?.();
  }
  for (const p of sent) p.catch(() => undefined); // each failure is reported once, below
  const out: pg.QueryResult[] = [];
  for (const p of sent) out.push(await p); // answered in order: the first failure is the cause
  return out;
}

async function run<T, O>(
  pool: pg.Pool,
  begin: (c: pg.PoolClient) => Promise<O>,
  fn: (q: TailQueryable, opened: O) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      const opened = await begin(client);
      let tail: Statement | undefined;
      const q: TailQueryable = {
        query: ((...args: Parameters<pg.PoolClient['query']>) => client.query(...args)) as Queryable['query'],
        commitWith(sql, values) {
          if (tail !== undefined) throw new Error('commitWith called twice');
          tail = { sql, values };
        },
      };
      const out = await fn(q, opened);
      // A failed tail statement leaves the transaction failed: its COMMIT then rolls back.
      await inFlight(client, tail === undefined ? [{ sql: 'COMMIT', values: [] }] : [tail, { sql: 'COMMIT', values: [] }]);
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone: do not give it back to the pool
      }
      if (attempt < MAX_ATTEMPTS && RETRYABLE.has(pgErrorCode(e) ?? '')) {
        retries.set(pool, (retries.get(pool) ?? 0) + 1);
        // A random wait that grows with each failed attempt, so transactions that keep
        // colliding (16 PUTs at once into one bucket touch the same index pages and the
        // bucket's usage row) spread out instead of failing together ten times over.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_MS * 2 ** (attempt - 1))));
        continue;
      }
      throw e;
    } finally {
      client.release(broken);
    }
  }
}
