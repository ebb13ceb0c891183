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

export type Queryable = Pick<pg.PoolClient, 'query'>;

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
  return run(pool, `BEGIN ISOLATION LEVEL ${isolation}`, fn);
}

/**
 * Runs fn in one READ COMMITTED transaction that first takes the transaction-level
 * advisory lock `lock` (a signed 64-bit key, advisoryKey()), in the BEGIN's round trip.
 * Each of fn's statements then sees every write committed before it, including those of
 * the lock's previous holder: a check-then-write holds against every other transaction
 * that takes the same lock first. fn may run more than once (after a deadlock).
 */
export function keyTransaction<T>(pool: pg.Pool, lock: bigint, fn: (q: Queryable) => Promise<T>): Promise<T> {
  // A bigint's decimal text is a literal, never input: one simple-protocol query, two statements.
  return run(pool, `BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(${BigInt.asIntN(64, lock).toString()})`, fn);
}

async function run<T>(pool: pg.Pool, begin: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(begin);
      const out = await fn(client);
      await client.query('COMMIT');
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
