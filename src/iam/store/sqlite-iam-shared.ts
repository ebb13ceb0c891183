// What the SQLite IAM sub-stores share: the connection, one write-transaction runner,
// statement preparation, and the user row shape.

import type Database from 'better-sqlite3';
import type { UserRecord } from './types.js';

export interface UserRow {
  user_name: string;
  user_id: string;
  arn: string;
  path: string;
  create_date: number;
  tags: string;
}

export function toUser(r: UserRow): UserRecord {
  return { userName: r.user_name, userId: r.user_id, arn: r.arn, path: r.path, createDate: r.create_date, tags: JSON.parse(r.tags) };
}

export class SqliteShared {
  private readonly txRunner: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(readonly db: Database.Database) {
    this.txRunner = db.transaction((fn: () => unknown) => fn());
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: takes the write lock up front). */
  tx<T>(fn: () => T): T {
    return this.txRunner.immediate(fn) as T;
  }

  prepareAll<T extends Record<string, string>>(sql: T): { readonly [K in keyof T]: Database.Statement<unknown[], unknown> } {
    return Object.fromEntries(Object.entries(sql).map(([name, text]) => [name, this.db.prepare(text)])) as { readonly [K in keyof T]: Database.Statement<unknown[], unknown> };
  }
}
