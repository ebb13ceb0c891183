// STS sessions in the PostgreSQL IAM store: temporary credentials by access key id.

import type pg from 'pg';
import { first, rowCount } from '../../storage/postgres/query.js';
import type { SessionRecord, SessionStore } from './types.js';

interface SessionRow {
  access_key_id: string;
  sealed_secret: Buffer;
  principal: string;
  create_date: number;
  expires_at: number;
}

export const PG_SESSION_SQL = {
  insert: 'INSERT INTO iam_sessions (access_key_id, sealed_secret, principal, create_date, expires_at) VALUES ($1, $2, $3, $4, $5)',
  get: 'SELECT access_key_id, sealed_secret, principal, create_date, expires_at FROM iam_sessions WHERE access_key_id = $1',
  deleteExpired: 'DELETE FROM iam_sessions WHERE expires_at < $1',
} as const;

export class PgSessionStore implements SessionStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: SessionRecord): Promise<void> {
    await this.pool.query(PG_SESSION_SQL.insert, [r.accessKeyId, r.sealedSecret, r.principal, r.createDate, r.expiresAt]);
  }

  async get(accessKeyId: string): Promise<SessionRecord | undefined> {
    const r = await first<SessionRow>(this.pool, PG_SESSION_SQL.get, [accessKeyId]);
    return r && { accessKeyId: r.access_key_id, sealedSecret: r.sealed_secret, principal: r.principal, createDate: r.create_date, expiresAt: r.expires_at };
  }

  async deleteExpired(before: number): Promise<number> {
    return rowCount(this.pool, PG_SESSION_SQL.deleteExpired, [before]);
  }
}
