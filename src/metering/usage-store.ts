// The durable side of metering behind one interface (docs/METERING.md): KMS request counts
// per UTC hour, principal, key, bucket and operation, and the key units held per hour. The
// server's meter (meter.ts) is its only writer, flushing about once a second; the usage
// report (report.ts), its route and `coffer usage` read it. The embedded implementation is
// SQLite (sqlite-usage-store.ts, <data-dir>/usage.sqlite); every implementation passes
// test/metering/usage-store.contract.ts.

import type { PriceClass } from './prices.js';

export const HOUR_MS = 3_600_000;

/** The counts of one group in one hour. */
export interface UsageCount {
  /** Epoch ms of the start of the UTC hour. */
  hour: number;
  principal: string;
  /** '' when the request named no key. */
  keyArn: string;
  /** '' for a request not made through S3. */
  bucket: string;
  operation: string;
  requests: number;
  errors: number;
  /** Object data keys derived from a cached bucket key instead of a KMS request (operation is the request avoided). */
  avoided: number;
  /** How AWS prices the request (prices.ts); 'symmetric' when absent. */
  priceClass?: PriceClass;
}

/** Requests of one price class (and group, for classTotalsBy). */
export interface ClassTotals {
  group: string;
  priceClass: PriceClass;
  requests: number;
  avoided: number;
}

export type GroupBy = 'principal' | 'key' | 'bucket' | 'operation';

export interface GroupTotals {
  group: string;
  requests: number;
  errors: number;
  avoided: number;
}

export interface KeyUnits {
  keyArn: string;
  /** Billable key units: 1 per customer managed key not pending deletion, +1 for each of its first two rotations. */
  units: number;
}

export interface UsageStore {
  /** Adds counts to those already stored for the same (hour, principal, keyArn, bucket, operation), all rows or none. */
  add(rows: UsageCount[]): Promise<void>;
  /** The key units held in `hour`; a key sampled again in the same hour keeps the larger count, never the sum. */
  recordKeyHours(hour: number, keys: KeyUnits[]): Promise<void>;
  /** Requests, errors and avoided requests of the hours in [from, to), per group, most requests first, then by group. */
  totalsBy(by: GroupBy, from: number, to: number): Promise<GroupTotals[]>;
  /** Requests, errors and avoided requests of the hours in [from, to) (zeros when none). */
  totals(from: number, to: number): Promise<{ requests: number; errors: number; avoided: number }>;
  /**
   * Requests per time bucket (bucketMs: an hour or a day; times aligned to multiples of it)
   * and group in [from, to), ordered by time then group; groups without requests are left out.
   */
  series(by: GroupBy, from: number, to: number, bucketMs: number): Promise<{ time: number; group: string; requests: number }[]>;
  /** Requests and avoided requests of the hours in [from, to) per price class; group is ''. */
  classTotals(from: number, to: number): Promise<ClassTotals[]>;
  /** Requests of the hours in [from, to) per group and price class, ordered by group then class. */
  classTotalsBy(by: GroupBy, from: number, to: number): Promise<ClassTotals[]>;
  /** Key units held in [from, to), summed per key, ordered by key ARN. */
  keyHoursBy(from: number, to: number): Promise<KeyUnits[]>;
  close(): Promise<void>;
}
