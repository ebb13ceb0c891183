// Copying one SQLite table into its PostgreSQL twin (tables.ts), resumably: the source is
// read in primary-key order (it cannot change meanwhile: the migration holds the data
// directory's lock, and a source changed between runs is refused), in batches of rows; each
// batch is one PostgreSQL transaction that inserts the rows and records how many source
// rows are done (migrate-state.ts). A run killed anywhere has committed whole batches and
// their count, or neither, so the next run skips exactly the rows already copied. Inserts
// also say ON CONFLICT DO NOTHING, so even a count that were behind could not duplicate a row.
//
// Values are copied as they are: text, numbers, and BLOBs (sealed key material, sealed
// secrets, inline blob bytes) as BYTEA, byte for byte.

import type Database from 'better-sqlite3';
import type pg from 'pg';
import { transaction } from '../../storage/postgres/transaction.js';
import type { MigrateState } from './migrate-state.js';
import { sourceColumns, type TablePlan } from './tables.js';

/** PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMETERS = 65_535;
/** A batch ends early once its rows hold this many bytes (inline blobs are up to 64 KiB each). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

export interface CopyOptions {
  /** Rows per transaction. */
  batchRows: number;
  /** Called after each committed batch with the rows it held. */
  onRows(n: number): void;
}

/** The source rows a table plan copies. */
export function sourceCount(db: Database.Database, plan: TablePlan): number {
  return db.prepare(`SELECT count(*) FROM "${plan.from}"${plan.where ? ` WHERE ${plan.where}` : ''}`).pluck().get() as number;
}

export function stepName(plan: TablePlan): string {
  return `table:${plan.from}`;
}

/** Copies the rows of `plan` not copied yet. Returns the rows this call copied. */
export async function copyTable(db: Database.Database, pool: pg.Pool, state: MigrateState, plan: TablePlan, o: CopyOptions): Promise<number> {
  const step = stepName(plan);
  const at = await state.progress(step);
  if (at.finished) return 0;
  const { columns, order } = sourceColumns(db, plan.from);
  const list = columns.map((c) => `"${c}"`).join(', ');
  const select = db.prepare(`SELECT ${list} FROM "${plan.from}"${plan.where ? ` WHERE ${plan.where}` : ''} ORDER BY ${order.map((c) => `"${c}"`).join(', ')} LIMIT -1 OFFSET ?`);
  const perBatch = Math.max(1, Math.min(o.batchRows, Math.floor(MAX_PARAMETERS / columns.length)));
  let done = at.done;
  let copied = 0;
  let batch: unknown[][] = [];
  let bytes = 0;
  const flush = async (finished: boolean) => {
    const rows = batch;
    batch = [];
    bytes = 0;
    await transaction(pool, 'READ COMMITTED', async (q) => {
      if (rows.length > 0) await q.query(insertSql(plan, columns, rows.length), rows.flat());
      await state.advance(q, step, done + rows.length, finished);
    });
    done += rows.length;
    copied += rows.length;
    o.onRows(rows.length);
  };
  for (const row of select.raw().iterate(done) as Iterable<unknown[]>) {
    batch.push(row);
    for (const v of row) bytes += Buffer.isBuffer(v) ? v.length : typeof v === 'string' ? v.length : 8;
    if (batch.length >= perBatch || bytes >= MAX_BATCH_BYTES) await flush(false);
  }
  await flush(true);
  return copied;
}

function insertSql(plan: TablePlan, columns: string[], rows: number): string {
  const n = columns.length;
  const values = Array.from({ length: rows }, (_, r) => `(${columns.map((_, c) => `$${r * n + c + 1}`).join(', ')})`).join(', ');
  const overriding = plan.identity ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${plan.to} (${columns.map((c) => `"${c}"`).join(', ')})${overriding} VALUES ${values} ON CONFLICT DO NOTHING`;
}

/**
 * Sequences the copied rows must stay ahead of: new object versions order after every
 * copied one (meta_version_seq, from SQLite's version clock), new grants after every copied
 * grant (kms_grants' identity). Idempotent.
 */
export async function setSequences(pool: pg.Pool, versionClock: number): Promise<void> {
  await pool.query(`SELECT setval('meta_version_seq', GREATEST($1::bigint,
    (SELECT coalesce(max(seq), 0) FROM meta_objects), (SELECT coalesce(max(seq), 0) FROM meta_object_versions), 1))`, [versionClock]);
  await pool.query(`SELECT setval(pg_get_serial_sequence('kms_grants', 'seq'), GREATEST((SELECT coalesce(max(seq), 0) FROM kms_grants), 1))`);
}
