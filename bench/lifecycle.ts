// The lifecycle benchmark (`node dist/bench/lifecycle.js [keys]`): what one lifecycle pass
// (src/s3/lifecycle/sweep.ts) costs on the embedded metadata store, per action, with the
// store as `--no-fsync` runs it (synchronous=NORMAL) and as the default runs it
// (synchronous=FULL, every commit fsync'd), side by side:
//
//   expire         a never-versioned bucket: every object due, each deleted
//   versioned      a versioned bucket, 3 versions a key: a delete marker on each current
//                  version and the oldest noncurrent version deleted (NewerNoncurrentVersions 1)
//   nothing due    the same versioned bucket read through with nothing to do: the scan alone
//
// The store is opened directly (no server, no HTTP): the figure is the pass itself.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteMetadataStore } from '../src/storage/sqlite-metadata-store.js';
import type { MetadataStore, ObjectRecord } from '../src/storage/types.js';
import { LIFECYCLE_ITEM, type LifecycleConfig } from '../src/s3/lifecycle/rules.js';
import { noCounts, sweepBucket } from '../src/s3/lifecycle/sweep.js';
import { VERSIONING_ITEM } from '../src/s3/versioning.js';
import { fmtInt, loadLine, machineLine, table, type Row } from './report.js';

const N = Number(process.argv[2] ?? 20_000);
const DAY = 86_400_000;
const T = Date.parse('2025-01-01T00:00:00.000Z');

const rules = (r: LifecycleConfig['rules']) => JSON.stringify({ v: 1, rules: r, transitionMinimumSize: 'all_storage_classes_128K' } satisfies LifecycleConfig);

function rec(bucket: string, key: string, versionId: string, when: number): ObjectRecord {
  return {
    bucket, key, size: 10, etag: `"${versionId}"`, lastModified: new Date(when).toISOString(), headers: {}, userMetadata: {}, tags: [],
    parts: [{ blobId: `${bucket}-${key}-${versionId}`, size: 10, partNumber: 0, etag: `"${versionId}"` }], sys: {}, owner: 'o', storageClass: 'STANDARD', versionId,
  };
}

async function pass(s: MetadataStore, bucket: string, now: number): Promise<{ ms: number; actions: number }> {
  const counts = noCounts();
  const b = (await s.getBucket(bucket))!;
  const t0 = performance.now();
  await sweepBucket({ meta: s, owner: 'o', record: () => undefined, failed: (e) => { throw e; }, stopping: () => false }, b, now, counts);
  const ms = performance.now() - t0;
  return { ms, actions: counts.expired + counts.markersAdded + counts.noncurrentExpired + counts.markersRemoved };
}

async function run(variant: 'NORMAL' | 'FULL', dir: string): Promise<Row[]> {
  const s = SqliteMetadataStore.open(join(dir, `${variant}.db`), { synchronous: variant });
  const rows: Row[] = [];
  const label = variant === 'FULL' ? 'fsync (synchronous=FULL)' : '--no-fsync (NORMAL)';
  try {
    await s.createBucket({ name: 'u', region: 'us-east-1', createdAt: new Date(T).toISOString(), owner: 'o', config: { [LIFECYCLE_ITEM]: rules([{ id: 'e', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 1 } }]) } });
    await s.createBucket({
      name: 'v', region: 'us-east-1', createdAt: new Date(T).toISOString(), owner: 'o',
      config: {
        [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Enabled' }),
        [LIFECYCLE_ITEM]: rules([{ id: 'e', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 1 }, noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 1 } }]),
      },
    });
    for (let i = 0; i < N; i++) {
      const key = `k${String(i).padStart(7, '0')}`;
      await s.putObject(rec('u', key, 'null', T));
      for (let v = 1; v <= 3; v++) await s.putObject(rec('v', key, `v${v}`, T + v * 1000));
    }
    for (const [scenario, bucket, now] of [['expire', 'u', T + 2 * DAY], ['versioned', 'v', T + 2 * DAY], ['nothing due', 'v', T + 2 * DAY]] as const) {
      const r = await pass(s, bucket, now);
      const perSec = (scenario === 'nothing due' ? N * 4 : r.actions) / (r.ms / 1000);
      rows.push({
        scenario: `${scenario} (${fmtInt(N)} keys)`, variant: label,
        result: `${fmtInt(r.actions)} actions in ${(r.ms / 1000).toFixed(2)} s: ${fmtInt(Math.round(perSec))} ${scenario === 'nothing due' ? 'entries read' : 'actions'}/s`,
        target: '—', value: perSec,
      });
    }
  } finally {
    await s.close();
  }
  return rows;
}

const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-lifecycle-'));
try {
  console.log(machineLine());
  console.log(loadLine('before'));
  const rows = [...(await run('NORMAL', dir)), ...(await run('FULL', dir))];
  console.log(table(rows, ['--no-fsync (NORMAL)', 'fsync (synchronous=FULL)']));
  console.log(loadLine('after'));
} finally {
  await rm(dir, { recursive: true, force: true });
}
