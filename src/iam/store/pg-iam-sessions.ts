// STS sessions in the PostgreSQL IAM store: temporary credentials by access key id.

import type pg from 'pg';
import { changed, first, rowCount, rows } from '../../storage/postgres/query.js';
import { serializable } from '../../storage/postgres/transaction.js';
import type { SessionRecord, SessionStore } from './types.js';
import { SESSION_COLUMNS, sessionValues, toSession, type SessionRow } from './iam-rows.js';

export const PG_SESSION_SQL = {
  insert: `INSERT INTO iam_sessions (${SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`,
  get: `SELECT ${SESSION_COLUMNS} FROM iam_sessions WHERE access_key_id = $1`,
  deleteExpired: 'DELETE FROM iam_sessions WHERE expires_at < $1',
  list: `SELECT ${SESSION_COLUMNS} FROM iam_sessions WHERE access_key_id > $1 ORDER BY access_key_id LIMIT $2`,
  reseal: 'UPDATE iam_sessions SET sealed_secret = $1 WHERE access_key_id = $2 AND sealed_secret = $3',
} as const;

export class PgSessionStore implements SessionStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: SessionRecord): Promise<void> {
    await this.pool.query(PG_SESSION_SQL.insert, sessionValues(r));
  }

  async get(accessKeyId: string): Promise<SessionRecord | undefined> {
    const r = await first<SessionRow>(this.pool, PG_SESSION_SQL.get, [accessKeyId]);
    return r && toSession(r);
  }

  /** Root-key rotation: sessions in access key id order (COLLATE "C": byte order, as SQLite). */
  async list(after: string | undefined, limit: number): Promise<SessionRecord[]> {
    if (limit <= 0) return [];
    return (await rows<SessionRow>(this.pool, PG_SESSION_SQL.list, [after ?? '', limit])).map(toSession);
  }

  /** Root-key rotation: compare-and-swap of the sealed secret, in a SERIALIZABLE transaction. */
  async reseal(accessKeyId: string, expected: Buffer, sealed: Buffer): Promise<boolean> {
    return serializable(this.pool, (q) => changed(q, PG_SESSION_SQL.reseal, [sealed, accessKeyId, expected]));
  }

  async deleteExpired(before: number): Promise<number> {
    return rowCount(this.pool, PG_SESSION_SQL.deleteExpired, [before]);
  }
}
