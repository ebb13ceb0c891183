// The key-hours the server's sampler actually recorded, read straight from
// <data-dir>/usage.sqlite (WAL lets a reader sit beside the server). Tests derive the
// expected key-months from these rows instead of assuming a run stays inside one UTC
// hour: when the hour turns mid-run the hourly sample records every key again.

import Database from 'better-sqlite3';
import { join } from 'node:path';
import { HOURS_PER_MONTH } from '../../src/metering/prices.js';

export interface KeyHourRow { hour: number; keyArn: string; units: number }

export function keyHours(dataDir: string): KeyHourRow[] {
  const db = new Database(join(dataDir, 'usage.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT hour, key_arn AS keyArn, units FROM key_hours ORDER BY hour, key_arn').all() as KeyHourRow[];
  } finally {
    db.close();
  }
}

/** Key-months as the report rounds them (to a millionth). */
export const keyMonths = (keyHourUnits: number): number => Math.round((keyHourUnits / HOURS_PER_MONTH) * 1e6) / 1e6;

/** The hours (epoch ms of the UTC hour's start) the sampler recorded `keyArn` in. */
export const hoursOf = (rows: KeyHourRow[], keyArn: string): number[] => rows.filter((r) => r.keyArn === keyArn).map((r) => r.hour);
