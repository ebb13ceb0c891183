// What the SQLite IAM sub-stores share: the connection, one write-transaction runner,
// statement preparation, and the name-ordered listing (the twin of pg-iam-page.ts).

import type Database from 'better-sqlite3';
import type { ListUsersQuery } from './types.js';

/** The prepared statements of a table of SQL texts, by the same names. */
export type Statements<T> = { readonly [K in keyof T]: Database.Statement<unknown[], unknown> };

export class SqliteShared {
  private readonly txRunner: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(readonly db: Database.Database) {
    this.txRunner = db.transaction((fn: () => unknown) => fn());
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: takes the write lock up front). */
  tx<T>(fn: () => T): T {
    return this.txRunner.immediate(fn) as T;
  }

  prepareAll<T extends Record<string, string>>(sql: T): Statements<T> {
    return Object.fromEntries(Object.entries(sql).map(([name, text]) => [name, this.db.prepare(text)])) as Statements<T>;
  }
}

/**
 * A page of a name-ordered IAM listing: names after @after, paths starting with @prefix
 * (NULL for all), at most @limit rows (negative for all). `name` and `path` are the
 * columns; `extra` more conditions. '' sorts before every name, so the bound is always a
 * seek into the primary key.
 */
export function listPage(table: string, columns: string, name: string, path = 'path', extra = ''): string {
  return `SELECT ${columns} FROM ${table}
     WHERE ${name} > @after AND (@prefix IS NULL OR substr(${path}, 1, length(@prefix)) = @prefix)${extra}
     ORDER BY ${name} LIMIT @limit`;
}

/** listPage's parameters for a query. */
export function pageParams(q: ListUsersQuery): { after: string; prefix: string | null; limit: number } {
  return { after: q.after ?? '', prefix: q.pathPrefix ?? null, limit: q.limit ?? -1 }; // SQLite: a negative LIMIT is no limit
}
