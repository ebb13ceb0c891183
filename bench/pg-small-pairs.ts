// Small PUTs and GETs on one PostgreSQL node of this build against SQLite and against
// other builds' PostgreSQL nodes, interleaved: every variant runs side by side, and each
// round PUTs then GETs BENCH_SMALL_OPS 4 KiB objects (16 in flight) on each variant in
// turns, the first rotating every round. The median of each variant's rounds, with the
// CPU per operation of its node and of PostgreSQL — the steadier figure on a shared machine.
//
//   node dist/bench/pg-small-pairs.js [<checkout>/dist/src/cli/main.js …]
//   BENCH_SMALL_OPS (default 2000), BENCH_PAIR_ROUNDS (default 5), BENCH_CLUSTER_SIGNER=user,
//   BENCH_PAIR_GETS=0 (PUTs only: for profiling a node's PUT path with perf, BENCH_SERVER_NODE_OPTIONS=--perf-basic-prof)
//
// bench/cluster.ts gives the issue-15 table; this is the tool for comparing builds on it.

import { randomBytes } from 'node:crypto';
import { rm, mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { basename, join, resolve as resolvePath } from 'node:path';
import { RawS3Client, S3Failure, payloadHash } from './raw-client.js';
import { benchUser } from './bench-user.js';
import { runOps } from './measure.js';
import { startPostgres } from './pg-server.js';
import { processCpuSeconds } from './process-cpu.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerProcess } from './server-process.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const BUCKET = 'bench';
const ops = Number(process.env.BENCH_SMALL_OPS ?? 2000);
const rounds = Number(process.env.BENCH_PAIR_ROUNDS ?? 5);
const IN_FLIGHT = 16;
const gets = process.env.BENCH_PAIR_GETS !== '0';

interface Variant {
  label: string;
  server: ServerProcess;
  client: RawS3Client;
  db: () => number;
  put: Sample[];
  get: Sample[];
}
interface Sample {
  rate: number;
  node: number;
  db: number;
  failed: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length / 2;
  return s.length % 2 ? s[Math.floor(m)]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const baselines = process.argv.slice(2);
  const postgres = await startPostgres();
  const shared = await mkdtemp(join(tmpdir(), 'coffer-bench-pairs-'));
  const variants: Variant[] = [];
  const body = randomBytes(4096);
  const hash = payloadHash(body);
  try {
    const add = async (label: string, env: Record<string, string>, db: () => number, main?: string) => {
      const server = await startServer({ fsync: true, env: { COFFER_ACCESS_LOG: 'off', ...env }, ...(main ? { main } : {}) });
      const root = new RawS3Client(server.url, CREDS);
      await root.createBucket(BUCKET);
      const client = process.env.BENCH_CLUSTER_SIGNER === 'user' ? new RawS3Client(server.url, await benchUser(server.url, BUCKET)) : root;
      variants.push({ label, server, client, db, put: [], get: [] });
    };
    let fresh = 0;
    const pgEnv = async () => ({
      COFFER_METADATA: await postgres.freshDatabase(),
      COFFER_BLOBS: `file://${join(shared, `blobs-${++fresh}`)}`,
      COFFER_ROOT_KEY: randomBytes(32).toString('base64'),
    });
    await add('SQLite', {}, () => 0);
    await add('PostgreSQL, this build', await pgEnv(), () => postgres.cpuSeconds());
    for (const b of baselines) await add(`PostgreSQL, ${basename(resolvePath(b, '../../../..'))}`, await pgEnv(), () => postgres.cpuSeconds(), b);
    const run = async (v: Variant, what: 'PUT' | 'GET', r: number, warm = false): Promise<Sample> => {
      const n0 = processCpuSeconds(v.server.pid);
      const d0 = v.db();
      let failed = 0;
      const t0 = performance.now();
      await runOps(ops, IN_FLIGHT, async (i) => {
        try {
          if (what === 'PUT') await v.client.putSmall(BUCKET, `r${r}/${i}`, body, hash);
          else await v.client.get(BUCKET, `r${r}/${i}`, 4096);
        } catch (e) {
          if (!(e instanceof S3Failure)) throw e;
          failed++;
        }
      });
      const s = (performance.now() - t0) / 1000;
      const out = { rate: (ops - failed) / s, node: ((processCpuSeconds(v.server.pid) - n0) / ops) * 1000, db: ((v.db() - d0) / ops) * 1000, failed };
      if (!warm) process.stderr.write(`pairs:   ${v.label}: ${what} ${out.rate.toFixed(0)}/s, CPU per op node ${out.node.toFixed(3)} ms, PostgreSQL ${out.db.toFixed(3)} ms${failed ? `, ${failed} failed` : ''}\n`);
      return out;
    };
    for (const v of variants) await run(v, 'PUT', -1, true);
    for (let r = 0; r < rounds; r++) {
      process.stderr.write(`pairs: round ${r + 1} of ${rounds} (load average ${loadavg()[0]!.toFixed(1)})\n`);
      if (r === 0) process.stderr.write(`pairs: node pids ${variants.map((v) => `${v.label} ${v.server.pid}`).join(', ')}\n`);
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      for (const v of order) v.put.push(await run(v, 'PUT', r));
      if (gets) for (const v of order) v.get.push(await run(v, 'GET', r));
    }
    const ref = variants[0]!;
    console.log('| variant | op | rate (median) | ÷ SQLite (median of rounds) | CPU/op node | CPU/op PostgreSQL | node + PG ÷ SQLite node | failed |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const what of gets ? (['put', 'get'] as const) : (['put'] as const)) {
      for (const v of variants) {
        const xs = v[what];
        const ratio = median(xs.map((x, i) => x.rate / ref[what][i]!.rate));
        const cpu = median(xs.map((x, i) => (x.node + x.db) / ref[what][i]!.node));
        console.log(`| ${v.label} | ${what.toUpperCase()} | ${median(xs.map((x) => x.rate)).toFixed(0)}/s | ${ratio.toFixed(2)}× | ${median(xs.map((x) => x.node)).toFixed(3)} ms | ${median(xs.map((x) => x.db)).toFixed(3)} ms | ${cpu.toFixed(2)}× | ${xs.reduce((a, x) => a + x.failed, 0)} |`);
      }
    }
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    for (const v of variants) {
      v.client.close();
      await v.server.stop();
    }
    await postgres.stop();
    await rm(shared, { recursive: true, force: true });
  }
}

await main();
