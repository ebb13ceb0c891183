// Retention of the cluster's audit trail, as a job of the job leader (docs/CLUSTER.md,
// "Audit"): with COFFER_AUDIT_RETENTION_DAYS set, the rows of audit_events older than that
// are deleted, oldest first, in batches of at most 1,000 rows (one short statement each,
// so inserts and queries never wait long), at leadership start and every hour.
//
// Only the oldest stretch goes: a batch stops at the first row, in seq order, whose
// event_time is within the retention (pg-audit-trail.ts pruneBatch), so the trail never
// gets a hole in its middle — a row that some node's clock stamped early waits for the
// rows before it. With delivery to a bucket configured, nothing after the destination's
// delivered position is deleted, however old: an event leaves the database only once it is
// in the bucket. Page tokens past the deleted rows give shorter or empty pages, as the
// tokens of the file log do after rotation.

import type { Logger } from 'pino';
import type { PgAuditTrail } from './pg-audit-trail.js';
import { PeriodicJob } from './periodic.js';

const DAY_MS = 86_400_000;
/** Rows per DELETE. */
const BATCH = 1000;

export interface PgPruneOptions {
  trail: PgAuditTrail;
  retentionDays: number;
  /** The delivery destination (bucket[/prefix]) whose undelivered rows are kept; none: delivery is off. */
  deliveryDestination?: string;
  log: Logger;
  /** Between runs (default an hour). */
  intervalMs?: number;
  now?: () => number;
}

/**
 * A job of the job leader (cluster/job-leader.ts ClusterJob: start and stop, periodic.ts),
 * run at once and then every intervalMs; stop() ends a run in progress after its current batch.
 */
export class PgAuditPruner extends PeriodicJob<number> {
  constructor(private readonly o: PgPruneOptions) {
    super({ firstDelayMs: 0, intervalMs: o.intervalMs ?? 3_600_000 });
  }

  /** One run now: the number of rows deleted. */
  prune(): Promise<number> {
    return this.runNow();
  }

  protected failed(err: unknown): number {
    this.o.log.warn({ err }, 'audit trail pruning failed; retrying at the next run');
    return 0;
  }

  protected async run(): Promise<number> {
    const { trail } = this.o;
    const before = (this.o.now ?? Date.now)() - this.o.retentionDays * DAY_MS;
    let maxSeq = Number.MAX_SAFE_INTEGER;
    if (this.o.deliveryDestination !== undefined) {
      // Nothing delivered there yet: everything waits for the first delivery.
      maxSeq = (await trail.deliveryPosition(this.o.deliveryDestination).get())?.delivered ?? 0;
    }
    let deleted = 0;
    for (;;) {
      const n = await trail.pruneBatch(before, maxSeq, BATCH);
      deleted += n;
      if (n < BATCH || this.halted) break;
    }
    if (deleted > 0) this.o.log.info({ deleted, retentionDays: this.o.retentionDays }, 'deleted audit events older than the retention');
    return deleted;
  }
}
