// Small helpers over a pool or a transaction's connection: rows typed by the caller, the
// first row, whether a statement touched (or found) any row.

import type pg from 'pg';

/** A pool or a transaction's connection: what the helpers below and the stores' statements run on. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/** Statement text → its name, for statements prepared once per connection (prepareStatements). */
const names = new Map<string, string>();

/**
 * Names these statements, so each connection parses them once and PostgreSQL may reuse
 * their plans (a named prepared statement) instead of parsing and planning them at every
 * use. For fixed texts only (never one built per request): a connection keeps every name
 * it was sent.
 */
export function prepareStatements(prefix: string, statements: Readonly<Record<string, string>>): void {
  for (const [name, sql] of Object.entries(statements)) names.set(sql, `${prefix}_${name}`);
}

/** The query for sql with values: named when prepareStatements() named its text. */
export function queryConfig(sql: string, values: unknown[] = []): pg.QueryConfig {
  const name = names.get(sql);
  return name === undefined ? { text: sql, values } : { name, text: sql, values };
}

export async function rows<R>(q: Queryable, sql: string, values: unknown[] = []): Promise<R[]> {
  return (await q.query(queryConfig(sql, values))).rows as R[];
}

export async function first<R>(q: Queryable, sql: string, values: unknown[] = []): Promise<R | undefined> {
  return (await q.query(queryConfig(sql, values))).rows[0] as R | undefined;
}

/** True when the statement wrote, or (a SELECT) found, at least one row. */
export async function changed(q: Queryable, sql: string, values: unknown[] = []): Promise<boolean> {
  return ((await q.query(queryConfig(sql, values))).rowCount ?? 0) > 0;
}

/** The number of rows a statement wrote (DELETE, UPDATE). */
export async function rowCount(q: Queryable, sql: string, values: unknown[] = []): Promise<number> {
  return (await q.query(queryConfig(sql, values))).rowCount ?? 0;
}
