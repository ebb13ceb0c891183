// STS sessions in the SQLite IAM store: temporary credentials by access key id.

import type Database from 'better-sqlite3';
import type { SessionRecord, SessionStore } from './types.js';
import type { SqliteShared } from './sqlite-iam-shared.js';

interface SessionRow {
  access_key_id: string;
  sealed_secret: Buffer;
  principal: string;
  create_date: number;
  expires_at: number;
}

export const SESSION_SQL = {
  insert: 'INSERT INTO sessions (access_key_id, sealed_secret, principal, create_date, expires_at) VALUES (?, ?, ?, ?, ?)',
  get: 'SELECT access_key_id, sealed_secret, principal, create_date, expires_at FROM sessions WHERE access_key_id = ?',
  deleteExpired: 'DELETE FROM sessions WHERE expires_at < ?',
  list: 'SELECT access_key_id, sealed_secret, principal, create_date, expires_at FROM sessions WHERE access_key_id > ? ORDER BY access_key_id LIMIT ?',
  reseal: 'UPDATE sessions SET sealed_secret = ? WHERE access_key_id = ? AND sealed_secret = ?',
} as const;

export class SqliteSessionStore implements SessionStore {
  private readonly s: { readonly [K in keyof typeof SESSION_SQL]: Database.Statement<unknown[], unknown> };

  constructor(sh: SqliteShared) {
    this.s = sh.prepareAll(SESSION_SQL);
  }

  async create(r: SessionRecord): Promise<void> {
    this.s.insert.run(r.accessKeyId, r.sealedSecret, r.principal, r.createDate, r.expiresAt);
  }

  async get(accessKeyId: string): Promise<SessionRecord | undefined> {
    const r = this.s.get.get(accessKeyId) as SessionRow | undefined;
    return r && { accessKeyId: r.access_key_id, sealedSecret: r.sealed_secret, principal: r.principal, createDate: r.create_date, expiresAt: r.expires_at };
  }

  async list(after: string | undefined, limit: number): Promise<SessionRecord[]> {
    return (this.s.list.all(after ?? '', limit) as SessionRow[]).map((r) => ({ accessKeyId: r.access_key_id, sealedSecret: r.sealed_secret, principal: r.principal, createDate: r.create_date, expiresAt: r.expires_at }));
  }

  async reseal(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean> {
    return this.s.reseal.run(sealed, accessKeyId, expected).changes > 0;
  }

  async deleteExpired(before: number): Promise<number> {
    return this.s.deleteExpired.run(before).changes;
  }
}
