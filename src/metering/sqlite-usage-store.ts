// The embedded UsageStore: <data-dir>/usage.sqlite (docs/spec/usage-database.md), in WAL
// mode so `coffer usage` can read beside the server.
//
//   requests   (hour, principal, key_arn, bucket, operation, price_class) -> requests, errors, avoided
//              hour: epoch ms of the start of the UTC hour; '' for "no key" / "not via S3"
//   key_hours  (hour, key_arn) -> units
//
// better-sqlite3 is synchronous: each method does its work at once and returns a settled
// Promise; the interface is async so a networked store can implement it.

import type Database from 'better-sqlite3';
import { openSqlite, runMigrations, synchronousLevel } from '../storage/sqlite-database.js';
import type { ClassTotals, GroupBy, GroupTotals, KeyUnits, UsageCount, UsageStore } from './usage-store.js';

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

// Version 2: each request row also names its price class (asymmetric and HMAC support);
// the class is part of the key, so a key's GenerateDataKeyPair rows of RSA and ECC pairs
// stay apart. Existing rows are symmetric-key requests (all Coffer had before).
const V2 = `
CREATE TABLE requests_v2 (
  hour        INTEGER NOT NULL,
  principal   TEXT NOT NULL,
  key_arn     TEXT NOT NULL,
  bucket      TEXT NOT NULL,
  operation   TEXT NOT NULL,
  price_class TEXT NOT NULL,
  requests    INTEGER NOT NULL,
  errors      INTEGER NOT NULL,
  avoided     INTEGER NOT NULL,
  PRIMARY KEY (hour, principal, key_arn, bucket, operation, price_class)
) WITHOUT ROWID;
INSERT INTO requests_v2 SELECT hour, principal, key_arn, bucket, operation, 'symmetric', requests, errors, avoided FROM requests;
DROP TABLE requests;
ALTER TABLE requests_v2 RENAME TO requests;
`;

const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [(db) => db.exec(V1), (db) => db.exec(V2)];

export const USAGE_FILE = 'usage.sqlite';

const COLUMN: Record<GroupBy, string> = { principal: 'principal', key: 'key_arn', bucket: 'bucket', operation: 'operation' };

export class SqliteUsageStore implements UsageStore {
  private readonly upsert: Database.Statement;
  private readonly keyHour: Database.Statement;
  private readonly addAll: Database.Transaction<(rows: UsageCount[]) => void>;

  private constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(`INSERT INTO requests (hour, principal, key_arn, bucket, operation, price_class, requests, errors, avoided)
      VALUES (@hour, @principal, @keyArn, @bucket, @operation, @priceClass, @requests, @errors, @avoided)
      ON CONFLICT (hour, principal, key_arn, bucket, operation, price_class) DO UPDATE SET
        requests = requests + excluded.requests, errors = errors + excluded.errors, avoided = avoided + excluded.avoided`);
    // A key sampled twice in one hour (restart, a key created mid-hour) keeps the larger count: never counted twice.
    this.keyHour = db.prepare(`INSERT INTO key_hours (hour, key_arn, units) VALUES (?, ?, ?)
      ON CONFLICT (hour, key_arn) DO UPDATE SET units = max(units, excluded.units)`);
    this.addAll = db.transaction((rows: UsageCount[]) => {
      for (const r of rows) this.upsert.run({ ...r, priceClass: r.priceClass ?? 'symmetric' });
    });
  }

  /** synchronous: 'FULL' when the server runs with fsync on (a flush then survives a power loss). */
  static open(path: string, opts: { synchronous?: 'NORMAL' | 'FULL' } = {}): SqliteUsageStore {
    return new SqliteUsageStore(openSqlite(path, opts, (db) => runMigrations(db, MIGRATIONS, 'usage database')));
  }

  /** The connection's synchronous level (FULL when the server runs with fsync on). */
  get synchronous(): 'NORMAL' | 'FULL' {
    return synchronousLevel(this.db);
  }

  async add(rows: UsageCount[]): Promise<void> {
    if (rows.length > 0) this.addAll(rows);
  }

  async recordKeyHours(hour: number, keys: KeyUnits[]): Promise<void> {
    this.db.transaction(() => {
      for (const k of keys) this.keyHour.run(hour, k.keyArn, k.units);
    })();
  }

  async totalsBy(by: GroupBy, from: number, to: number): Promise<GroupTotals[]> {
    const col = COLUMN[by];
    return this.db.prepare(`SELECT ${col} AS "group", sum(requests) AS requests, sum(errors) AS errors, sum(avoided) AS avoided
      FROM requests WHERE hour >= ? AND hour < ? GROUP BY ${col} ORDER BY sum(requests) DESC, ${col}`).all(from, to) as GroupTotals[];
  }

  async totals(from: number, to: number): Promise<{ requests: number; errors: number; avoided: number }> {
    return this.db.prepare('SELECT coalesce(sum(requests), 0) AS requests, coalesce(sum(errors), 0) AS errors, coalesce(sum(avoided), 0) AS avoided FROM requests WHERE hour >= ? AND hour < ?').get(from, to) as { requests: number; errors: number; avoided: number };
  }

  async series(by: GroupBy, from: number, to: number, bucketMs: number): Promise<{ time: number; group: string; requests: number }[]> {
    const col = COLUMN[by];
    return this.db.prepare(`SELECT (hour / ${bucketMs}) * ${bucketMs} AS time, ${col} AS "group", sum(requests) AS requests
      FROM requests WHERE hour >= ? AND hour < ? AND requests > 0 GROUP BY time, ${col} ORDER BY time, ${col}`).all(from, to) as { time: number; group: string; requests: number }[];
  }

  async classTotals(from: number, to: number): Promise<ClassTotals[]> {
    return this.db.prepare(`SELECT '' AS "group", price_class AS priceClass, sum(requests) AS requests, sum(avoided) AS avoided
      FROM requests WHERE hour >= ? AND hour < ? GROUP BY price_class ORDER BY price_class`).all(from, to) as ClassTotals[];
  }

  async classTotalsBy(by: GroupBy, from: number, to: number): Promise<ClassTotals[]> {
    const col = COLUMN[by];
    return this.db.prepare(`SELECT ${col} AS "group", price_class AS priceClass, sum(requests) AS requests, sum(avoided) AS avoided
      FROM requests WHERE hour >= ? AND hour < ? GROUP BY ${col}, price_class ORDER BY ${col}, price_class`).all(from, to) as ClassTotals[];
  }

  async keyHoursBy(from: number, to: number): Promise<KeyUnits[]> {
    return this.db.prepare('SELECT key_arn AS keyArn, sum(units) AS units FROM key_hours WHERE hour >= ? AND hour < ? GROUP BY key_arn ORDER BY key_arn').all(from, to) as KeyUnits[];
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
