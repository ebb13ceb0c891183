// The cluster section of `npm run bench` (`--only cluster`): aggregate throughput of
// 4 KiB PUT/GET (16 in flight, spread round-robin over the nodes) and of large objects
// (one stream of BENCH_STREAM_MIB per node at once, 1 GiB by default) for one node on the
// embedded SQLite backend and for 1, 2 and 3 nodes on one PostgreSQL database and one shared
// blob directory (`--blobs file://…`), side by side, with ratios.
//
// Every server is the real `coffer server` child (server-process.ts) with fsync on, and
// PostgreSQL keeps its durability defaults (pg-server.ts): a commit costs here what it costs
// in production. The nodes, PostgreSQL and this client all share this machine's cores, so
// more nodes add no CPU: the 2- and 3-node rows show what the shared database and blob
// directory cost and allow, not how a cluster of separate machines scales.
//
// Targets (issue 15): one node on PostgreSQL within 30% of SQLite for small objects and
// within 10% for large ones.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawS3Client, payloadHash } from './raw-client.js';
import { runOps } from './measure.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import { startPostgres } from './pg-server.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';
import type { Sizes } from './scenarios.js';

export const SQLITE_1 = 'SQLite, 1 node';
export const PG_1 = 'PostgreSQL, 1 node';
const pgNodes = (n: number) => (n === 1 ? PG_1 : `PostgreSQL, ${n} nodes`);

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const BUCKET = 'bench';
const MiB = 1024 * 1024;

export interface ClusterBenchOptions {
  sizes: Sizes;
  start: (opts: ServerOptions) => Promise<ServerProcess>;
  /** Node counts on PostgreSQL (default 1, 2, 3). */
  nodes?: number[];
}

interface Measured {
  smallPut: number;
  smallGet: number;
  bigPut: number;
  bigGet: number;
}

/** Runs the four workloads against `nodes` (one URL each) and returns ops/s and MiB/s. */
async function workloads(urls: URL[], sz: Sizes, label: string): Promise<Measured> {
  const clients = urls.map((u) => new RawS3Client(u, CREDS));
  const on = (i: number) => clients[i % clients.length]!;
  try {
    await clients[0]!.createBucket(BUCKET);
    const body = randomBytes(sz.smallSize);
    const hash = payloadHash(body);
    // A short warm-up on every node (JIT, connections to PostgreSQL), not counted.
    await runOps(64 * clients.length, sz.smallConcurrency, (i) => on(i).putSmall(BUCKET, `warm/${i}`, body, hash));
    const rate = async (what: string, n: number, op: (i: number) => Promise<unknown>) => {
      const t0 = performance.now();
      await runOps(n, sz.smallConcurrency, async (i) => void (await op(i)));
      const r = n / ((performance.now() - t0) / 1000);
      process.stderr.write(`bench:     ${label}: ${what} ${fmtInt(r)}/s\n`);
      return r;
    };
    const n = sz.smallOps;
    const smallPut = await rate('4 KiB PUT', n, (i) => on(i).putSmall(BUCKET, `small/${i}`, body, hash));
    // Each GET goes to another node than the one that wrote the key.
    const smallGet = await rate('4 KiB GET', n, (i) => on(i + 1).get(BUCKET, `small/${i}`, sz.smallSize));
    const streams = async (what: string, op: (c: RawS3Client, i: number) => Promise<unknown>) => {
      const t0 = performance.now();
      await Promise.all(clients.map((c, i) => op(c, i)));
      const r = (clients.length * sz.stream) / MiB / ((performance.now() - t0) / 1000);
      process.stderr.write(`bench:     ${label}: ${what} ${r.toFixed(0)} MiB/s\n`);
      return r;
    };
    const bigPut = await streams(`${clients.length} × ${fmtSize(sz.stream)} PUT`, (c, i) => c.putStream(BUCKET, `big/${i}`, sz.stream));
    const bigGet = await streams(`${clients.length} × ${fmtSize(sz.stream)} GET`, (c, i) => on(i + 1).get(BUCKET, `big/${i}`, sz.stream));
    for (let i = 0; i < clients.length; i++) await deleteQuietly(on(i), `big/${i}`);
    return { smallPut, smallGet, bigPut, bigGet };
  } finally {
    for (const c of clients) c.close();
  }
}

/** Frees the large objects' disk space before the next variant. */
async function deleteQuietly(c: RawS3Client, key: string): Promise<void> {
  await c.delete(BUCKET, key).catch(() => undefined);
}

