// Opening an embedded SQLite database the way every Coffer store does: owner-only file,
// WAL, the chosen synchronous level, a busy timeout, foreign keys, then the store's
// schema migrations — one numbered list per database, append only.

import Database from 'better-sqlite3';
import { ensurePrivateFile } from './private-file.js';

export interface SqliteOpenOptions {
  /** NORMAL (default) survives a process crash; FULL also survives power loss, at a cost per commit. */
  synchronous?: 'NORMAL' | 'FULL';
  busyTimeoutMs?: number;
}

export type Migration = (db: Database.Database) => void;

/** Opens (creating if needed) and migrates a database; closes it again if anything fails. */
export function openSqlite(path: string, opts: SqliteOpenOptions, migrate: (db: Database.Database) => void): Database.Database {
  ensurePrivateFile(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

function currentVersion(db: Database.Database): number {
  const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  return row?.version ?? 0;
}

/**
 * Brings a database to migrations.length: migrations[n] takes it from version n to n + 1
 * (the first creates the schema_version table). Throws on a database written by a newer Coffer.
 */
export function runMigrations(db: Database.Database, migrations: ReadonlyArray<Migration>, what: string): void {
  const target = migrations.length;
  db.transaction(() => {
    const from = currentVersion(db);
    if (from > target) throw new Error(`${what} has schema version ${from}, newer than this build supports (${target})`);
    if (from === target) return;
    for (let v = from; v < target; v++) migrations[v]!(db);
    db.prepare('DELETE FROM schema_version').run();
    db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(target);
  }).immediate();
}
