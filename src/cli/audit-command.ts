// `coffer audit tail|query`: reads the KMS audit log (CloudTrail-shaped JSON lines) in
// <data-dir>/audit, across its rotated files — or, with --metadata (COFFER_METADATA), the
// cluster's one trail in the PostgreSQL database, every node's events in the cluster's
// order (audit/pg-audit-store.ts). `query` shares its filters, validation and paging with
// the console's route GET /_coffer/api/audit/events (audit/query.ts).

import { join } from 'node:path';
import { watch } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { AUDIT_DIR, type CloudTrailEvent } from '../audit/audit-log.js';
import { AuditQueryError, MAX_PAGE, parseAuditQuery, queryAudit, type AuditPage, type AuditPageRequest } from '../audit/query.js';
import { queryPgAudit } from '../audit/pg-audit-store.js';
import { openPgPool } from '../storage/postgres/pool.js';
import { pgErrorCode } from '../storage/postgres/transaction.js';
import { CliError, table } from './output.js';

/** Where the events are read from: a data directory's files or the cluster's database. */
interface Trail {
  query(q: AuditPageRequest): Promise<AuditPage>;
  /** Calls `changed` when there may be new events. */
  watch(changed: () => void): void;
  close(): Promise<void>;
}

/** How often `tail --follow` looks for new events in the database (files are watched instead). */
const POLL_MS = 1000;

function openTrail(o: { dataDir?: string; metadata?: string }): Trail {
  const config = loadConfig({ dataDir: o.dataDir, metadata: o.metadata });
  if (config.metadata !== undefined) {
    const pool = openPgPool(config.metadata, { max: 1, applicationName: 'coffer audit' });
    return {
      query: (q) => queryPgAudit(pool, q).catch((e: unknown) => {
        if (pgErrorCode(e) === '42P01') throw new CliError('the database of --metadata holds no audit trail', 'start a coffer server with this --metadata first: it creates the audit table');
        throw e;
      }),
      watch: (changed) => void setInterval(changed, POLL_MS),
      close: () => pool.end(),
    };
  }
  const dir = join(config.dataDir, AUDIT_DIR);
  return { query: (q) => queryAudit(dir, q), watch: (changed) => void watch(dir, changed), close: async () => {} };
}

/** "15m", "2h", "7d" before now, or an ISO date. */
export function parseSince(v: string, now = Date.now()): Date {
  return cliQuery({ since: v }, now).since!;
}

/** The query options as audit/query.ts validates them; a bad one is "invalid --<option>" with a hint. */
function cliQuery(o: Record<string, string | undefined>, now = Date.now()): AuditPageRequest {
  try {
    return parseAuditQuery((name) => o[name], now);
  } catch (e) {
    throw asCliError(e);
  }
}

function asCliError(e: unknown): unknown {
  if (!(e instanceof AuditQueryError)) return e;
  return new CliError(`invalid --${e.param === 'nextToken' ? 'next-token' : e.param}: ${e.value}`, e.hint);
}

/** The newest `n` events matching `q` (every match when n is undefined), oldest first, and the token of the page after them. */
async function newest(trail: Trail, q: AuditPageRequest, n: number | undefined): Promise<{ events: CloudTrailEvent[]; nextToken?: string }> {
  const out: CloudTrailEvent[] = [];
  let token = q.nextToken;
  for (;;) {
    const page = await trail.query({ ...q, limit: n === undefined ? MAX_PAGE : n, nextToken: token }).catch((e: unknown) => {
      throw asCliError(e); // a bad --next-token
    });
    out.push(...page.events);
    token = page.nextToken;
    if (n !== undefined || !token) break;
  }
  return { events: out.reverse(), nextToken: token };
}

