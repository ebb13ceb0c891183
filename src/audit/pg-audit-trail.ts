// The cluster's audit trail read in order, for the job leader's delivery and pruning
// (pg-delivery.ts, pg-prune.ts; docs/CLUSTER.md, "Audit"; docs/spec/audit-log.md section 6):
//
//   audit_delivery (destination, delivered_seq, pending_to, pending_stamp)
//
// One row per delivery destination (`bucket[/prefix]`): every event with seq ≤
// delivered_seq is in that bucket. pending_to and pending_stamp name the range a delivery
// has chosen and not yet confirmed — (delivered_seq, pending_to], in an object named by
// pending_stamp and the range's first seq — so whichever leader resumes after a crash
// writes exactly that object again (same key, same body) instead of another.
//
// The horizon. `seq` is taken at insert, not at commit: a row of another node's INSERT in
// flight can commit with a seq below one already visible. Reading "seq > position" would
// skip it for good. So a round reads only up to the horizon: a seq M such that every seq at
// or below it is committed or will never exist. Every INSERT takes ROW EXCLUSIVE on
// audit_events before it draws a seq and holds it until its transaction ends, so:
//
//   M = max(seq) of the committed rows                (every seq ≤ M was drawn before M, so by now)
//   V = the transactions holding ROW EXCLUSIVE on it  (read after M: every drawer of a seq ≤ M
//                                                      that has not ended is among them)
//   wait until none of V holds it any more            (pg_locks, polled)
//
// as CREATE INDEX CONCURRENTLY waits for the writers of a table. Nothing is locked: inserts
// never wait for a delivery.

import type pg from 'pg';
import { PgDeliveryPosition } from './pg-delivery-position.js';

export type { DeliveryPosition } from './pg-delivery-position.js';

export interface TrailRow {
  seq: number;
  record: string;
}

/** How long horizon() waits for INSERTs in flight before the round gives up (and is tried again at the next interval). */
const HORIZON_WAIT_MS = 10_000;
const HORIZON_POLL_MS = 20;

/** The transactions (virtual ids) holding or waiting for ROW EXCLUSIVE on audit_events, other than this session. */
const WRITERS = `SELECT coalesce(array_agg(virtualtransaction), '{}') AS v FROM pg_locks
  WHERE locktype = 'relation' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND relation = 'audit_events'::regclass AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()`;
const STILL_WRITING = `SELECT count(*)::int AS n FROM pg_locks
  WHERE locktype = 'relation' AND relation = 'audit_events'::regclass AND mode = 'RowExclusiveLock' AND virtualtransaction = ANY($1::text[])`;

/** The statements that walk audit_events in seq order (the tests check they read the primary key in its order). */
export const PG_TRAIL_SQL = {
  // (Not aliased `seq`: ORDER BY would then sort the text.)
  rows: 'SELECT seq::text AS s, record FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3',
  pruneBatch: `WITH head AS (SELECT seq, event_time FROM audit_events WHERE seq <= $2 ORDER BY seq LIMIT $3),
            keep AS (SELECT min(seq) AS seq FROM head WHERE event_time >= $1)
       DELETE FROM audit_events WHERE seq IN (SELECT seq FROM head WHERE seq < COALESCE((SELECT seq FROM keep), $2 + 1))`,
} as const;

/** The audit_events rows in seq order, and the delivery positions, on one pool. */
export class PgAuditTrail {
  constructor(private readonly pool: pg.Pool) {}

  /** The highest seq such that no event at or below it can still appear (0: none). See the top of this file. */
  async horizon(): Promise<number> {
    const { rows: [m] } = await this.pool.query<{ m: string | null }>('SELECT max(seq)::text AS m FROM audit_events');
    const { rows: [w] } = await this.pool.query<{ v: string[] }>(WRITERS);
    let writers = w!.v;
    const until = performance.now() + HORIZON_WAIT_MS;
    while (writers.length > 0) {
      if (performance.now() > until) throw new Error(`audit delivery: INSERTs into audit_events still in flight after ${HORIZON_WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, HORIZON_POLL_MS));
      const { rows: [n] } = await this.pool.query<{ n: number }>(STILL_WRITING, [writers]);
      if (n!.n === 0) writers = [];
    }
    return Number(m!.m ?? 0);
  }

  /**
   * The rows with after < seq ≤ upTo in seq order: at most maxRecords, and no more once their
   * records reach maxBytes (the row that reaches it is the last; at least one row when any).
   */
  async rows(after: number, upTo: number, maxRecords: number, maxBytes: number): Promise<TrailRow[]> {
    const out: TrailRow[] = [];
    let bytes = 0;
    let from = after;
    const chunk = Math.min(maxRecords, 1000);
    while (out.length < maxRecords) {
      const { rows } = await this.pool.query<{ s: string; record: string }>(
        PG_TRAIL_SQL.rows,
        [from, upTo, Math.min(chunk, maxRecords - out.length)],
      );
      for (const r of rows) {
        out.push({ seq: Number(r.s), record: r.record });
        bytes += Buffer.byteLength(r.record) + 1;
        if (bytes >= maxBytes) return out;
      }
      if (rows.length === 0) return out;
      from = out.at(-1)!.seq;
    }
    return out;
  }

  /** The event_time (epoch ms) of the first row after `seq`, if any (the delivery lag: one index probe). */
  async eventTimeAfter(seq: number): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ t: string }>('SELECT event_time::text AS t FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1', [seq]);
    return rows[0] ? Number(rows[0].t) : undefined;
  }

  /** The delivery position of `destination` (`bucket[/prefix]`): its audit_delivery row (delivery-position.ts). */
  deliveryPosition(destination: string): PgDeliveryPosition {
    return new PgDeliveryPosition(this.pool, destination);
  }

  /**
   * Deletes, oldest first, at most `batch` rows with seq ≤ maxSeq that come before the first
   * row (in seq order) whose event_time is at or after `before` (ms): the trail loses its
   * oldest stretch and never a row in its middle. Returns how many it deleted.
   */
  async pruneBatch(before: number, maxSeq: number, batch: number): Promise<number> {
    const r = await this.pool.query(PG_TRAIL_SQL.pruneBatch, [before, maxSeq, batch]);
    return r.rowCount ?? 0;
  }
}
