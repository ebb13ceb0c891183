// STS sessions in the SQLite IAM store: temporary credentials by access key id.

import type { SessionRecord, SessionStore } from './types.js';
import type { SqliteConnection, Statements } from '../../storage/sqlite-connection.js';
import { SESSION_COLUMNS, sessionValues, toSession, type SessionRow } from './iam-rows.js';

export const SESSION_SQL = {
  insert: `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)`,
  get: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE access_key_id = ?`,
  deleteExpired: 'DELETE FROM sessions WHERE expires_at < ?',
  list: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE access_key_id > ? ORDER BY access_key_id LIMIT ?`,
  reseal: 'UPDATE sessions SET sealed_secret = ? WHERE access_key_id = ? AND sealed_secret = ?',
} as const;

export class SqliteSessionStore implements SessionStore {
  private readonly s: Statements<typeof SESSION_SQL>;

  constructor(sh: SqliteConnection) {
    this.s = sh.prepareAll(SESSION_SQL);
  }

  async create(r: SessionRecord): Promise<void> {
    this.s.insert.run(...sessionValues(r));
  }

  async get(accessKeyId: string): Promise<SessionRecord | undefined> {
    const r = this.s.get.get(accessKeyId) as SessionRow | undefined;
    return r && toSession(r);
  }

  async list(after: string | undefined, limit: number): Promise<SessionRecord[]> {
    if (limit <= 0) return []; // SQLite reads a negative LIMIT as none
    return (this.s.list.all(after ?? '', limit) as SessionRow[]).map(toSession);
  }

  async reseal(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean> {
    return this.s.reseal.run(sealed, accessKeyId, expected).changes > 0;
  }

  async deleteExpired(before: number): Promise<number> {
    return this.s.deleteExpired.run(before).changes;
  }
}
