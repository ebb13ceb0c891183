// <data-dir>/usage.sqlite: the durable side of metering (docs/METERING.md).
// The server is its only writer (meter.ts flushes counters into it about once a second);
// `coffer usage` and the usage route read it. WAL lets a reader run beside the server.
//
//   requests   (hour, principal, key_arn, bucket, operation) -> requests, errors, avoided
//              hour: epoch ms of the start of the UTC hour; '' for "no key" / "not via S3";
//              avoided: object data keys derived from a cached bucket key instead of a
//              KMS request (operation is the request that was avoided).
//   key_hours  (hour, key_arn) -> units: billable key units held in that hour
//              (1 per customer managed key not pending deletion, +1 for each of its first two rotations)

import type Database from 'better-sqlite3';
import { openSqlite, runMigrations } from '../storage/sqlite-database.js';

const V1 = `
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE requests (
  hour       INTEGER NOT NULL,
  principal  TEXT NOT NULL,
  key_arn    TEXT NOT NULL,
  bucket     TEXT NOT NULL,
  operation  TEXT NOT NULL,
  requests   INTEGER NOT NULL,
  errors     INTEGER NOT NULL,
  avoided    INTEGER NOT NULL,
  PRIMARY KEY (hour, principal, key_arn, bucket, operation)
) WITHOUT ROWID;
CREATE TABLE key_hours (
  hour     INTEGER NOT NULL,
  key_arn  TEXT NOT NULL,
  units    INTEGER NOT NULL,
  PRIMARY KEY (hour, key_arn)
) WITHOUT ROWID;
`;

const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [(db) => db.exec(V1)];

export const USAGE_FILE = 'usage.sqlite';
export const HOUR_MS = 3_600_000;

export interface UsageCount {
  hour: number;
  principal: string;
  keyArn: string;
  bucket: string;
  operation: string;
  requests: number;
  errors: number;
  avoided: number;
}

export type GroupBy = 'principal' | 'key' | 'bucket' | 'operation';

const COLUMN: Record<GroupBy, string> = { principal: 'principal', key: 'key_arn', bucket: 'bucket', operation: 'operation' };

export interface GroupTotals {
  group: string;
  requests: number;
  errors: number;
  avoided: number;
}

export class UsageStore {
  private readonly upsert: Database.Statement;
  private readonly keyHour: Database.Statement;
  private readonly addAll: Database.Transaction<(rows: UsageCount[]) => void>;

  private constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(`INSERT INTO requests (hour, principal, key_arn, bucket, operation, requests, errors, avoided)
      VALUES (@hour, @principal, @keyArn, @bucket, @operation, @requests, @errors, @avoided)
      ON CONFLICT (hour, principal, key_arn, bucket, operation) DO UPDATE SET
        requests = requests + excluded.requests, errors = errors + excluded.errors, avoided = avoided + excluded.avoided`);
    // A key sampled twice in one hour (restart, a key created mid-hour) keeps the larger count: never counted twice.
    this.keyHour = db.prepare(`INSERT INTO key_hours (hour, key_arn, units) VALUES (?, ?, ?)
      ON CONFLICT (hour, key_arn) DO UPDATE SET units = max(units, excluded.units)`);
    this.addAll = db.transaction((rows: UsageCount[]) => {
      for (const r of rows) this.upsert.run(r);
    });
  }

  static open(path: string): UsageStore {
    return new UsageStore(openSqlite(path, {}, (db) => runMigrations(db, MIGRATIONS, 'usage database')));
  }

  /** Adds counts (one transaction). */
  add(rows: UsageCount[]): void {
    if (rows.length > 0) this.addAll(rows);
  }

  recordKeyHours(hour: number, keys: { keyArn: string; units: number }[]): void {
    this.db.transaction(() => {
      for (const k of keys) this.keyHour.run(hour, k.keyArn, k.units);
    })();
  }

  /** Requests, errors and avoided requests in [from, to) per group. */
  totalsBy(by: GroupBy, from: number, to: number): GroupTotals[] {
    const col = COLUMN[by];
    return this.db.prepare(`SELECT ${col} AS "group", sum(requests) AS requests, sum(errors) AS errors, sum(avoided) AS avoided
      FROM requests WHERE hour >= ? AND hour < ? GROUP BY ${col} ORDER BY sum(requests) DESC, ${col}`).all(from, to) as GroupTotals[];
  }

  /** Requests and avoided requests in [from, to). */
  totals(from: number, to: number): { requests: number; errors: number; avoided: number } {
    const r = this.db.prepare('SELECT coalesce(sum(requests), 0) AS requests, coalesce(sum(errors), 0) AS errors, coalesce(sum(avoided), 0) AS avoided FROM requests WHERE hour >= ? AND hour < ?').get(from, to) as { requests: number; errors: number; avoided: number };
    return r;
  }

  /** Requests per time bucket (bucketMs: an hour or a day, aligned to UTC) and group in [from, to). */
  series(by: GroupBy, from: number, to: number, bucketMs: number): { time: number; group: string; requests: number }[] {
    const col = COLUMN[by];
    return this.db.prepare(`SELECT (hour / ${bucketMs}) * ${bucketMs} AS time, ${col} AS "group", sum(requests) AS requests
      FROM requests WHERE hour >= ? AND hour < ? AND requests > 0 GROUP BY time, ${col} ORDER BY time, ${col}`).all(from, to) as { time: number; group: string; requests: number }[];
  }

  /** Key units held in [from, to), per key. */
  keyHoursBy(from: number, to: number): { keyArn: string; units: number }[] {
    return this.db.prepare('SELECT key_arn AS keyArn, sum(units) AS units FROM key_hours WHERE hour >= ? AND hour < ? GROUP BY key_arn ORDER BY key_arn').all(from, to) as { keyArn: string; units: number }[];
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