export async function benchCluster(opts: ClusterBenchOptions): Promise<Row[]> {
  const sz = opts.sizes;
  const counts = opts.nodes ?? [1, 2, 3];
  const results = new Map<string, Measured>();

  process.stderr.write(`bench: cluster: ${SQLITE_1}\n`);
  {
    const server = await opts.start({ fsync: true });
    try {
      results.set(SQLITE_1, await workloads([server.url], sz, SQLITE_1));
    } finally {
      await server.stop();
    }
  }

  const postgres = await startPostgres();
  const shared = await mkdtemp(join(tmpdir(), 'coffer-bench-cluster-'));
  try {
    for (const count of counts) {
      const label = pgNodes(count);
      process.stderr.write(`bench: cluster: ${label}\n`);
      const env = {
        COFFER_METADATA: await postgres.freshDatabase(),
        COFFER_BLOBS: `file://${join(shared, `blobs-${count}`)}`,
        COFFER_ROOT_KEY: randomBytes(32).toString('base64'),
        COFFER_ACCESS_LOG: 'off',
      };
      const nodes: ServerProcess[] = [];
      try {
        for (let i = 0; i < count; i++) {
          // The account id is per data directory (root-credentials.json): every node takes the first's (docs/CLUSTER.md).
          const first = nodes[0];
          nodes.push(await opts.start({ fsync: true, env, ...(first ? { prepare: (dir) => copyFile(join(first.dataDir, 'root-credentials.json'), join(dir, 'root-credentials.json')) } : {}) }));
        }
        results.set(label, await workloads(nodes.map((n) => n.url), sz, label));
      } finally {
        for (const n of nodes) await n.stop();
      }
    }
  } finally {
    await postgres.stop();
    await rm(shared, { recursive: true, force: true });
  }
  return rows(results, sz, counts);
}

function rows(results: Map<string, Measured>, sz: Sizes, counts: number[]): Row[] {
  const out: Row[] = [];
  const sqlite = results.get(SQLITE_1)!;
  const pg1 = results.get(PG_1);
  const cases: { scenario: string; pick: (m: Measured) => number; unit: (v: number) => string; within: number }[] = [
    { scenario: `4 KiB PUT, ${sz.smallConcurrency} in flight over the nodes`, pick: (m) => m.smallPut, unit: (v) => `${fmtInt(v)} PUT/s`, within: 0.3 },
    { scenario: `4 KiB GET, ${sz.smallConcurrency} in flight over the nodes`, pick: (m) => m.smallGet, unit: (v) => `${fmtInt(v)} GET/s`, within: 0.3 },
    { scenario: `${fmtSize(sz.stream)} PUT, one stream per node`, pick: (m) => m.bigPut, unit: (v) => `${v.toFixed(0)} MiB/s`, within: 0.1 },
    { scenario: `${fmtSize(sz.stream)} GET, one stream per node`, pick: (m) => m.bigGet, unit: (v) => `${v.toFixed(0)} MiB/s`, within: 0.1 },
  ];
  for (const c of cases) {
    const base = c.pick(sqlite);
    out.push({ scenario: c.scenario, variant: SQLITE_1, result: c.unit(base), target: '', value: base });
    for (const n of counts) {
      const m = results.get(pgNodes(n));
      if (!m) continue;
      const v = c.pick(m);
      const vsSqlite = v / base;
      const vsOne = pg1 ? v / c.pick(pg1) : NaN;
      const ratios = n === 1 ? `${vsSqlite.toFixed(2)}× SQLite` : `${vsOne.toFixed(2)}× 1 node, ${vsSqlite.toFixed(2)}× SQLite`;
      out.push({
        scenario: c.scenario,
        variant: pgNodes(n),
        result: `${c.unit(v)} (${ratios})`,
        target: n === 1 ? `≥ ${(1 - c.within).toFixed(2)}× SQLite` : '',
        ...(n === 1 ? { met: vsSqlite >= 1 - c.within } : {}),
        value: v,
      });
    }
  }
  return out;
}

/** Printed under the table. */
export const CLUSTER_NOTE =
  'All nodes, PostgreSQL (fsync and synchronous_commit on) and the client share this machine\'s cores: more nodes add no CPU here, so the 2- and 3-node rows show the cost and the headroom of the shared database and blob directory, not the scaling of separate machines.';
