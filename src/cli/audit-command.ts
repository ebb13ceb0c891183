// `coffer audit tail|query`: reads the KMS audit log (CloudTrail-shaped JSON lines) in
// <data-dir>/audit, across its rotated files. `query` shares its filters, validation and
// paging with the console's route GET /_coffer/api/audit/events (audit/query.ts).

import { join } from 'node:path';
import { watch } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { AUDIT_DIR, type CloudTrailEvent } from '../audit/audit-log.js';
import { AuditQueryError, MAX_PAGE, parseAuditQuery, queryAudit, type AuditPageRequest } from '../audit/query.js';
import { CliError, table } from './output.js';

/**
 * The audit log's directory. On a cluster (--metadata, COFFER_METADATA) the log is still a
 * file per node, in each node's data directory: this reads that node's only, and says so.
 */
function auditDir(dir: string | undefined, metadata?: string): string {
  const config = loadConfig({ dataDir: dir, metadata });
  if (config.metadata !== undefined) {
    process.stderr.write(`coffer: note: each node of a cluster keeps its own audit log; these are the events of the node whose data directory is ${config.dataDir} (run coffer audit with each node's --data-dir for the others)\n`);
  }
  return join(config.dataDir, AUDIT_DIR);
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
async function newest(dir: string, q: AuditPageRequest, n: number | undefined): Promise<{ events: CloudTrailEvent[]; nextToken?: string }> {
  const out: CloudTrailEvent[] = [];
  let token = q.nextToken;
  for (;;) {
    const page = await queryAudit(dir, { ...q, limit: n === undefined ? MAX_PAGE : n, nextToken: token }).catch((e: unknown) => {
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
    .option('--metadata <url>', "a cluster's PostgreSQL database (env COFFER_METADATA): the audit log is still this node's, in its --data-dir")
    .action(async (o: { lines: string; follow?: boolean; json?: boolean; dataDir?: string; metadata?: string }) => {
      const dir = auditDir(o.dataDir, o.metadata);
      const n = Number(o.lines);
      if (!/^\d+$/.test(o.lines) || n > MAX_PAGE) throw new CliError(`invalid --lines: ${o.lines}`, `use a whole number from 0 to ${MAX_PAGE}`);
      const first = n === 0 ? [] : (await newest(dir, { limit: n }, n)).events;
      process.stdout.write(render(first, o.json ?? false));
      if (!o.follow) return;
      // The newest event shown; new ones are those above it (the directory is watched, so rotation is seen too).
      let last = first.at(-1)?.eventID ?? (await queryAudit(dir, { limit: 1 })).events[0]?.eventID;
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
              const page = await queryAudit(dir, { limit: MAX_PAGE, nextToken: token });
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
      watch(dir, () => void show());
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
    .option('--metadata <url>', "a cluster's PostgreSQL database (env COFFER_METADATA): the audit log is still this node's, in its --data-dir")
    .action(async (o: { principal?: string; key?: string; bucket?: string; event?: string; error?: string; since?: string; until?: string; limit?: string; nextToken?: string; json?: boolean; dataDir?: string; metadata?: string }) => {
      const { dataDir, json, nextToken, metadata, ...filters } = o;
      const q = cliQuery({ ...filters, nextToken });
      if (nextToken !== undefined && o.limit === undefined) throw new CliError('--next-token needs --limit', 'give the --limit of the query that printed the token');
      const page = await newest(auditDir(dataDir, metadata), q, o.limit === undefined ? undefined : q.limit);
      process.stdout.write(render(page.events, json ?? false));
      if (page.nextToken) process.stderr.write(`coffer: next page: --next-token ${page.nextToken}\n`);
    });
}
