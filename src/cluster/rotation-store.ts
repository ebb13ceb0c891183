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
//
// PostgreSQL only, like the job leader's lease: an embedded server rotates alone.

import type pg from 'pg';
import { migrate } from '../storage/postgres/migrate.js';
import { numbered } from '../storage/postgres/pg-metadata-sql.js';

export type RotationPhase = 'prepare' | 'sealing' | 'finishing' | 'completed';

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
];

const COLUMNS = 'id, from_key, to_key, record, phase, barrier, progress, message';
const SQL = {
  begin: numbered(`INSERT INTO cluster_rotation (id, from_key, to_key, record, phase, started_at, updated_at)
    VALUES (?, ?, ?, ?, 'prepare', ${NOW_MS}, ${NOW_MS}) ON CONFLICT DO NOTHING`),
  latest: `SELECT ${COLUMNS} FROM cluster_rotation ORDER BY (phase <> 'completed') DESC, started_at DESC LIMIT 1`,
  lockActive: `SELECT ${COLUMNS} FROM cluster_rotation WHERE phase <> 'completed' FOR UPDATE`,
  shareActive: `SELECT ${COLUMNS} FROM cluster_rotation WHERE phase <> 'completed' FOR SHARE`,
  report: numbered(`INSERT INTO cluster_rotation_nodes (rotation_id, node, instance, holds_new, problem, acked_barrier, finished, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ${NOW_MS})
    ON CONFLICT (rotation_id, node) DO UPDATE SET instance = excluded.instance, holds_new = excluded.holds_new, problem = excluded.problem,
      acked_barrier = excluded.acked_barrier, finished = excluded.finished, updated_at = excluded.updated_at`),
  nodes: numbered(`SELECT l.node, coalesce(n.holds_new, false) AS holds_new, coalesce(n.problem, '') AS problem,
      coalesce(n.acked_barrier, 0) AS acked_barrier, coalesce(n.finished, false) AS finished, l.node IS NOT NULL AND live.node IS NOT NULL AS live
    FROM (SELECT node FROM cluster_rotation_nodes WHERE rotation_id = ? UNION ${LIVE_NODES}) l
    LEFT JOIN cluster_rotation_nodes n ON n.rotation_id = ? AND n.node = l.node
    LEFT JOIN (${LIVE_NODES}) live ON live.node = l.node
    ORDER BY l.node`),
  update: numbered(`UPDATE cluster_rotation SET phase = ?, barrier = ?, progress = ?, message = ?, updated_at = ${NOW_MS} WHERE id = ? AND phase = ? AND barrier = ?`),
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

  /**
   * At a node's start, after its writer is registered: the rotation in progress, read under
   * the row's share lock, so a switch is either committed (and seen) or not yet begun (and
   * its check will see this node's writer).
   */
  async joinRead(): Promise<ClusterRotationRow | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
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
      await client.query('BEGIN');
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
