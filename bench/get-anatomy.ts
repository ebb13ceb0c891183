// Where a 1 MiB GET (8 in flight) spends its server CPU, thread by thread, for two builds
// side by side: `node dist/bench/get-anatomy.js <main.js of A> <main.js of B>` starts both
// servers, PUTs BENCH_ANATOMY_OPS (128) objects of BENCH_ANATOMY_MIB (1) MiB into a bucket
// whose default is BENCH_ANATOMY_SSE (s3 | kms | off; default s3), then GETs them all in
// BENCH_ANATOMY_ROUNDS (8) interleaved rounds (the order alternating) and prints, per build,
// the medians of the per-round rate and server CPU per MiB: all threads, the main thread,
// and every other thread by id (Node names them all `node`: the decrypt worker is the busy one),
// from /proc/<pid>/task, and the server's peak RSS over the GET rounds. A fresh server's GET
// path warms up slowly (V8 tier-up, socket autotuning): BENCH_ANATOMY_SKIP (0) first rounds
// are left out of the medians (not of the peak RSS), and every round's rates are printed.
// BENCH_ANATOMY_FSYNC=1 starts the servers with fsync on (blobs read with O_DIRECT, not from the page cache).
// `client`: this process's CPU per MiB (the client reading the responses, on the same machine).

import { readFileSync, writeFileSync } from 'node:fs';
import { MiB } from './body.js';
import { median, runOps } from './measure.js';
import { RawS3Client } from './raw-client.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerProcess } from './server-process.js';
import { prepareBucket } from './sse.js';
import { threadTimes } from './thread-cpu.js';

const ROUNDS = Number(process.env.BENCH_ANATOMY_ROUNDS) || 8;
const OPS = Number(process.env.BENCH_ANATOMY_OPS) || 128;
const SSE = (process.env.BENCH_ANATOMY_SSE ?? 's3') as 's3' | 'kms' | 'off';
const SIZE = (Number(process.env.BENCH_ANATOMY_MIB) || 1) * MiB;
const CONCURRENCY = Number(process.env.BENCH_ANATOMY_CONCURRENCY) || 8;
/** BENCH_ANATOMY_FSYNC=1: servers with fsync on, so blobs are written and read with O_DIRECT (the page cache is not in the read path). */
const FSYNC = process.env.BENCH_ANATOMY_FSYNC === '1';
const SKIP = Math.min(Number(process.env.BENCH_ANATOMY_SKIP) || 0, ROUNDS - 1);

type Snap = Map<string, number>;

/** CPU seconds by thread (main, and the others by name and id), and `all`. */
function snap(pid: number): Snap {
  const s: Snap = new Map();
  for (const [tid, t] of threadTimes(pid)) {
    // Node 20 names every thread `node`: threads other than main are told apart by id.
    const kind = tid === String(pid) ? 'main' : `${t.name}/${tid}`;
    s.set(kind, (s.get(kind) ?? 0) + t.cpu);
    s.set('all', (s.get('all') ?? 0) + t.cpu);
  }
  return s;
}

async function main(): Promise<void> {
  const mains = process.argv.slice(2);
  if (mains.length < 1) throw new Error('usage: get-anatomy <A main.js> [<B main.js>]');
  const env = SSE === 'off' ? { COFFER_ENCRYPTION_AT_REST: 'off' } : undefined;
  const sides: { name: string; main: string; server: ServerProcess; client: RawS3Client; rates: number[]; cpu: Map<string, number[]>; clientCpu: number[]; peakRss: number }[] = [];
  for (const [i, m] of mains.entries()) {
    const server = await startServer({ fsync: FSYNC, main: m, env, nodeFlags: process.env.BENCH_ANATOMY_NODE_FLAGS?.split(' ').filter(Boolean) });
    const client = new RawS3Client(server.url, { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });
    if (SSE === 'off') await client.createBucket('anatomy');
    else await prepareBucket(client, server.url, 'anatomy', SSE);
    await runOps(OPS, CONCURRENCY, (k) => client.putStream('anatomy', `o/${k}`, SIZE));
    await runOps(OPS, CONCURRENCY, (k) => client.get('anatomy', `o/${k}`, SIZE).then(() => undefined));
    sides.push({ name: String.fromCharCode(65 + i), main: m, server, client, rates: [], cpu: new Map(), clientCpu: [], peakRss: 0 });
  }
  // Peak RSS of the GET rounds alone: the kernel's high-water mark, reset after the PUTs.
  for (const s of sides) {
    try {
      writeFileSync(`/proc/${s.server.pid}/clear_refs`, '5');
    } catch {
      // not allowed here: the peak then includes the PUTs
    }
  }
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const a = snap(s.server.pid);
        const t = performance.now();
        const c = process.cpuUsage();
        await runOps(OPS, CONCURRENCY, (k) => s.client.get('anatomy', `o/${k}`, SIZE).then(() => undefined));
        const secs = (performance.now() - t) / 1000;
        const { user, system } = process.cpuUsage(c);
        const b = snap(s.server.pid);
        const mib = (OPS * SIZE) / MiB;
        s.rates.push(mib / secs);
        s.clientCpu.push((user + system) / 1000 / mib);
        for (const [k, v] of b) s.cpu.set(k, [...(s.cpu.get(k) ?? []), ((v - (a.get(k) ?? 0)) * 1000) / mib]);
        const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${s.server.pid}/status`, 'utf8'));
        s.peakRss = Number(hwm?.[1] ?? 0) / 1024;
      }
    }
  } finally {
    for (const s of sides) {
      s.client.close();
      await s.server.stop();
    }
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  for (const s of sides) console.log(`${s.name} rates by round (MiB/s): ${s.rates.map((x) => x.toFixed(0)).join(' ')}`);
  for (const s of sides) {
    s.rates = s.rates.slice(SKIP);
    s.clientCpu = s.clientCpu.slice(SKIP);
    for (const [k, v] of s.cpu) s.cpu.set(k, v.slice(SKIP));
  }
  console.log(`${ROUNDS} interleaved rounds of ${OPS} GETs × ${SIZE / MiB} MiB, ${CONCURRENCY} in flight, SSE ${SSE}, fsync ${FSYNC ? 'on' : 'off'}; load ${load}; medians${SKIP > 0 ? ` of rounds ${SKIP + 1}-${ROUNDS}` : ''}, CPU in ms per MiB`);
  for (const s of sides) {
    const threads = [...s.cpu].filter(([k]) => k !== 'all').sort((x, y) => median(y[1]) - median(x[1])).filter(([, v]) => median(v) >= 0.01).map(([k, v]) => `${k} ${median(v).toFixed(2)}`).join(', ');
    console.log(`${s.name} ${s.main}: ${median(s.rates).toFixed(0)} MiB/s, all ${median(s.cpu.get('all')!).toFixed(2)} | ${threads} | peak RSS ${s.peakRss.toFixed(0)} MB | client ${median(s.clientCpu).toFixed(2)}`);
  }
  if (sides.length === 2) {
    const ratios = sides[0]!.rates.map((x, i) => x / sides[1]!.rates[i]!).sort((a, b) => a - b);
    console.log(`A ÷ B rate: median ${median(ratios).toFixed(3)}× (rounds ${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)}×)`);
  }
}

await main();
