// SQLite's own consistency check of one database file: `PRAGMA quick_check` (b-tree
// structure, record formats; linear in the file's size) or `PRAGMA integrity_check`
// (also that every index matches its table). Used by `coffer check` on every database of
// the data directory and, quick, by the server on metadata.sqlite before it opens it.
// Opening runs nothing else on the connection: safe beside a running server (WAL).

import Database from 'better-sqlite3';

/** At most this many problems are listed per database. */
const MAX_PROBLEMS = 20;

export interface SqliteIntegrity {
  ok: boolean;
  /** SQLite's own words, at most MAX_PROBLEMS of them (the first when the file does not even open). */
  problems: string[];
}

export function checkSqliteIntegrity(path: string, mode: 'quick' | 'full'): SqliteIntegrity {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    const rows = db.pragma(`${mode === 'quick' ? 'quick_check' : 'integrity_check'}(${MAX_PROBLEMS})`) as Record<string, string>[];
    const problems = rows.map((r) => String(Object.values(r)[0])).filter((p) => p !== 'ok');
    return { ok: problems.length === 0, problems };
  } catch (e) {
    // A damaged header or schema fails before the check can run (SQLITE_CORRUPT, SQLITE_NOTADB).
    return { ok: false, problems: [(e as Error).message] };
  } finally {
    db?.close();
  }
}
