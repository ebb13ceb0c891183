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

// better-sqlite3 12 (the last line that runs on Node 20) wraps its objects in the raw
// node::ObjectWrap, whose destructor aborts the process on Node 24 when the garbage
// collector finalizes a Statement or Database outside a Node environment ("Assertion
// failed: (env) != nullptr" in RemoveEnvironmentCleanupHook; fixed only in 13, which
// needs Node 22+). On Node 22 and later, every database and every statement prepared on
// it — including the ones pragma() and transaction() prepare internally — is therefore
// kept reachable for the life of the process, so none is ever finalized by the GC.
// Hot paths prepare their statements once, so what is kept is bounded.
const RETAIN = Number(process.versions.node.split('.')[0]) >= 22;
const retained: unknown[] = [];
const patched = new WeakSet<object>();

/** Keeps a database and all its statements alive for the process's life where Node needs it (see above). */
export function retainSqlite(db: Database.Database): Database.Database {
  if (!RETAIN) return db;
  retained.push(db);
  for (const sym of Object.getOwnPropertySymbols(db)) {
    const native = (db as unknown as Record<symbol, unknown>)[sym];
    if (typeof native !== 'object' || native === null) continue;
    retained.push(native);
    const proto = Object.getPrototypeOf(native) as { prepare?: (...a: unknown[]) => unknown } | null;
    if (!proto || typeof proto.prepare !== 'function' || patched.has(proto)) continue;
    const prepare = proto.prepare;
    proto.prepare = function (this: unknown, ...a: unknown[]) {
      const stmt = prepare.apply(this, a);
      retained.push(stmt);
      return stmt;
    };
    patched.add(proto);
  }
  return db;
}

/** Opens (creating if needed) and migrates a database; closes it again if anything fails. */
export function openSqlite(path: string, opts: SqliteOpenOptions, migrate: (db: Database.Database) => void): Database.Database {
  ensurePrivateFile(path);
  const db = retainSqlite(new Database(path));
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

/** A connection's synchronous level: FULL fsyncs the WAL at every commit (power-loss durable), NORMAL at checkpoints. */
export function synchronousLevel(db: Database.Database): 'NORMAL' | 'FULL' {
  return db.pragma('synchronous', { simple: true }) === 2 ? 'FULL' : 'NORMAL';
}
