// A root-key rotation across the nodes of a cluster, as rows in the shared database
// (backend/reseal/cluster-rotation.ts runs it; docs/CLUSTER.md, "Root-key rotation"):
//
//   cluster_rotation        one row per rotation: the two key ids, the new key's recorded
//                           place (target, label, settings: never a secret), the phase,
//                           the barrier number and the leader's progress
//   cluster_rotation_nodes  one row per node and rotation: whether it holds the new key
//                           (or why not), the last barrier it passed, whether it finished
//
//   prepare   -> sealing    only when every live node (a fresh writer heartbeat in
//                           meta_blob_writers) reports the new key: trySwitch() checks and
//                           moves in one transaction under the rotation row's lock, which a
//                           starting node's joinRead() also takes, so a node is either seen
//                           by the check or sees the switch
//   sealing   (barrier n)   every node seals under the new key, waits for its own requests in
//                           flight, then acknowledges n; the leader re-seals once every live
//                           node has, and raises the barrier for the next pass
//   finishing -> completed  every live node has let the old key go
//   prepare   -> cancelled  cancel(): under the row's lock, only before the switch (nothing
//                           was sealed under the new key); every node then drops it
//
// Every change a node waits for — the row's phase or barrier, a node's report that changed —
// NOTIFYs channel `coffer_cluster_rotation` in its own transaction, and the nodes LISTEN
// (listen()): a follower and the leader act at once instead of at their next poll. They
// still poll slowly: a lost notification or connection only delays, and no decision rests
// on one (the switch is checked under the row's lock). The message and the leader's
// progress are for the status only and notify nobody.
//
// PostgreSQL only, like the job leader's lease: an embedded server rotates alone.

import type pg from 'pg';
import { migrate } from '../storage/postgres/migrate.js';
import { numbered } from '../storage/postgres/pg-metadata-sql.js';
import { PgChannelListener, type ChannelListenerLog } from './pg-channel-listener.js';

export type RotationPhase = 'prepare' | 'sealing' | 'finishing' | 'completed' | 'cancelled';

/** The channel every rotation change is NOTIFYd on (payload: the rotation id). */
export const ROTATION_CHANNEL = 'coffer_cluster_rotation';

export interface ClusterRotationRow {
  id: string;
  from: string;
  to: string;
  /** The rotation record every node writes to its custody.json (target, keyLabel, settings, startedAt). */
  record: Record<string, unknown>;
  phase: RotationPhase;
  barrier: number;
  /** The leader's pass status (pass, done, resealed, counts), for GET custody/rotation. */
  progress: Record<string, unknown>;
  /** What the rotation waits for now, in words (which node, why). */
  message: string;
}

export interface RotationNodeRow {
  node: string;
  holdsNew: boolean;
  problem: string;
  ackedBarrier: number;
  finished: boolean;
  /** A fresh writer heartbeat: the node counts for the switch and the barriers. */
  live: boolean;
}

export interface NodeReport {
  node: string;
  instance: string;
  holdsNew: boolean;
  problem: string;
  ackedBarrier: number;
  finished: boolean;
}

const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';
/** A writer is live while its heartbeat is younger than 4 of its own periods (the sweeper's rule). */
const LIVE_NODES = `SELECT DISTINCT node FROM meta_blob_writers WHERE heartbeat_at >= ${NOW_MS} - 4 * GREATEST(heartbeat_ms, 1000)`;

/** Component 'cluster-rotation' in schema_migrations. Append steps, never edit a shipped one. */
export const PG_ROTATION_MIGRATIONS: readonly string[] = [
  `CREATE TABLE cluster_rotation (
    id         TEXT NOT NULL PRIMARY KEY,
    from_key   TEXT NOT NULL,
    to_key     TEXT NOT NULL,
    record     JSONB NOT NULL,
    phase      TEXT NOT NULL,
    barrier    INTEGER NOT NULL DEFAULT 0,
    progress   JSONB NOT NULL DEFAULT '{}',
    message    TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE UNIQUE INDEX cluster_rotation_one_active ON cluster_rotation ((true)) WHERE phase <> 'completed';
  CREATE TABLE cluster_rotation_nodes (
    rotation_id   TEXT NOT NULL REFERENCES cluster_rotation (id),
    node          TEXT NOT NULL,
    instance      TEXT NOT NULL,
    holds_new     BOOLEAN NOT NULL,
    problem       TEXT NOT NULL DEFAULT '',
    acked_barrier INTEGER NOT NULL DEFAULT 0,
    finished      BOOLEAN NOT NULL DEFAULT false,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (rotation_id, node)
  )`,
  // 2: a rotation cancelled before its switch ends too: another may begin.
  `DROP INDEX cluster_rotation_one_active;
  CREATE UNIQUE INDEX cluster_rotation_one_open ON cluster_rotation ((true)) WHERE phase NOT IN ('completed', 'cancelled')`,
];

