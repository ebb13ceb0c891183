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
// skip it for good. So a round reads only up to the horizon: the highest seq at a moment
// when no INSERT into audit_events was in flight. horizon() takes the table in SHARE mode
// (which waits for every transaction holding ROW EXCLUSIVE, as each INSERT does from before
// it draws its seq to its commit, and holds new ones off), reads max(seq) and commits at
// once: every seq at or below it is committed or will never exist. Inserts wait for the
// length of that one read.

import type pg from 'pg';

/** Where delivery stands for one destination. */
export interface DeliveryPosition {
  /** Every event with seq ≤ this is delivered. */
  delivered: number;
  /** A range chosen and maybe stored, not yet confirmed: (delivered, pendingTo], named with pendingStamp (ms since the epoch). */
  pending?: { to: number; stamp: number };
}

export interface TrailRow {
  seq: number;
  record: string;
}

/** How long horizon() waits for INSERTs in flight (and an autovacuum) before the round gives up and retries later. */
const HORIZON_LOCK_TIMEOUT = '10s';

/** The audit_events rows in seq order, and the delivery positions, on one pool. */
export class PgAuditTrail {
  constructor(private readonly pool: pg.Pool) {}

  /** The highest seq such that no event at or below it can still appear (0: none). See the top of this file. */
  async horizon(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL lock_timeout = '${HORIZON_LOCK_TIMEOUT}'`);
        await client.query('LOCK TABLE audit_events IN SHARE MODE');
        const { rows } = await client.query<{ max: string | null }>('SELECT max(seq)::text AS max FROM audit_events');
        await client.query('COMMIT');
        return Number(rows[0]?.max ?? 0);
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      }
    } finally {
      client.release();
    }
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
      // (Not aliased `seq`: ORDER BY would then sort the text.)
      const { rows } = await this.pool.query<{ s: string; record: string }>(
        'SELECT seq::text AS s, record FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3',
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

  /** The position of `destination`, made (nothing delivered) when it has none. */
  async position(destination: string): Promise<DeliveryPosition> {
    await this.pool.query('INSERT INTO audit_delivery (destination) VALUES ($1) ON CONFLICT (destination) DO NOTHING', [destination]);
    return (await this.positionIfAny(destination))!;
  }

  /** The position of `destination`, or undefined when nothing was ever delivered there. */
  async positionIfAny(destination: string): Promise<DeliveryPosition | undefined> {
    const { rows } = await this.pool.query<{ delivered: string; pending_to: string | null; pending_stamp: string | null }>(
      'SELECT delivered_seq::text AS delivered, pending_to::text AS pending_to, pending_stamp::text AS pending_stamp FROM audit_delivery WHERE destination = $1',
      [destination],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      delivered: Number(r.delivered),
      ...(r.pending_to === null ? {} : { pending: { to: Number(r.pending_to), stamp: Number(r.pending_stamp) } }),
    };
  }

  /** Records the range (from, to] as pending; false when the position is no longer `from` with nothing pending (another leader moved it). */
  async plan(destination: string, from: number, to: number, stamp: number): Promise<boolean> {
    const r = await this.pool.query(
      'UPDATE audit_delivery SET pending_to = $3, pending_stamp = $4 WHERE destination = $1 AND delivered_seq = $2 AND pending_to IS NULL',
      [destination, from, to, stamp],
    );
    return r.rowCount === 1;
  }

  /** Confirms the pending range (from, to] as delivered; false when the position moved meanwhile. */
  async advance(destination: string, from: number, to: number): Promise<boolean> {
    const r = await this.pool.query(
      'UPDATE audit_delivery SET delivered_seq = $3, pending_to = NULL, pending_stamp = NULL WHERE destination = $1 AND delivered_seq = $2 AND pending_to = $3',
      [destination, from, to],
    );
    return r.rowCount === 1;
  }

  /**
   * Deletes, oldest first, at most `batch` rows with seq ≤ maxSeq that come before the first
   * row (in seq order) whose event_time is at or after `before` (ms): the trail loses its
   * oldest stretch and never a row in its middle. Returns how many it deleted.
   */
  async pruneBatch(before: number, maxSeq: number, batch: number): Promise<number> {
    const r = await this.pool.query(
      `WITH head AS (SELECT seq, event_time FROM audit_events WHERE seq <= $2 ORDER BY seq LIMIT $3),
            keep AS (SELECT min(seq) AS seq FROM head WHERE event_time >= $1)
       DELETE FROM audit_events WHERE seq IN (SELECT seq FROM head WHERE seq < COALESCE((SELECT seq FROM keep), $2 + 1))`,
      [before, maxSeq, batch],
    );
    return r.rowCount ?? 0;
  }
}
