// KMS GenerateDataKey+Decrypt pairs against two builds, interleaved, with the server's CPU per
// request split into the main thread and the rest (bench/thread-cpu.ts): the measurement
// behind a change to the KMS request path, where `--only builds` reports only the process
// total. Both servers run at once (fsync on unless BENCH_FSYNC=0); each round runs a batch on
// each, the first alternating; the headline is the median of the per-round values.
//
//   npm run build && node dist/bench/kms-ab.js <build A>/dist/src/cli/main.js <build B>/dist/src/cli/main.js [rounds] [pairs per batch]

import { loadavg } from 'node:os';
import { RawKmsClient, pairOp } from './kms.js';
import { measure, runOps } from './measure.js';
import { startServer, type ServerProcess } from './server-process.js';
import { threadTimes } from './thread-cpu.js';

const CONCURRENCY = 32;
const WARMUP_PAIRS = 1000;

interface Side {
  name: string;
  server: ServerProcess;
  kms: RawKmsClient;
  keyId: string;
  cpu: number[];
  main: number[];
  rate: number[];
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function mainThreadCpu(pid: number): number {
  return threadTimes(pid).get(String(pid))?.cpu ?? 0;
}

async function main(): Promise<void> {
  const [a, b, roundsArg, pairsArg] = process.argv.slice(2);
  if (!a || !b) {
    process.stderr.write('kms-ab: error: two builds needed\nhint: node dist/bench/kms-ab.js <A>/dist/src/cli/main.js <B>/dist/src/cli/main.js [rounds] [pairs]\n');
    process.exit(2);
  }
  const rounds = Math.max(2, Number(roundsArg ?? 8));
  const pairs = Math.max(100, Number(pairsArg ?? 2500));
  const fsync = process.env.BENCH_FSYNC !== '0';
  const sides: Side[] = [];
  try {
    for (const [name, main] of [['A', a], ['B', b]] as const) {
      const server = await startServer({ fsync, main });
      const kms = new RawKmsClient(server.url, CONCURRENCY);
      sides.push({ name, server, kms, keyId: '', cpu: [], main: [], rate: [] });
      sides.at(-1)!.keyId = ((await kms.call('CreateKey', { Description: 'bench: kms-ab' })).KeyMetadata as { Arn: string }).Arn;
    }
    for (const s of sides) await runOps(WARMUP_PAIRS, CONCURRENCY, pairOp(s.kms.call, s.keyId));
    const load0 = loadavg()[0]!;
    for (let r = 0; r < rounds; r++) {
      for (const s of r % 2 ? [...sides].reverse() : sides) {
        const t0 = mainThreadCpu(s.server.pid);
        const m = await measure(s.server.pid, () => runOps(pairs, CONCURRENCY, pairOp(s.kms.call, s.keyId)));
        const requests = 2 * pairs;
        s.main.push(((mainThreadCpu(s.server.pid) - t0) * 1e6) / requests);
        s.cpu.push((m.serverCpu * m.seconds * 1e6) / requests);
        s.rate.push(requests / m.seconds);
      }
    }
    console.log(`load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}; ${rounds} rounds × ${pairs} pairs, ${CONCURRENCY} in flight, fsync ${fsync ? 'on' : 'off'}`);
    console.log('| build | server CPU µs/request (median) | main thread µs/request | req/s (median) |\n|---|---|---|---|');
    for (const s of sides) console.log(`| ${s.name} | ${median(s.cpu).toFixed(0)} | ${median(s.main).toFixed(0)} | ${median(s.rate).toFixed(0)} |`);
    const [x, y] = sides as [Side, Side];
    console.log(`| B ÷ A | ${median(x.cpu.map((v, i) => y.cpu[i]! / v)).toFixed(3)}× | ${median(x.main.map((v, i) => y.main[i]! / v)).toFixed(3)}× | ${median(x.rate.map((v, i) => y.rate[i]! / v)).toFixed(3)}× |`);
  } finally {
    for (const s of sides) {
      s.kms.close();
      await s.server.stop();
    }
  }
}

await main();
