// The UsageStore on PostgreSQL, for nodes of a cluster sharing one database
// (docs/CLUSTER.md); the twin of sqlite-usage-store.ts, passing the same contract suite.
//
//   usage_requests   (hour, principal, key_arn, bucket, operation, price_class) -> requests, errors, avoided
//   usage_key_hours  (hour, key_arn) -> units
//
// Every node's meter flushes its own counts: add() is one INSERT … ON CONFLICT DO UPDATE
// that adds to the stored row, atomic under READ COMMITTED, so counts of two nodes for
// the same row both land. Rows are merged and sorted first, so one statement never
// touches a row twice and two nodes' flushes lock rows in the same order (no deadlock).

import type pg from 'pg';
import { migrate, type PgMigration } from '../storage/postgres/migrate.js';
import { transaction } from '../storage/postgres/transaction.js';
import type { ClassTotals, GroupBy, GroupTotals, KeyUnits, UsageCount, UsageStore } from './usage-store.js';

const V1 = `
CREATE TABLE usage_requests (
  hour        BIGINT NOT NULL,
  principal   TEXT COLLATE "C" NOT NULL,
  key_arn     TEXT COLLATE "C" NOT NULL,
  bucket      TEXT COLLATE "C" NOT NULL,
  operation   TEXT COLLATE "C" NOT NULL,
  price_class TEXT COLLATE "C" NOT NULL,
  requests    BIGINT NOT NULL,
  errors      BIGINT NOT NULL,
  avoided     BIGINT NOT NULL,
  PRIMARY KEY (hour, principal, key_arn, bucket, operation, price_class)
);
CREATE TABLE usage_key_hours (
  hour    BIGINT NOT NULL,
  key_arn TEXT COLLATE "C" NOT NULL,
  units   BIGINT NOT NULL,
  PRIMARY KEY (hour, key_arn)
);
`;

/** migrations[n] takes the usage tables from version n to n + 1 (component 'usage'). */
export const PG_USAGE_MIGRATIONS: readonly PgMigration[] = [V1];

const COLUMN: Record<GroupBy, string> = { principal: 'principal', key: 'key_arn', bucket: 'bucket', operation: 'operation' };

const UPSERT = `INSERT INTO usage_requests (hour, principal, key_arn, bucket, operation, price_class, requests, errors, avoided)
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[])
  ON CONFLICT (hour, principal, key_arn, bucket, operation, price_class) DO UPDATE SET
    requests = usage_requests.requests + excluded.requests,
    errors = usage_requests.errors + excluded.errors,
    avoided = usage_requests.avoided + excluded.avoided`;

