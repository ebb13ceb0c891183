// `coffer audit tail|query`: reads the KMS audit log (CloudTrail-shaped JSON lines).

import { join } from 'node:path';
import { watch } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { AUDIT_DIR, AUDIT_FILE, readAudit, type CloudTrailEvent, type AuditQuery } from '../audit/audit-log.js';
import { CliError, table } from './output.js';

function auditPath(dir: string | undefined): string {
  return join(loadConfig({ dataDir: dir }).dataDir, AUDIT_DIR, AUDIT_FILE);
}

/** "15m", "2h", "7d" before now, or an ISO date. */
export function parseSince(v: string, now = Date.now()): Date {
  const m = /^(\d+)([smhd])$/.exec(v);
  if (m) return new Date(now - Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2] as 's' | 'm' | 'h' | 'd']);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new CliError(`invalid --since: ${v}`, 'use a duration such as 15m, 2h, 7d, or an ISO date such as 2026-11-27T10:00:00Z');
  return new Date(t);
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
    .action(async (o: { lines: string; follow?: boolean; json?: boolean; dataDir?: string }) => {
      const path = auditPath(o.dataDir);
      const n = Number(o.lines);
      if (!Number.isInteger(n) || n < 0) throw new CliError(`invalid --lines: ${o.lines}`, 'use a whole number');
      let shown = (await readAudit(path)).length;
      process.stdout.write(render(await readAudit(path, { limit: n }), o.json ?? false));
      if (!o.follow) return;
      watch(path, async () => {
        const all = await readAudit(path);
        if (all.length > shown) process.stdout.write(render(all.slice(shown), true));
        shown = all.length;
      });
      await new Promise(() => undefined);
    });
  audit.command('query').description('find events by key, principal, event name and time')
    .option('--key <id>', 'key id or key ARN').option('--principal <arn>', 'principal ARN or user name').option('--event <name>', 'event name, e.g. Decrypt')
    .option('--since <when>', 'duration (15m, 2h, 7d) or ISO date').option('--limit <n>', 'newest N matches').option('--json', 'print raw JSON events')
    .option('--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)')
    .action(async (o: { key?: string; principal?: string; event?: string; since?: string; limit?: string; json?: boolean; dataDir?: string }) => {
      const q: AuditQuery = { key: o.key, principal: o.principal, eventName: o.event };
      if (o.since) q.since = parseSince(o.since);
      if (o.limit) q.limit = Number(o.limit);
      process.stdout.write(render(await readAudit(auditPath(o.dataDir), q), o.json ?? false));
    });
}
