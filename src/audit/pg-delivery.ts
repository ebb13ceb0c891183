// Delivery of the cluster's audit trail to a bucket, as a job of the job leader
// (docs/CLUSTER.md, "Audit" and "Job leader"; docs/spec/audit-log.md section 6). The objects
// are those of single-node delivery (delivery.ts: the same key layout, the same gzipped
// {"Records":[…]} body, at most 10,000 records or 32 MiB each, written through Coffer's own
// S3 API); what differs is where the position is kept and how a range is chosen:
//
//   every interval, on the leader:
//     pos = audit_delivery row of bucket[/prefix]            (made at 0: deliver all kept)
//     loop:
//       if pos has a pending range: take it as it is          (a crash or failover left it)
//       else: H = horizon()                                   (pg-audit-trail.ts)
//             rows = the next rows after pos.delivered, ≤ H, within the object limits
//             none -> done
//             plan(pos.delivered, last seq, now)              (pending, conditional)
//       PUT <key of (stamp, first seq)> <rows of the range>
//       advance(pos.delivered -> pending_to)                 (conditional)
//
// The key's unique part is the range's first seq, 16 decimal digits, so a range PUT again
// after a crash between the PUT and advance() lands on the same key with the same body:
// every record is in the bucket exactly once. The conditional updates keep the position
// moving forward only, should a paused old leader resume beside the new one; whatever it
// PUTs then is the same object again.

import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { deliveryKey, MAX_BYTES, MAX_RECORDS } from './delivery.js';
import type { PgAuditTrail, TrailRow } from './pg-audit-trail.js';

export interface PgDeliveryOptions {
  trail: PgAuditTrail;
  bucket: string;
  prefix?: string;
  accountId: string;
  region: string;
  intervalSeconds: number;
  /** Stores one object in the bucket (self-s3.ts's putOwnObject). */
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  /** Called before each round so this node's events recorded so far are in the table. */
  beforeRead?: () => Promise<void>;
  log: Logger;
  /** The delivery clock (object keys' date and minute); default Date.now. */
  now?: () => number;
}

/** The key's unique part: the range's first seq, zero-padded so keys of one minute sort in seq order. */
export function seqUnique(seq: number): string {
  return String(seq).padStart(16, '0');
}

/** The audit_delivery row of a destination: `bucket` or `bucket/prefix`. */
export function destinationOf(o: { bucket: string; prefix?: string }): string {
  return o.prefix ? `${o.bucket}/${o.prefix}` : o.bucket;
}

/** A job of the job leader (cluster/job-leader.ts ClusterJob: start and stop; audit/ does not import cluster/). */
export class PgAuditDelivery {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private warnedMissing = false;
  /** Set by stop(): a round in progress ends after the object it is writing (a backlog is many objects). */
  private halted = false;

  constructor(private readonly o: PgDeliveryOptions) {}

  get destination(): string {
    return destinationOf(this.o);
  }

  start(): void {
    if (this.timer) return;
    this.halted = false;
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.deliver().finally(() => {
          if (this.timer) tick();
        });
      }, this.o.intervalSeconds * 1000);
      this.timer.unref();
    };
    tick();
  }

  /** Stops the timer and waits for a round in progress (its PUT goes to this server, which is still up). */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.halted = true;
    await this.running;
  }

  /** One round now: the number of records delivered (0 when nothing was new or the round failed). */
  deliver(): Promise<number> {
    if (!this.running) {
      this.running = this.round()
        .catch((err: unknown) => {
          this.o.log.warn({ err, bucket: this.o.bucket }, 'audit log delivery failed; retrying at the next interval');
          return 0;
        })
        .finally(() => {
          this.running = undefined;
        });
    }
    return this.running;
  }

  private async round(): Promise<number> {
    await this.o.beforeRead?.();
    const { trail } = this.o;
    const dest = this.destination;
    let delivered = 0;
    while (!this.halted) {
      const pos = await trail.position(dest);
      let to: number;
      let stamp: number;
      let rows: TrailRow[];
      if (pos.pending) {
        ({ to, stamp } = pos.pending);
        // Within the limits by construction: the range was chosen by rows() with them.
        rows = await trail.rows(pos.delivered, to, MAX_RECORDS, Number.MAX_SAFE_INTEGER);
      } else {
        const horizon = await trail.horizon();
        if (horizon <= pos.delivered) return delivered;
        rows = await trail.rows(pos.delivered, horizon, MAX_RECORDS, MAX_BYTES);
        if (rows.length === 0) return delivered;
        to = rows.at(-1)!.seq;
        stamp = (this.o.now ?? Date.now)();
        if (!(await trail.plan(dest, pos.delivered, to, stamp))) continue; // another leader moved it: read it again
      }
      if (rows.length > 0) {
        const body = gzipSync(Buffer.from(`{"Records":[${rows.map((r) => r.record).join(',')}]}`));
        const key = deliveryKey(this.o, new Date(stamp), seqUnique(rows[0]!.seq));
        try {
          await this.o.put(this.o.bucket, key, body);
        } catch (err) {
          if ((err as { code?: string }).code === 'NoSuchBucket') {
            if (!this.warnedMissing) this.o.log.warn({ bucket: this.o.bucket }, `the audit delivery bucket ${this.o.bucket} does not exist; create it (with default encryption) or change COFFER_AUDIT_BUCKET — retrying at the next interval`);
            this.warnedMissing = true;
          } else {
            this.o.log.warn({ err, bucket: this.o.bucket, key }, 'audit log delivery failed; retrying at the next interval');
          }
          return delivered;
        }
        this.warnedMissing = false;
      }
      // A pending range whose rows are all gone (deleted by hand) has nothing to PUT: it is confirmed as is.
      if (await trail.advance(dest, pos.delivered, to)) delivered += rows.length;
    }
    return delivered;
  }
}
