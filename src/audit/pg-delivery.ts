// Delivery of the cluster's audit trail to a bucket, as a job of the job leader
// (docs/CLUSTER.md, "Audit" and "Job leader"; docs/spec/audit-log.md section 6). The objects
// are those of single-node delivery (delivery-object.ts: the same key layout, the same
// gzipped {"Records":[…]} body, at most 10,000 records or 32 MiB each, written through
// Coffer's own S3 API); what differs is where the position is kept and how a range is chosen:
//
//   every interval, on the leader:
//     pos = audit_delivery row of bucket[/prefix]            (made at 0: deliver all kept;
//                                                             pg-delivery-position.ts)
//     loop:
//       if pos has a pending range: take it as it is          (a crash or failover left it)
//       else: H = horizon()                                   (pg-audit-trail.ts)
//             rows = the next rows after pos.delivered, ≤ H, within the object limits
//             none -> done
//             pos := pos + pending (last seq, now)           (conditional: replace(pos, …))
//       PUT <key of (stamp, first seq)> <rows of the range>
//       pos := delivered pending_to                          (conditional: replace(pos, …))
//
// The key's unique part is the range's first seq, 16 decimal digits, so a range PUT again
// after a crash between the PUT and advance() lands on the same key with the same body:
// every record is in the bucket exactly once. The conditional updates keep the position
// moving forward only, should a paused old leader resume beside the new one; whatever it
// PUTs then is the same object again.

import { DeliveryJob, MAX_BYTES, MAX_RECORDS, type DeliverySettings } from './delivery-object.js';
import type { PgAuditTrail, TrailRow } from './pg-audit-trail.js';

export interface PgDeliveryOptions extends DeliverySettings {
  trail: PgAuditTrail;
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

/**
 * A job of the job leader (cluster/job-leader.ts ClusterJob: start and stop; delivery-object.ts DeliveryJob).
 * stop() waits for a round in progress (its PUT goes to this server, which is still up),
 * which ends after the object it is writing (a backlog is many objects).
 */
export class PgAuditDelivery extends DeliveryJob {
  constructor(private readonly o: PgDeliveryOptions) {
    super(o);
  }

  override get destination(): string {
    return destinationOf(this.o);
  }

  protected async oldestUndelivered(): Promise<number | undefined> {
    const pos = await this.o.trail.deliveryPosition(this.destination).get();
    return this.o.trail.eventTimeAfter(pos?.delivered ?? 0);
  }

  protected async round(): Promise<number> {
    const { trail } = this.o;
    const position = trail.deliveryPosition(this.destination);
    let delivered = 0;
    while (!this.halted) {
      let pos = await position.get();
      if (!pos) {
        // Made at 0 (deliver every event kept); another leader may make it at once: read it again.
        await position.replace(undefined, { delivered: 0 });
        continue;
      }
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
        const planned = { delivered: pos.delivered, pending: { to, stamp } };
        if (!(await position.replace(pos, planned))) continue; // another leader moved it: read it again
        pos = planned;
      }
      if (rows.length > 0) {
        if (!(await this.writer.write(rows.map((r) => r.record), new Date(stamp), seqUnique(rows[0]!.seq)))) return delivered;
      }
      // A pending range whose rows are all gone (deleted by hand) has nothing to PUT: it is confirmed as is.
      if (await position.replace(pos, { delivered: to })) delivered += rows.length;
    }
    return delivered;
  }
}
