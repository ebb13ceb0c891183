// Small helpers over a pool or a transaction's connection: rows typed by the caller, the
// first row, whether a statement touched (or found) any row.

import type { Queryable } from './transaction.js';

export async function rows<R>(q: Queryable, sql: string, values: unknown[] = []): Promise<R[]> {
  return (await q.query(sql, values)).rows as R[];
}

export async function first<R>(q: Queryable, sql: string, values: unknown[] = []): Promise<R | undefined> {
  return (await q.query(sql, values)).rows[0] as R | undefined;
}

/** True when the statement wrote, or (a SELECT) found, at least one row. */
export async function changed(q: Queryable, sql: string, values: unknown[] = []): Promise<boolean> {
  return ((await q.query(sql, values)).rowCount ?? 0) > 0;
}

/** The number of rows a statement wrote (DELETE, UPDATE). */
export async function rowCount(q: Queryable, sql: string, values: unknown[] = []): Promise<number> {
  return (await q.query(sql, values)).rowCount ?? 0;
}
