// The AuditStore on PostgreSQL: one audit trail for every node of a cluster sharing one
// database (docs/CLUSTER.md, "Audit"; docs/spec/audit-log.md section 6). The twin of the
// file log (audit-log.ts), passing the same contract suite.
//
//   audit_events (seq, xid, event_id, node, event_time, event_name, error_code, record)
//
// `record` is the CloudTrail record as the file log writes its line (cloudtrail.ts), byte
// for byte; the other columns are what queries filter and order on. `seq` (an identity)
// is the cluster-wide order: newest first is `seq` descending, and within one node it is
// the order the node recorded its events. `node` names the node that wrote the row.
//
// Durable before the answer: record() resolves once the INSERT holding the event has
// committed (with synchronous_commit on, the commit is in the WAL on disk). Group commit as
// in the file log: the events recorded while one INSERT is in flight go out together in
// the next, one statement (unnest of arrays) and one round trip per batch. A batch retried
// after an error that may have followed its commit is not stored twice: event_id is unique
// and the INSERT skips ids already there.
//
// Stable pages across nodes: `seq` is taken when a row is inserted, not when it commits,
// so a row of another node's transaction in flight can become visible below a position a
// page already passed. A page token therefore carries the snapshot of the first page
// (pg_current_snapshot()) and later pages see exactly the rows that snapshot saw
// (pg_visible_in_snapshot of the row's xid): the events that existed when the first page
// was read, each once.
//
// Fail closed, as the file log (group-commit.ts, shared with it): when an INSERT fails
// (the database is unreachable) the store refuses new requests (checkWritable), holds the
// events it could not write and tries them again every second.

import type pg from 'pg';
import type { Logger } from 'pino';
import { migrate, type PgMigration } from '../storage/postgres/migrate.js';
import { toCloudTrail } from './cloudtrail.js';
import type { AuditStore } from './audit-store.js';
import type { CloudTrailEvent } from './event.js';
import { fingerprint, invalid, matches, needles, type AuditFilter, type AuditPage, type AuditPageRequest } from './query.js';
import type { AuditEvent } from './sink.js';
import { GroupCommit } from './group-commit.js';
import { PgAuditTrail } from './pg-audit-trail.js';

const V1 = `
CREATE TABLE audit_events (
  seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid        XID8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id   UUID NOT NULL UNIQUE,
  node       TEXT COLLATE "C" NOT NULL,
  event_time BIGINT NOT NULL,
  event_name TEXT COLLATE "C" NOT NULL,
  error_code TEXT COLLATE "C",
  record     TEXT NOT NULL
);
`;

/** Where delivery to each bucket stands (pg-audit-trail.ts; docs/spec/audit-log.md section 6). */
const V2 = `
CREATE TABLE audit_delivery (
  destination   TEXT COLLATE "C" PRIMARY KEY,
  delivered_seq BIGINT NOT NULL DEFAULT 0,
  pending_to    BIGINT,
  pending_stamp BIGINT,
  CHECK ((pending_to IS NULL) = (pending_stamp IS NULL) AND (pending_to IS NULL OR pending_to > delivered_seq))
);
`;

/** migrations[n] takes the audit tables from version n to n + 1 (component 'audit'). */
export const PG_AUDIT_MIGRATIONS: readonly PgMigration[] = [V1, V2];

const INSERT = `INSERT INTO audit_events (event_id, node, event_time, event_name, error_code, record)
  SELECT e.id, $1::text, e.t, e.n, e.c, e.r FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS e(id, t, n, c, r, i)
  ORDER BY e.i
  ON CONFLICT (event_id) DO NOTHING`;

/** Most events in one INSERT. */
const MAX_BATCH = 1000;
/** Rows read per round trip while a page fills. */
const MAX_CHUNK = 1000;

interface Row {
  id: string;
  time: number;
  name: string;
  error: string | null;
  record: string;
}

export interface PgAuditStoreOptions {
  /** The node writing (its rows' `node`). */
  node: string;
  region: string;
  /** Where write failures are reported. */
  log?: Logger;
  /** End the pool on close (tests: one pool per store). */
  closePool?: boolean;
}

export class PgAuditStore implements AuditStore {
  /** Queues the rows, inserts them in batches, holds them while the database fails. */
  private readonly commit: GroupCommit<Row>;
  /** The trail in seq order and the delivery positions, for the job leader's delivery and pruning. */
  readonly trail: PgAuditTrail;

  private constructor(private readonly pool: pg.Pool, private readonly opts: PgAuditStoreOptions) {
    this.trail = new PgAuditTrail(pool);
    this.commit = new GroupCommit<Row>({ write: (rows) => this.insert(rows), maxBatch: MAX_BATCH, log: opts.log });
  }

  /** Brings the audit table up to date (once across nodes) and returns the store. */
  static async open(pool: pg.Pool, opts: PgAuditStoreOptions): Promise<PgAuditStore> {
    try {
      await migrate(pool, 'audit', PG_AUDIT_MIGRATIONS, 'audit database');
    } catch (e) {
      if (opts.closePool) await pool.end();
      throw e;
    }
    return new PgAuditStore(pool, opts);
  }