/** A rotation in progress: neither completed nor cancelled. */
const OPEN = `phase NOT IN ('completed', 'cancelled')`;
/** A writing statement that NOTIFYs once per row written (payload: the rotation id), in its own transaction; rowCount is the rows written. */
const notifying = (sql: string, idColumn = 'rotation_id') => `WITH w AS (${sql} RETURNING ${idColumn} AS rid) SELECT pg_notify('${ROTATION_CHANNEL}', rid) FROM w`;

const COLUMNS = 'id, from_key, to_key, record, phase, barrier, progress, message';
const SQL = {
  begin: numbered(notifying(`INSERT INTO cluster_rotation (id, from_key, to_key, record, phase, started_at, updated_at)
    VALUES (?, ?, ?, ?, 'prepare', ${NOW_MS}, ${NOW_MS}) ON CONFLICT DO NOTHING`, 'id')),
  latest: `SELECT ${COLUMNS} FROM cluster_rotation ORDER BY (${OPEN}) DESC, started_at DESC LIMIT 1`,
  byTo: numbered(`SELECT ${COLUMNS} FROM cluster_rotation WHERE to_key = ? ORDER BY started_at DESC LIMIT 1`),
  lockActive: `SELECT ${COLUMNS} FROM cluster_rotation WHERE ${OPEN} FOR UPDATE`,
  shareActive: `SELECT ${COLUMNS} FROM cluster_rotation WHERE ${OPEN} FOR SHARE`,
  // A report that changes nothing writes nothing and wakes nobody (each node reports at every look at the row).
  report: numbered(notifying(`INSERT INTO cluster_rotation_nodes AS n (rotation_id, node, instance, holds_new, problem, acked_barrier, finished, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ${NOW_MS})
    ON CONFLICT (rotation_id, node) DO UPDATE SET instance = excluded.instance, holds_new = excluded.holds_new, problem = excluded.problem,
      acked_barrier = excluded.acked_barrier, finished = excluded.finished, updated_at = excluded.updated_at
    WHERE (n.instance, n.holds_new, n.problem, n.acked_barrier, n.finished) IS DISTINCT FROM (excluded.instance, excluded.holds_new, excluded.problem, excluded.acked_barrier, excluded.finished)`)),
  nodes: numbered(`SELECT l.node, coalesce(n.holds_new, false) AS holds_new, coalesce(n.problem, '') AS problem,
      coalesce(n.acked_barrier, 0) AS acked_barrier, coalesce(n.finished, false) AS finished, l.node IS NOT NULL AND live.node IS NOT NULL AS live
    FROM (SELECT node FROM cluster_rotation_nodes WHERE rotation_id = ? UNION ${LIVE_NODES}) l
    LEFT JOIN cluster_rotation_nodes n ON n.rotation_id = ? AND n.node = l.node
    LEFT JOIN (${LIVE_NODES}) live ON live.node = l.node
    ORDER BY l.node`),
  update: numbered(notifying(`UPDATE cluster_rotation SET phase = ?, barrier = ?, progress = ?, message = ?, updated_at = ${NOW_MS} WHERE id = ? AND phase = ? AND barrier = ?`, 'id')),
  cancel: numbered(notifying(`UPDATE cluster_rotation SET phase = 'cancelled', message = ?, updated_at = ${NOW_MS} WHERE id = ? AND phase = 'prepare'`, 'id')),
  message: numbered(`UPDATE cluster_rotation SET message = ?, updated_at = ${NOW_MS} WHERE id = ?`),
  progress: numbered(`UPDATE cluster_rotation SET progress = ?, updated_at = ${NOW_MS} WHERE id = ?`),
};

interface Row {
  id: string;
  from_key: string;
  to_key: string;
  record: Record<string, unknown>;
  phase: RotationPhase;
  barrier: number;
  progress: Record<string, unknown>;
  message: string;
}

const toRow = (r: Row): ClusterRotationRow => ({ id: r.id, from: r.from_key, to: r.to_key, record: r.record, phase: r.phase, barrier: r.barrier, progress: r.progress, message: r.message });

