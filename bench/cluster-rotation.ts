// How fast a cluster follows its root-key rotation row, and what following it costs at rest
// (docs/CLUSTER.md, "Root-key rotation"): this build against another, side by side,
// interleaved round by round on one PostgreSQL.
//
//   node dist/bench/cluster-rotation.js --baseline <other>/dist/src/cli/main.js [--rounds 3] [--items 40]
//
// Each round, for each build: three real `coffer server` nodes on a fresh database and one
// shared blob directory; --items SSE-S3 objects; then
//   - idle: over 30 s with no client, per node and second, the reads of the rotation table
//     (pg_stat_user_tables' scans of cluster_rotation: the rotation row's polling alone) and
//     the database's transactions (pg_stat_database: everything a node does at rest —
//     heartbeats, leases, sweeps and that polling). A backend flushes its counters up to 10 s
//     late, hence the long window
//   - rotation: `POST custody/rotation` (a migration to a root key file) on node 0, its
//     root.key.next copied to the two others at once (the operator's part, made instant),
//     then the status read every 20 ms until `completed`: the wall time from the POST
//
// Medians over the rounds. The load average is printed: on a shared machine the times move
// with it, which the interleaving spreads over both builds.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { SignedClient } from '../src/cli/signed-client.js';
import { startPostgres, type BenchPostgres } from './pg-server.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerProcess } from './server-process.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const IDLE_MS = 30_000;

interface Sample {
  idlePerNodePerSecond: number;
  rowReadsPerNodePerSecond: number;
  rotationMs: number;
}

async function counters(db: pg.Client, name: string): Promise<{ xacts: number; rowReads: number }> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const r = await db.query<{ x: string; s: string }>(
    `SELECT (SELECT (xact_commit + xact_rollback)::text FROM pg_stat_database WHERE datname = $1) AS x,
      (SELECT (seq_scan + coalesce(idx_scan, 0))::text FROM pg_stat_user_tables WHERE relname = 'cluster_rotation') AS s`,
    [name],
  );
  return { xacts: Number(r.rows[0]!.x), rowReads: Number(r.rows[0]!.s) };
}

async function round(pgServer: BenchPostgres, main: string | undefined, items: number): Promise<Sample> {
  const url = await pgServer.freshDatabase();
  const dbName = new URL(url).pathname.slice(1);
  const blobDir = await mkdtemp(join(tmpdir(), 'coffer-bench-rot-blobs-'));
  const env = { COFFER_METADATA: url, COFFER_BLOBS: `file://${blobDir}`, COFFER_ROOT_KEY: randomBytes(32).toString('base64') };
  const nodes: ServerProcess[] = [];
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startServer({ fsync: true, main, env }));
    const s3 = new S3Client({ endpoint: nodes[0]!.url.toString(), region: 'us-east-1', forcePathStyle: true, credentials: CREDS });
    await s3.send(new CreateBucketCommand({ Bucket: 'rot' }));
    for (let i = 0; i < items; i++) await s3.send(new PutObjectCommand({ Bucket: 'rot', Key: `o${i}`, Body: `body ${i}`, ServerSideEncryption: 'AES256' }));
    s3.destroy();

    await new Promise((r) => setTimeout(r, 3000));
    const c0 = await counters(db, dbName);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const c1 = await counters(db, dbName);
    const perNodeSecond = (n: number) => n / 3 / (IDLE_MS / 1000);

    const admin = new SignedClient({ endpoint: nodes[0]!.url.toString().replace(/\/$/, ''), region: 'us-east-1', credentials: CREDS });
    try {
      const start = performance.now();
      const r = await admin.admin('POST', 'custody/rotation', { command: 'migrate', to: 'file', settings: {} });
      if (r.status !== 200) throw new Error(`POST custody/rotation: ${r.status} ${r.body}`);
      for (const n of nodes.slice(1)) await copyFile(join(nodes[0]!.dataDir, 'root.key.next'), join(n.dataDir, 'root.key.next'));
      for (;;) {
        const st = JSON.parse((await admin.admin('GET', 'custody/rotation')).body) as { state: string; error?: string };
        if (st.state === 'completed') break;
        if (st.state === 'failed') throw new Error(`the rotation failed: ${st.error}`);
        if (performance.now() - start > 120_000) throw new Error(`not completed within 120 s: ${JSON.stringify(st)}`);
        await new Promise((res) => setTimeout(res, 20));
      }
      return { idlePerNodePerSecond: perNodeSecond(c1.xacts - c0.xacts - 2), rowReadsPerNodePerSecond: perNodeSecond(c1.rowReads - c0.rowReads), rotationMs: performance.now() - start };
    } finally {
      admin.close();
    }
  } finally {
    await db.end();
    for (const n of nodes) await n.stop();
    await rm(blobDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { baseline: { type: 'string' }, rounds: { type: 'string', default: '3' }, items: { type: 'string', default: '40' } } });
  if (!values.baseline) {
    process.stderr.write('bench: error: --baseline <other build>/dist/src/cli/main.js is required\n');
    process.exit(2);
  }
  const variants: [string, string | undefined][] = [['this build', undefined], ['baseline', values.baseline]];
  const samples = new Map<string, Sample[]>(variants.map(([v]) => [v, []]));
  const loads: number[] = [];
  const pgServer = await startPostgres();
  try {
    for (let i = 0; i < Number(values.rounds); i++) {
      // Alternate which build goes first.
      for (const [v, m] of i % 2 ? [...variants].reverse() : variants) {
        loads.push(loadavg()[0]!);
        const s = await round(pgServer, m, Number(values.items));
        samples.get(v)!.push(s);
        process.stderr.write(`round ${i + 1}, ${v}: rotation ${s.rotationMs.toFixed(0)} ms, idle per node ${s.rowReadsPerNodePerSecond.toFixed(2)} rotation-row reads/s, ${s.idlePerNodePerSecond.toFixed(2)} transactions/s (load ${loadavg()[0]!.toFixed(1)})\n`);
      }
    }
  } finally {
    await pgServer.stop();
  }
  console.log('| build | rotation POST -> completed (median ms) | idle rotation-row reads per node per s | idle transactions per node per s | rounds |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [v] of variants) {
    const s = samples.get(v)!;
    console.log(`| ${v} | ${median(s.map((x) => x.rotationMs)).toFixed(0)} | ${median(s.map((x) => x.rowReadsPerNodePerSecond)).toFixed(2)} | ${median(s.map((x) => x.idlePerNodePerSecond)).toFixed(2)} | ${s.length} |`);
  }
  console.log(`\nload average (1 min) during the runs: ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`);
}

await main();