function render(events: CloudTrailEvent[], json: boolean): string {
  if (json) return events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : '');
  const rows = [['TIME', 'EVENT', 'PRINCIPAL', 'KEY', 'VIA', 'RESULT']];
  for (const e of events) {
    rows.push([
      e.eventTime,
      e.eventName,
      e.userIdentity.arn ?? '-',
      e.resources.map((r) => r.ARN.replace(/^.*:key\//, '')).join(',') || '-',
      e.userIdentity.invokedBy ?? '-',
      e.errorCode ? `${e.errorCode}` : 'ok',
    ]);
  }
  return table(rows);
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('read the KMS audit log');
  audit.command('tail').description('show the newest events').option('-n, --lines <n>', 'how many', '20').option('-f, --follow', 'keep printing new events').option('--json', 'print raw JSON events').option('--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)')
    .option('--metadata <url>', "a cluster's PostgreSQL database (postgres://…, env COFFER_METADATA): the trail of every node")
    .action(async (o: { lines: string; follow?: boolean; json?: boolean; dataDir?: string; metadata?: string }) => {
      const n = Number(o.lines);
      if (!/^\d+$/.test(o.lines) || n > MAX_PAGE) throw new CliError(`invalid --lines: ${o.lines}`, `use a whole number from 0 to ${MAX_PAGE}`);
      const trail = openTrail(o);
      const first = n === 0 ? [] : (await newest(trail, { limit: n }, n).catch(async (e: unknown) => {
        await trail.close();
        throw e;
      })).events;
      process.stdout.write(render(first, o.json ?? false));
      if (!o.follow) return trail.close();
      // The newest event shown; new ones are those above it (the directory is watched, so rotation is seen too).
      let last = first.at(-1)?.eventID ?? (await trail.query({ limit: 1 })).events[0]?.eventID;
      let busy = false;
      let again = false;
      const show = async (): Promise<void> => {
        if (busy) {
          again = true; // a change while reading: read once more afterwards
          return;
        }
        busy = true;
        try {
          do {
            again = false;
            const fresh: CloudTrailEvent[] = [];
            let token: string | undefined;
            scan: for (;;) {
              const page = await trail.query({ limit: MAX_PAGE, nextToken: token });
              for (const e of page.events) {
                if (e.eventID === last) break scan;
                fresh.push(e);
              }
              token = page.nextToken;
              if (!token || last === undefined) break;
            }
            if (fresh.length > 0) {
              last = fresh[0]!.eventID;
              process.stdout.write(render(fresh.reverse(), true));
            }
          } while (again);
        } finally {
          busy = false;
        }
      };
      trail.watch(() => void show());
      await new Promise(() => undefined);
    });
  audit.command('query').description('find events by principal, key, bucket, event name, error and time, newest last')
    .option('--principal <who>', 'principal ARN, user name, role name or role session')
    .option('--key <id>', 'key id or key ARN')
    .option('--bucket <name>', 'events whose encryption context names this bucket or an object in it (SSE-KMS)')
    .option('--event <name>', 'event name, e.g. Decrypt')
    .option('--error <code>', 'an error code such as AccessDeniedException; "any" for every failure, "none" for successes')
    .option('--since <when>', 'duration (15m, 2h, 7d) or ISO date')
    .option('--until <when>', 'duration (15m, 2h, 7d) or ISO date')
    .option('--limit <n>', `only the newest N matches (1 to ${MAX_PAGE}); the token of the next (older) page goes to stderr`)
    .option('--next-token <token>', 'the page after a previous --limit query (repeat its filters)')
    .option('--json', 'print raw JSON events')
    .option('--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)')
    .option('--metadata <url>', "a cluster's PostgreSQL database (postgres://…, env COFFER_METADATA): the trail of every node")
    .action(async (o: { principal?: string; key?: string; bucket?: string; event?: string; error?: string; since?: string; until?: string; limit?: string; nextToken?: string; json?: boolean; dataDir?: string; metadata?: string }) => {
      const { dataDir, metadata, json, nextToken, ...filters } = o;
      const q = cliQuery({ ...filters, nextToken });
      if (nextToken !== undefined && o.limit === undefined) throw new CliError('--next-token needs --limit', 'give the --limit of the query that printed the token');
      const trail = openTrail({ dataDir, metadata });
      let page;
      try {
        page = await newest(trail, q, o.limit === undefined ? undefined : q.limit);
      } finally {
        await trail.close();
      }
      process.stdout.write(render(page.events, json ?? false));
      if (page.nextToken) process.stderr.write(`coffer: next page: --next-token ${page.nextToken}\n`);
    });
}
