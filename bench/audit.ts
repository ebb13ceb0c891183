// The audit log benchmark (`node dist/bench/audit.js [events]`): what recording costs the
// data path, and what a paged query costs on a large, rotated log, in one run.
//
//   record   — AuditLog.record() of KMS-shaped events, 500 per event-loop turn (as a busy
//              server batches them), until all are on disk: events/s with the default
//              64 MiB files and with 1 MiB files (many rotations). Target: 5× the KMS
//              HTTP target (10,000 req/s), so the log never is what limits the data path
//   query    — on the log with 64 MiB files (all kept): the newest page (50), the 20th page through
//              tokens, a filter matching 1 in 100 events, a filter matching nothing (a full
//              scan, the worst case), and readAudit (reads everything, as before paging)

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditLog, readAudit } from '../src/audit/audit-log.js';
import { queryAudit } from '../src/audit/query.js';
import type { AuditEvent } from '../src/audit/sink.js';
import { loadLine, machineLine, table, type Row } from './report.js';

const N = Number(process.argv[2] ?? 200_000);
const ACCOUNT = '123456789012';

function event(i: number): AuditEvent {
  const user = i % 100 === 0 ? 'rare' : `user${i % 7}`;
  const arn = `arn:aws:iam::${ACCOUNT}:user/${user}`;
  return {
    eventName: i % 2 ? 'Decrypt' : 'GenerateDataKey',
    caller: { principal: { kind: 'user', accountId: ACCOUNT, arn, userName: user, userId: `AIDA${i % 7}` } as never, requestId: `req-${i}`, viaService: 's3.us-east-1.amazonaws.com' },
    requestParameters: { keyId: `arn:aws:kms:us-east-1:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`, encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: { 'aws:s3:arn': `arn:aws:s3:::bucket-${i % 3}/object-${i}` } },
    resources: [{ ARN: `arn:aws:kms:us-east-1:${ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`, accountId: ACCOUNT, type: 'AWS::KMS::Key' }],
  };
}

async function record(dataDir: string, maxFileBytes: number, maxFiles: number): Promise<number> {
  const log = await AuditLog.open(dataDir, 'us-east-1', { maxFileBytes, maxFiles });
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500) {
    for (let j = i; j < Math.min(N, i + 500); j++) log.record(event(j));
    await new Promise((r) => setImmediate(r));
  }
  await log.close();
  return N / ((performance.now() - t0) / 1000);
}

async function timed(run: () => Promise<unknown>, times = 5): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await run();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
}

const rows: Row[] = [];
const big = await mkdtemp(join(tmpdir(), 'coffer-bench-audit-'));
const small = await mkdtemp(join(tmpdir(), 'coffer-bench-audit-'));
try {
  const rate64 = await record(big, 64 * 1024 * 1024, 10_000);
  const rate1 = await record(small, 1024 * 1024, 10);
  rows.push({ scenario: `record ${N} events`, variant: '64 MiB files', result: `${Math.round(rate64).toLocaleString('en')} events/s`, target: '≥ 50,000 events/s', met: rate64 >= 50_000, value: rate64 });
  rows.push({ scenario: `record ${N} events`, variant: '1 MiB files, 10 kept', result: `${Math.round(rate1).toLocaleString('en')} events/s`, target: '≥ 50,000 events/s', met: rate1 >= 50_000, value: rate1 });
  const dir = join(big, 'audit');
  const page = (ms: number, target: number, scenario: string, variant: string) =>
    rows.push({ scenario, variant, result: `${ms.toFixed(1)} ms`, target: `≤ ${target} ms`, met: ms <= target, value: ms, lowerIsBetter: true });
  page(await timed(() => queryAudit(dir, { limit: 50 })), 10, 'query (64 MiB files)', 'newest 50');
  page(await timed(async () => {
    let token: string | undefined;
    for (let i = 0; i < 20; i++) token = (await queryAudit(dir, { limit: 50, nextToken: token })).nextToken;
  }, 3) / 20, 10, 'query (64 MiB files)', 'each of pages 1–20 via tokens');
  page(await timed(() => queryAudit(dir, { limit: 50, principal: 'rare' })), 50, 'query (64 MiB files)', '50 of a 1-in-100 principal');
  page(await timed(() => queryAudit(dir, { limit: 50, principal: 'nobody' }), 1), 5000, 'query (64 MiB files)', `no match: scans all ${N}`);
  page(await timed(() => readAudit(dir, { limit: 50 }), 1), 5000, 'query (64 MiB files)', 'readAudit newest 50 (reads all)');
  console.log(machineLine());
  console.log(loadLine('at the end'));
  console.log(table(rows));
} finally {
  await rm(big, { recursive: true, force: true });
  await rm(small, { recursive: true, force: true });
}