// The row-locking transactions below (cancel, joinRead, trySwitch) run at READ COMMITTED
// whatever the database's default: a statement after the row's lock must see what its previous
// holder committed (at SERIALIZABLE the snapshot predates the lock, and the wait ends in 40001).
export class PgRotationStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(pool: pg.Pool): Promise<PgRotationStore> {
    await migrate(pool, 'cluster-rotation', PG_ROTATION_MIGRATIONS, 'cluster rotation tables');
    return new PgRotationStore(pool);
  }

  /** Records a new rotation in `prepare`; false if another one is not completed. */
  async begin(id: string, from: string, to: string, record: Record<string, unknown>): Promise<boolean> {
    return ((await this.pool.query(SQL.begin, [id, from, to, JSON.stringify(record)])).rowCount ?? 0) > 0;
  }

  /** The rotation in progress, else the last one completed. */
  async latest(): Promise<ClusterRotationRow | undefined> {
    const r = (await this.pool.query<Row>(SQL.latest)).rows[0];
    return r && toRow(r);
  }

  /** The last rotation to key `to` (a node whose custody.json names it asks whether it was cancelled). */
  async byTo(to: string): Promise<ClusterRotationRow | undefined> {
    const r = (await this.pool.query<Row>(SQL.byTo, [to])).rows[0];
    return r && toRow(r);
  }

  /**
   * prepare -> cancelled, under the rotation row's lock (so no switch can be in progress):
   * `record` runs first, with the row locked, and the change commits only if it succeeded
   * (the durable audit record). 'none': no rotation in progress; 'past-switch': the row
   * (sealing or later), which only finishing ends.
   */
  async cancel(message: string, record: (r: ClusterRotationRow) => Promise<void>): Promise<{ outcome: 'cancelled' | 'none' | 'past-switch'; row?: ClusterRotationRow }> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const locked = (await client.query<Row>(SQL.lockActive)).rows[0];
      const row = locked && toRow(locked);
      if (!row || row.phase !== 'prepare') {
        await client.query('ROLLBACK');
        return row ? { outcome: 'past-switch', row } : { outcome: 'none' };
      }
      await record(row);
      if (((await client.query(SQL.cancel, [message, row.id])).rowCount ?? 0) !== 1) throw new Error('the locked rotation row was not in prepare');
      await client.query('COMMIT');
      return { outcome: 'cancelled', row: { ...row, phase: 'cancelled', message } };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /**
   * Calls `changed` on every change NOTIFYd by any node (and after each (re)connection, when
   * one may have been missed), on a connection of its own that is opened again when lost.
   * `listening()` says whether notifications arrive now (else poll faster).
   */
  listen(changed: () => void, log: ChannelListenerLog): PgChannelListener {
    return PgChannelListener.start(this.pool, ROTATION_CHANNEL, changed, log);
  }

  /**
   * At a node's start, after its writer is registered: the rotation in progress, read under
   * the row's share lock, so a switch is either committed (and seen) or not yet begun (and
   * its check will see this node's writer).
   */
  async joinRead(): Promise<ClusterRotationRow | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const r = (await client.query<Row>(SQL.shareActive)).rows[0];
      await client.query('COMMIT');
      return r ? toRow(r) : await this.latest();
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async report(id: string, r: NodeReport): Promise<void> {
    await this.pool.query(SQL.report, [id, r.node, r.instance, r.holdsNew, r.problem, r.ackedBarrier, r.finished]);
  }

  /** Every node that reported or is live, with its report. */
  async nodes(id: string): Promise<RotationNodeRow[]> {
    const rows = (await this.pool.query<{ node: string; holds_new: boolean; problem: string; acked_barrier: number; finished: boolean; live: boolean }>(SQL.nodes, [id, id])).rows;
    return rows.map((r) => ({ node: r.node, holdsNew: r.holds_new, problem: r.problem, ackedBarrier: r.acked_barrier, finished: r.finished, live: r.live }));
  }

  /**
   * prepare -> sealing (barrier 1), if every live node holds the new key; else the nodes
   * that do not (with their reports). One transaction under the rotation row's lock.
   */
  async trySwitch(id: string): Promise<{ switched: boolean; blockers: RotationNodeRow[] }> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const row = (await client.query<Row>(SQL.lockActive)).rows[0];
      if (!row || row.id !== id || row.phase !== 'prepare') {
        await client.query('ROLLBACK');
        return { switched: false, blockers: [] };
      }
      // READ COMMITTED: this statement's snapshot begins after the lock was granted.
      const nodes = (await client.query<{ node: string; holds_new: boolean; problem: string; acked_barrier: number; finished: boolean; live: boolean }>(SQL.nodes, [id, id])).rows;
      const blockers = nodes.filter((n) => n.live && !n.holds_new).map((r) => ({ node: r.node, holdsNew: r.holds_new, problem: r.problem, ackedBarrier: r.acked_barrier, finished: r.finished, live: r.live }));
      if (blockers.length > 0) {
        await client.query('ROLLBACK');
        return { switched: false, blockers };
      }
      await client.query(SQL.update, ['sealing', 1, JSON.stringify(row.progress), '', id, 'prepare', row.barrier]);
      await client.query('COMMIT');
      return { switched: true, blockers: [] };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /** Moves the rotation on from (phase, barrier); false if it is no longer there. */
  async advance(id: string, from: { phase: RotationPhase; barrier: number }, to: { phase: RotationPhase; barrier: number; progress: object }): Promise<boolean> {
    return ((await this.pool.query(SQL.update, [to.phase, to.barrier, JSON.stringify(to.progress), '', id, from.phase, from.barrier])).rowCount ?? 0) > 0;
  }

  async setMessage(id: string, message: string): Promise<void> {
    await this.pool.query(SQL.message, [message, id]);
  }

  async setProgress(id: string, progress: object): Promise<void> {
    await this.pool.query(SQL.progress, [JSON.stringify(progress), id]);
  }
}
