// The delivery position of one destination (`bucket[/prefix]`) of the cluster's audit trail
// (pg-delivery.ts): its row of audit_delivery (destination, delivered_seq, pending_to,
// pending_stamp; pg-audit-store.ts). Every event with seq ≤ delivered is in the bucket;
// pending names the range (delivered, to] a delivery chose and has not confirmed, in an
// object named by its stamp and first seq. One conditional statement per change.

import type pg from 'pg';
import type { DeliveryPositionStore } from './delivery-position.js';

/** Where delivery stands for one destination. */
export interface DeliveryPosition {
  /** Every event with seq ≤ this is delivered. */
  delivered: number;
  /** A range chosen and maybe stored, not yet confirmed: (delivered, pending.to], named with pending.stamp (ms since the epoch). */
  pending?: { to: number; stamp: number };
}

const SQL = {
  get: 'SELECT delivered_seq::text AS delivered, pending_to::text AS pending_to, pending_stamp::text AS pending_stamp FROM audit_delivery WHERE destination = $1',
  create: 'INSERT INTO audit_delivery (destination, delivered_seq, pending_to, pending_stamp) VALUES ($1, $2, $3, $4) ON CONFLICT (destination) DO NOTHING',
  replace: `UPDATE audit_delivery SET delivered_seq = $5, pending_to = $6, pending_stamp = $7
    WHERE destination = $1 AND delivered_seq = $2 AND pending_to IS NOT DISTINCT FROM $3::bigint AND pending_stamp IS NOT DISTINCT FROM $4::bigint`,
} as const;

const columns = (p: DeliveryPosition) => [p.delivered, p.pending?.to ?? null, p.pending?.stamp ?? null];

export class PgDeliveryPosition implements DeliveryPositionStore<DeliveryPosition> {
  constructor(
    private readonly pool: pg.Pool,
    readonly destination: string,
  ) {}

  async get(): Promise<DeliveryPosition | undefined> {
    const r = (await this.pool.query<{ delivered: string; pending_to: string | null; pending_stamp: string | null }>(SQL.get, [this.destination])).rows[0];
    if (!r) return undefined;
    return {
      delivered: Number(r.delivered),
      ...(r.pending_to === null ? {} : { pending: { to: Number(r.pending_to), stamp: Number(r.pending_stamp) } }),
    };
  }

  async replace(expected: DeliveryPosition | undefined, next: DeliveryPosition): Promise<boolean> {
    const r = expected === undefined
      ? await this.pool.query(SQL.create, [this.destination, ...columns(next)])
      : await this.pool.query(SQL.replace, [this.destination, ...columns(expected), ...columns(next)]);
    return r.rowCount === 1;
  }
}
