// Where a 1 MiB PUT (8 in flight; or any size and concurrency, below) spends its server time, for two builds side by side:
// `node dist/bench/mid-anatomy.js <main.js of A> <main.js of B>` starts both servers
// (fsync on) and runs interleaved batches (BENCH_ANATOMY_ROUNDS × BENCH_ANATOMY_OPS, the
// order alternating), then prints per build the medians of the per-batch figures: rate,
// server CPU per MiB (all threads, and the main thread alone) and the context switches per
// PUT (voluntary: a thread blocked or waited; involuntary: it was preempted) from
// /proc/<pid>/task. BENCH_ANATOMY_SSE=s3|kms picks the bucket's default encryption
// (default: a server with COFFER_ENCRYPTION_AT_REST=off). Context switches count the
// hand-offs between threads, which the machine's load does not change the way it changes
// rates.

import { readFileSync, readdirSync } from 'node:fs';
import { MiB } from './body.js';
import { median, runOps } from './measure.js';
import { RawS3Client } from './raw-client.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerProcess } from './server-process.js';
import { prepareBucket } from './sse.js';

const ROUNDS = Number(process.env.BENCH_ANATOMY_ROUNDS) || 8;
const OPS = Number(process.env.BENCH_ANATOMY_OPS) || 96;
const SSE = process.env.BENCH_ANATOMY_SSE as 's3' | 'kms' | undefined;
/** BENCH_ANATOMY_MIB (1) per PUT and BENCH_ANATOMY_CONCURRENCY (8) in flight: 256 and 1 for a stream. */
const SIZE = (Number(process.env.BENCH_ANATOMY_MIB) || 1) * MiB;
const CONCURRENCY = Number(process.env.BENCH_ANATOMY_CONCURRENCY) || 8;
/** BENCH_ANATOMY_GET=1: after each PUT batch, GET the same objects (8 in flight) and report that too. */
const GET = process.env.BENCH_ANATOMY_GET === '1';

interface Snap {
  cpu: number;
  mainCpu: number;
  /** CPU seconds by thread name (libuv-worker: the libuv pool). */
  byName: Map<string, number>;
  vol: number;
  invol: number;
}

function snap(pid: number): Snap {
  const s: Snap = { cpu: 0, mainCpu: 0, byName: new Map(), vol: 0, invol: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(f[11]) + Number(f[12])) / 100;
      s.cpu += cpu;
      if (tid === String(pid)) s.mainCpu += cpu;
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      s.byName.set(name, (s.byName.get(name) ?? 0) + cpu);
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      s.vol += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1]);
      s.invol += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)![1]);
    } catch {
      // the thread ended
    }
  }
  return s;
}


async function main(): Promise<void> {
  const mains = process.argv.slice(2);
  if (mains.length !== 2) throw new Error('usage: mid-anatomy <A main.js> <B main.js>');
  const env = SSE === undefined ? { COFFER_ENCRYPTION_AT_REST: 'off' } : undefined;
  const sides: { name: string; server: ServerProcess; client: RawS3Client; rows: { rate: number; cpu: number; mainCpu: number; vol: number; invol: number }[]; gets: { rate: number; cpu: number }[]; names: Map<string, number> }[] = [];
  for (const [i, m] of mains.entries()) {
    const server = await startServer({ fsync: true, main: m, env });
    const client = new RawS3Client(server.url, { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });
    if (SSE === undefined) await client.createBucket('anatomy');
    else await prepareBucket(client, server.url, 'anatomy', SSE);
    await runOps(32, 8, (k) => client.putStream('anatomy', `warm/${k}`, MiB));
    sides.push({ name: i === 0 ? 'A' : 'B', server, client, rows: [], gets: [], names: new Map() });
  }
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const a = snap(s.server.pid);
        const t = performance.now();
        await runOps(OPS, CONCURRENCY, (k) => s.client.putStream('anatomy', `r${r}/${k}`, SIZE));
        const secs = (performance.now() - t) / 1000;
        const b = snap(s.server.pid);
        for (const [n, c] of b.byName) s.names.set(n, (s.names.get(n) ?? 0) + c - (a.byName.get(n) ?? 0));
        const mib = (OPS * SIZE) / MiB;
        s.rows.push({ rate: mib / secs, cpu: ((b.cpu - a.cpu) * 1000) / mib, mainCpu: ((b.mainCpu - a.mainCpu) * 1000) / mib, vol: (b.vol - a.vol) / OPS, invol: (b.invol - a.invol) / OPS });
        if (GET) {
          const t2 = performance.now();
          await runOps(OPS, CONCURRENCY, (k) => s.client.get('anatomy', `r${r}/${k}`, SIZE).then(() => undefined));
          const c = snap(s.server.pid);
          s.gets.push({ rate: mib / ((performance.now() - t2) / 1000), cpu: ((c.cpu - b.cpu) * 1000) / mib });
        }
      }
    }
  } finally {
    for (const s of sides) {
      s.client.close();
      await s.server.stop();
    }
  }
  console.log(`| build | MiB/s | server CPU ms/MiB | main thread ms/MiB | voluntary switches/PUT | involuntary/PUT |\n|---|---|---|---|---|---|`);
  for (const s of sides) {
    const col = (k: 'rate' | 'cpu' | 'mainCpu' | 'vol' | 'invol', d: number) => median(s.rows.map((x) => x[k])).toFixed(d);
    console.log(`| ${s.name} ${mains[s.name === 'A' ? 0 : 1]} | ${col('rate', 0)} | ${col('cpu', 2)} | ${col('mainCpu', 2)} | ${col('vol', 1)} | ${col('invol', 1)} |`);
  }
  for (const s of sides) console.log(`${s.name}: CPU ms/MiB by thread over all rounds: ${[...s.names].sort((x, y) => y[1] - x[1]).map(([n, c]) => `${n} ${((c * 1000) / ((OPS * ROUNDS * SIZE) / MiB)).toFixed(2)}`).join(', ')}`);
  if (GET) {
    for (const s of sides) console.log(`${s.name}: GET right after: ${median(s.gets.map((g) => g.rate)).toFixed(0)} MiB/s, server ${median(s.gets.map((g) => g.cpu)).toFixed(2)} ms CPU/MiB (medians)`);
    const gr = sides[0]!.gets.map((g, i) => g.rate / sides[1]!.gets[i]!.rate).sort((a, b) => a - b);
    console.log(`A ÷ B GET rate: median ${median(gr).toFixed(3)}× (rounds ${gr[0]!.toFixed(2)}–${gr.at(-1)!.toFixed(2)}×)`);
  }
  const ratios = sides[0]!.rows.map((x, i) => x.rate / sides[1]!.rows[i]!.rate).sort((a, b) => a - b);
  console.log(`A ÷ B rate: median ${median(ratios).toFixed(3)}× (rounds ${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)}×), ${ROUNDS} rounds of ${OPS} × ${SIZE / MiB} MiB, ${CONCURRENCY} in flight${SSE ? `, SSE-${SSE.toUpperCase()}` : ', unencrypted'}`);
}

await main();
