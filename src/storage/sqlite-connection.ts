// The connection an embedded SQLite store keeps open (IAM's and KMS's): one
// write-transaction runner, statements prepared once from a table of SQL texts, and the
// liveness check and close every store interface has. Opening and migrating is
// sqlite-database.ts's openSqlite.

import type Database from 'better-sqlite3';
import { synchronousLevel } from './sqlite-database.js';

/** The prepared statements of a table of SQL texts, by the same names. */
export type Statements<T> = { readonly [K in keyof T]: Database.Statement<unknown[], unknown> };

export class SqliteConnection {
  private readonly txRunner: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly pingStmt: Database.Statement<unknown[], unknown>;
  private closed = false;

  constructor(readonly db: Database.Database) {
    this.txRunner = db.transaction((fn: () => unknown) => fn());
    // Prepared once: on Node 22+ every statement lives as long as the process (sqlite-database.ts).
    this.pingStmt = db.prepare('SELECT count(*) FROM sqlite_master');
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: takes the write lock up front). */
  tx<T>(fn: () => T): T {
    return this.txRunner.immediate(fn) as T;
  }

  prepareAll<T extends Record<string, string>>(sql: T): Statements<T> {
    return Object.fromEntries(Object.entries(sql).map(([name, text]) => [name, this.db.prepare(text)])) as Statements<T>;
  }

  /** The connection's synchronous level (FULL when the server runs with fsync on). */
  get synchronous(): 'NORMAL' | 'FULL' {
    return synchronousLevel(this.db);
  }

  /** Throws once closed, or when the database cannot be read. */
  ping(): void {
    if (this.closed) throw new Error('the store is closed');
    this.pingStmt.get();
  }

  /** Closes the database; again is a no-op. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