// A key sampled twice in one hour (by two nodes, a restart) keeps the larger count: never counted twice.
const KEY_HOURS = `INSERT INTO usage_key_hours (hour, key_arn, units)
  SELECT $1::bigint, * FROM unnest($2::text[], $3::bigint[])
  ON CONFLICT (hour, key_arn) DO UPDATE SET units = GREATEST(usage_key_hours.units, excluded.units)`;

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class PgUsageStore implements UsageStore {
  private closed = false;

  private constructor(private readonly pool: pg.Pool, private readonly closePool: boolean) {}

  /** Brings the usage tables up to date (once across nodes) and returns the store. */
  static async open(pool: pg.Pool, opts: { closePool?: boolean } = {}): Promise<PgUsageStore> {
    try {
      await migrate(pool, 'usage', PG_USAGE_MIGRATIONS, 'usage database');
    } catch (e) {
      if (opts.closePool) await pool.end();
      throw e;
    }
    return new PgUsageStore(pool, opts.closePool ?? false);
  }

  async add(rows: UsageCount[]): Promise<void> {
    if (rows.length === 0) return;
    const merged = new Map<string, { key: string[]; hour: number; requests: number; errors: number; avoided: number }>();
    for (const r of rows) {
      const key = [r.principal, r.keyArn, r.bucket, r.operation, r.priceClass ?? 'symmetric'];
      const id = JSON.stringify([r.hour, ...key]);
      const m = merged.get(id);
      if (m) {
        m.requests += r.requests;
        m.errors += r.errors;
        m.avoided += r.avoided;
      } else {
        merged.set(id, { key, hour: r.hour, requests: r.requests, errors: r.errors, avoided: r.avoided });
      }
    }
    const list = [...merged.entries()].sort(([a], [b]) => byteOrder(a, b)).map(([, m]) => m);
    const col = (i: number) => list.map((m) => m.key[i]!);
    const values = [
      list.map((m) => m.hour), col(0), col(1), col(2), col(3), col(4),
      list.map((m) => m.requests), list.map((m) => m.errors), list.map((m) => m.avoided),
    ];
    await transaction(this.pool, 'READ COMMITTED', (q) => q.query(UPSERT, values));
  }

  async recordKeyHours(hour: number, keys: KeyUnits[]): Promise<void> {
    if (keys.length === 0) return;
    const units = new Map<string, number>();
    for (const k of keys) units.set(k.keyArn, Math.max(units.get(k.keyArn) ?? 0, k.units));
    const arns = [...units.keys()].sort(byteOrder);
    await transaction(this.pool, 'READ COMMITTED', (q) => q.query(KEY_HOURS, [hour, arns, arns.map((a) => units.get(a)!)]));
  }

  async totalsBy(by: GroupBy, from: number, to: number): Promise<GroupTotals[]> {
    const col = COLUMN[by];
    return this.rows(`SELECT ${col} AS "group", sum(requests) AS requests, sum(errors) AS errors, sum(avoided) AS avoided
      FROM usage_requests WHERE hour >= $1 AND hour < $2 GROUP BY ${col} ORDER BY sum(requests) DESC, ${col}`, [from, to]);
  }

  async totals(from: number, to: number): Promise<{ requests: number; errors: number; avoided: number }> {
    const [r] = await this.rows<{ requests: number; errors: number; avoided: number }>(
      `SELECT coalesce(sum(requests), 0) AS requests, coalesce(sum(errors), 0) AS errors, coalesce(sum(avoided), 0) AS avoided
       FROM usage_requests WHERE hour >= $1 AND hour < $2`, [from, to]);
    return r!;
  }

  async series(by: GroupBy, from: number, to: number, bucketMs: number): Promise<{ time: number; group: string; requests: number }[]> {
    const col = COLUMN[by];
    return this.rows(`SELECT (hour / $3) * $3 AS time, ${col} AS "group", sum(requests) AS requests
      FROM usage_requests WHERE hour >= $1 AND hour < $2 AND requests > 0 GROUP BY 1, 2 ORDER BY 1, 2`, [from, to, bucketMs]);
  }

  async classTotals(from: number, to: number): Promise<ClassTotals[]> {
    return this.rows(`SELECT '' AS "group", price_class AS "priceClass", sum(requests) AS requests, sum(avoided) AS avoided
      FROM usage_requests WHERE hour >= $1 AND hour < $2 GROUP BY price_class ORDER BY price_class`, [from, to]);
  }

  async classTotalsBy(by: GroupBy, from: number, to: number): Promise<ClassTotals[]> {
    const col = COLUMN[by];
    return this.rows(`SELECT ${col} AS "group", price_class AS "priceClass", sum(requests) AS requests, sum(avoided) AS avoided
      FROM usage_requests WHERE hour >= $1 AND hour < $2 GROUP BY ${col}, price_class ORDER BY ${col}, price_class`, [from, to]);
  }

  async keyHoursBy(from: number, to: number): Promise<KeyUnits[]> {
    return this.rows(`SELECT key_arn AS "keyArn", sum(units) AS units FROM usage_key_hours
      WHERE hour >= $1 AND hour < $2 GROUP BY key_arn ORDER BY key_arn`, [from, to]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.closePool) await this.pool.end();
  }

  private async rows<R>(sql: string, values: unknown[]): Promise<R[]> {
    return (await this.pool.query(sql, values)).rows as R[];
  }
}
