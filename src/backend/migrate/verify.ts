// The final pass of `coffer migrate` (and all of `coffer migrate --verify`): the cluster's
// account against the data directory's; every table's rows counted on both sides and
// their content compared — each row's values hashed (SHA-256 of a canonical JSON array;
// BLOBs such as sealed key material and inline blob bytes as hex) and the hashes summed,
// so the digest does not depend on the order either database returns rows in — and every
// blob file hashed in the source and read back from the target tier. A difference
// anywhere is a failed verification.
//
// Run it right after the copy, before nodes start on the target: their writes are
// differences too.

import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { LargeBlobTier } from '../../storage/tiered-blob-store.js';
import { digestOf, listedBlobs, sourceBlobStream } from './copy-blobs.js';
import type { MigrateState } from './migrate-state.js';
import { SOURCE_FILES, sourceColumns, TABLES, type Component } from './tables.js';

const MOD = 1n << 128n;
const FETCH_ROWS = 500;

export interface VerifyRow {
  what: string;
  source: number;
  target: number;
  /** 'ok', or what differs. */
  content: string;
  ok: boolean;
}

function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  return v;
}

class MultisetDigest {
  private sum = 0n;
  count = 0;

  add(row: readonly unknown[]): void {
    const h = createHash('sha256').update(JSON.stringify(row.map(canonical))).digest();
    this.sum = (this.sum + BigInt(`0x${h.subarray(0, 16).toString('hex')}`)) % MOD;
    this.count++;
  }

  get hex(): string {
    return this.sum.toString(16).padStart(32, '0');
  }
}

async function targetDigest(pool: pg.Pool, table: string, columns: string[]): Promise<MultisetDigest> {
  const d = new MultisetDigest();
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`DECLARE verify_rows NO SCROLL CURSOR FOR SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM ${table}`);
    for (;;) {
      const r = await client.query({ text: `FETCH ${FETCH_ROWS} FROM verify_rows`, rowMode: 'array' });
      for (const row of r.rows as unknown[][]) d.add(row);
      if (r.rows.length < FETCH_ROWS) break;
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return d;
}

/** Every table of the plan: counts and content digests on both sides. */
export async function verifyTables(dbs: Partial<Record<Component, Database.Database>>, pool: pg.Pool, onTable: () => void): Promise<VerifyRow[]> {
  const out: VerifyRow[] = [];
  for (const plan of TABLES) {
    const db = dbs[plan.component];
    const columns = db ? sourceColumns(db, plan.from).columns : [];
    const src = new MultisetDigest();
    if (db) {
      const select = db.prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${plan.from}"${plan.where ? ` WHERE ${plan.where}` : ''}`).raw();
      for (const row of select.iterate() as Iterable<unknown[]>) src.add(row);
    }
    const dst = db ? await targetDigest(pool, plan.to, columns) : new MultisetDigest();
    if (!db) dst.count = Number((await pool.query<{ n: number }>(`SELECT count(*) AS n FROM ${plan.to}`)).rows[0]?.n ?? 0);
    const ok = src.count === dst.count && src.hex === dst.hex;
    out.push({
      what: `${SOURCE_FILES[plan.component]} ${plan.from}${plan.derived ? ' (recomputed)' : ''} -> ${plan.to}`,
      source: src.count,
      target: dst.count,
      content: ok ? 'sha256 ok' : src.count !== dst.count ? 'COUNT DIFFERS' : 'CONTENT DIFFERS',
      ok,
    });
    onTable();
  }
  return out;
}

/** The cluster's account (the table `account`) against the data directory's (root-credentials.json). */
export function verifyAccount(source: string, target: string | undefined): VerifyRow {
  const ok = source === target;
  return { what: `root-credentials.json account -> account`, source: 1, target: target === undefined ? 0 : 1, content: ok ? `${source} ok` : target === undefined ? 'MISSING' : `DIFFERS (${target})`, ok };
}

/**
 * Every blob file hashed in the source and, when there is a target tier, read back from
 * it. `missing` names the ones that differ or cannot be read (a few, for the report).
 */
export async function verifyBlobs(dataDir: string, state: MigrateState, tier: LargeBlobTier | undefined, onBlob: (bytes: number) => void): Promise<{ row: VerifyRow; bad: string[] }> {
  let same = 0;
  let bytes = 0;
  let listed = 0;
  const bad: string[] = [];
  for await (const id of listedBlobs(state)) {
    listed++;
    let ok = false;
    try {
      const a = await digestOf(sourceBlobStream(dataDir, id));
      bytes += a.bytes;
      const b = tier ? await digestOf(tier.read(id)) : a;
      ok = a.sha256 === b.sha256 && a.bytes === b.bytes;
      onBlob(a.bytes);
    } catch {
      ok = false;
    }
    if (ok) same++;
    else if (bad.length < 10) bad.push(id);
  }
  const ok = same === listed;
  return {
    row: { what: `blob files over 64 KiB (${formatMiB(bytes)})${tier ? '' : ', left in the data directory'}`, source: listed, target: same, content: ok ? 'sha256 ok' : `${listed - same} DIFFER OR MISSING`, ok },
    bad,
  };
}

function formatMiB(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