  /** Group commit: everything queued goes out in one INSERT; what is recorded meanwhile waits for the next. */
  record(e: AuditEvent): Promise<void> {
    const ev = toCloudTrail(e, this.opts.region);
    return this.commit.add({ id: ev.eventID, time: Date.parse(ev.eventTime), name: ev.eventName, error: ev.errorCode ?? null, record: JSON.stringify(ev) });
  }

  checkWritable(): void {
    this.commit.checkWritable();
  }

  /** One statement, one round trip, committed on its own (autocommit). */
  private async insert(rows: Row[]): Promise<void> {
    await this.pool.query(INSERT, [
      this.opts.node,
      rows.map((r) => r.id),
      rows.map((r) => r.time),
      rows.map((r) => r.name),
      rows.map((r) => r.error),
      rows.map((r) => r.record),
    ]);
  }

  /** Waits until every event this node recorded so far is stored or held. */
  flush(): Promise<void> {
    return this.commit.flush();
  }

  /** A page of the whole cluster's trail (every node's events). */
  query(request: AuditPageRequest): Promise<AuditPage> {
    return queryPgAudit(this.pool, request);
  }

  async close(): Promise<void> {
    if (this.commit.closed) return;
    await this.commit.close();
    if (this.opts.closePool) await this.pool.end();
  }
}

/** What a next-page token of the database store holds (docs/spec/audit-log.md section 6). */
interface PgPageToken {
  v: 1;
  /** 'pg': a token of this store (a file store's token names a file instead). */
  k: 'pg';
  /** The seq of the last event of the previous page. */
  n: number;
  /** The first page's snapshot (pg_snapshot as text). */
  x: string;
  q: string;
  s?: number;
  u?: number;
}

const SNAPSHOT = /^\d+:\d+:(\d+(,\d+)*)?$/;

function decodePgToken(s: string, f: AuditFilter): PgPageToken {
  let t: PgPageToken;
  const bad = () => invalid('nextToken', s.slice(0, 64), 'pass the nextToken of the previous page unchanged');
  try {
    t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as PgPageToken;
  } catch {
    throw bad();
  }
  if (t === null || typeof t !== 'object' || t.v !== 1 || t.k !== 'pg' || !Number.isSafeInteger(t.n) || t.n < 0 || typeof t.x !== 'string' || !SNAPSHOT.test(t.x) || typeof t.q !== 'string') throw bad();
  if (t.q !== fingerprint(f)) throw invalid('nextToken', s.slice(0, 64), 'it was issued for a query with other filters; repeat the filters of the first page');
  return t;
}

/**
 * One page of the trail in the database behind `pool`, newest first (seq descending).
 * The indexed columns and the filters' substrings (query.ts needles) narrow the rows in
 * PostgreSQL; matches() decides on each record, as for the files.
 */
export async function queryPgAudit(pool: Pick<pg.Pool, 'query'>, req: AuditPageRequest): Promise<AuditPage> {
  const filter: AuditFilter = { ...req };
  let below: number | undefined;
  let snapshot: string | undefined;
  if (req.nextToken !== undefined) {
    const t = decodePgToken(req.nextToken, req);
    filter.since = t.s === undefined ? undefined : new Date(t.s);
    filter.until = t.u === undefined ? undefined : new Date(t.u);
    below = t.n;
    snapshot = t.x;
  }
  const values: unknown[] = [];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const where: string[] = [];
  if (filter.eventName !== undefined) where.push(`event_name = ${param(filter.eventName)}`);
  if (filter.error === 'any') where.push('error_code IS NOT NULL');
  else if (filter.error === 'none') where.push('error_code IS NULL');
  else if (filter.error !== undefined) where.push(`error_code = ${param(filter.error)}`);
  if (filter.since) where.push(`event_time >= ${param(filter.since.getTime())}`);
  if (filter.until) where.push(`event_time <= ${param(filter.until.getTime())}`);
  for (const n of needles(filter)) where.push(`strpos(record, ${param(n)}) > 0`);
  const chunk = Math.min(MAX_CHUNK, Math.max(req.limit, 100));
  const events: CloudTrailEvent[] = [];
  for (;;) {
    const cond = [...where];
    const vals = [...values];
    const p = (v: unknown): string => {
      vals.push(v);
      return `$${vals.length}`;
    };
    if (below !== undefined) cond.push(`seq < ${p(below)}`);
    if (snapshot !== undefined) cond.push(`pg_visible_in_snapshot(xid, ${p(snapshot)}::pg_snapshot)`);
    const sql = `SELECT seq, record, pg_current_snapshot()::text AS snap FROM audit_events${cond.length ? ` WHERE ${cond.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${p(chunk)}`;
    const { rows } = await pool.query<{ seq: number; record: string; snap: string }>(sql, vals);
    // The first read's own snapshot is the one every later read of this query sees.
    snapshot ??= rows[0]?.snap;
    for (const row of rows) {
      const ev = JSON.parse(row.record) as CloudTrailEvent;
      if (!matches(ev, filter)) continue;
      events.push(ev);
      if (events.length === req.limit) {
        const token: PgPageToken = { v: 1, k: 'pg', n: row.seq, x: snapshot!, q: fingerprint(filter) };
        if (filter.since) token.s = filter.since.getTime();
        if (filter.until) token.u = filter.until.getTime();
        return { events, nextToken: Buffer.from(JSON.stringify(token)).toString('base64url') };
      }
    }
    if (rows.length < chunk) return { events };
    below = rows.at(-1)!.seq;
  }
}
