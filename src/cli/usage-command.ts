// `coffer usage`: KMS usage and its estimated cost from <data-dir>/usage.sqlite, which
// a running server flushes about once a second (SQLite WAL: reading beside it is safe), or
// on a cluster from the PostgreSQL database every node flushes into (--metadata,
// COFFER_METADATA): the counts of all nodes together.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { USAGE_FILE } from '../metering/sqlite-usage-store.js';
import { openStoresBesideServer } from '../backend/open-backend.js';
import { parseUsageQuery, usageReport, UsageQueryError, type UsageReport } from '../metering/report.js';
import { CliError, table } from './output.js';
import { METADATA_OPTION, METADATA_OPTION_HELP } from './postgres-deployment.js';
import { PgUsageStore } from '../metering/pg-usage-store.js';
import { openPgPool } from '../storage/postgres/pool.js';
import type { UsageStore } from '../metering/usage-store.js';

interface UsageOptions {
  since?: string;
  until?: string;
  by?: string;
  dataDir?: string;
  metadata?: string;
  json?: boolean;
}

const money = (n: number) => `$${n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(2)}`;
const count = (n: number) => n.toLocaleString('en-US');

export function renderUsage(r: UsageReport): string {
  const head = [r.by.toUpperCase(), 'REQUESTS', 'ERRORS', 'AVOIDED', ...(r.by === 'key' ? ['KEY-MONTHS'] : []), 'EST. COST'];
  const rows = [head];
  for (const row of r.rows) {
    rows.push([row.group, count(row.requests), count(row.errors), count(row.requestsAvoided), ...(r.by === 'key' ? [String(row.keyMonths ?? 0)] : []), money(row.estimatedCost)]);
  }
  const lines = [
    `KMS usage from ${r.since} to ${r.until}`,
    '',
    r.rows.length ? table(rows).trimEnd() : '(no KMS requests or keys in this range)',
    '',
    `requests: ${count(r.requests.total)} (${count(r.requests.errors)} failed), ${count(r.requests.free)} in the free tier, ${count(r.requests.billable)} billable: ${money(r.requests.estimatedCost)}`,
    `keys: ${r.keys.keyMonths} key-months: ${money(r.keys.estimatedCost)}`,
    `estimated cost: ${money(r.estimatedCost)}`,
    `bucket keys saved ${count(r.bucketKeys.requestsAvoided)} requests: ${money(r.bucketKeys.estimatedSavings)}`,
    `prices: $${r.prices.keyMonth} per key-month, $${r.prices.per10kRequests} per 10,000 requests, ${count(r.prices.freeRequestsPerMonth)} free requests a month (override with COFFER_PRICE_KEY_MONTH, COFFER_PRICE_PER_10K_REQUESTS, COFFER_FREE_REQUESTS_PER_MONTH)`,
  ];
  return lines.join('\n') + '\n';
}

export function registerUsageCommand(program: Command): void {
  program
    .command('usage')
    .description('KMS requests and keys held, with an estimated cost at AWS prices')
    .option('--since <when>', 'duration (12h, 7d, 2w) or ISO date (default 30d)')
    .option('--until <when>', 'ISO date or duration before now (default now)')
    .option('--by <group>', 'principal, key, bucket or operation (default key)')
    .option('--json', 'print the report as JSON (the same as GET /_coffer/api/usage)')
    .option('--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)')
    .option(METADATA_OPTION, `${METADATA_OPTION_HELP}: the usage of every node`)
    .action(async (o: UsageOptions) => {
      const config = loadConfig({ dataDir: o.dataDir, metadata: o.metadata });
      if (config.metadata === undefined) {
        const path = join(config.dataDir, USAGE_FILE);
        if (!existsSync(config.dataDir)) throw new CliError(`no data directory at ${config.dataDir}`, 'give the server\'s data directory with --data-dir (or COFFER_DATA_DIR)');
        if (!existsSync(path)) throw new CliError(`no usage recorded in ${config.dataDir} yet`, 'start `coffer server` on this data directory; metering is on unless COFFER_METERING=off');
      }
      let q;
      try {
        q = parseUsageQuery({ since: o.since, until: o.until, by: o.by });
      } catch (e) {
        if (e instanceof UsageQueryError) throw new CliError(e.message.replace(/^invalid (\w+)/, 'invalid --$1'), e.hint);
        throw e;
      }
      const stores = config.metadata === undefined ? openStoresBesideServer(config.dataDir, ['usage']) : await openPgUsage(config.metadata);
      try {
        const report = await usageReport(stores.usage, q, config.metering.prices);
        process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : renderUsage(report));
      } finally {
        await stores.close();
      }
    });
}

/** The usage store of a cluster's database, on a small pool of its own. */
async function openPgUsage(url: string): Promise<{ usage: UsageStore; close(): Promise<void> }> {
  const pool = openPgPool(url, { max: 2, applicationName: 'coffer usage' });
  try {
    const usage = await PgUsageStore.open(pool);
    return { usage, close: async () => { await usage.close(); await pool.end(); } };
  } catch (e) {
    await pool.end().catch(() => {});
    throw new CliError(`the PostgreSQL database of --metadata cannot be read: ${(e as Error).message}`, 'check that it is reachable and is the database the nodes run on (COFFER_METADATA)');
  }
}
