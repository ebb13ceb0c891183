// 4 KiB encrypted PUTs, their first GETs and the same GETs again, against two builds at once,
// interleaved: the measurement behind a change to the small encrypted read path (remembered
// envelopes and object keys, src/s3/sse/object-key-memo.ts, src/kms/opened-ciphertexts.ts),
// where `--only builds` reads each object once. Each round runs a batch of PUTs on each
// server, then a GET of each object, then the same GETs again, the first server alternating;
// the server's CPU per operation comes from /proc for each phase (all threads, and the main
// thread alone); the headline is the median of the rounds. Both servers run at once, fsync on,
// the bucket default SSE-S3 or SSE-KMS. A fresh server's request path warms up over its first
// ~2,000 requests (V8 tiering up), so each server first takes BENCH_WARM PUTs (default 2,000)
// and a GET of each, uncounted.
//
//   npm run build && node dist/bench/small-get-ab.js <s3|kms> <build A>/dist/src/cli/main.js <build B>/dist/src/cli/main.js [rounds] [objects per batch]

import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { runOps } from './measure.js';
import { processCpuSeconds } from './process-cpu.js';
import { threadTimes } from './thread-cpu.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerProcess } from './server-process.js';
import { prepareBucket, sseEnv, type SseMode } from './sse.js';

const CONCURRENCY = 16;
const SIZE = 4096;
const BUCKET = 'bench-small-get';
const PHASES = ['PUT', 'first GET', 'GET again'] as const;

interface Side {
  name: string;
  server: ServerProcess;
  client: RawS3Client;
  cpu: Record<(typeof PHASES)[number], number[]>;
  main: Record<(typeof PHASES)[number], number[]>;
}

/** The main thread's CPU seconds (its tid is the pid). */
function mainThreadSeconds(pid: number): number {
  return threadTimes(pid).get(String(pid))?.cpu ?? 0;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const [mode, a, b, roundsArg, batchArg] = process.argv.slice(2);
  if ((mode !== 's3' && mode !== 'kms') || !a || !b) {
    process.stderr.write('usage: node dist/bench/small-get-ab.js <s3|kms> <build A main.js> <build B main.js> [rounds] [objects per batch]\n');
    process.exit(2);
  }
  const rounds = Number(roundsArg ?? 8);
  const batch = Number(batchArg ?? 2000);
  const load = loadavg()[0]!.toFixed(2);
  const sides: Side[] = [];
  try {
    for (const [name, main] of [['A', a], ['B', b]] as const) {
      const server = await startServer({ fsync: process.env.BENCH_FSYNC !== '0', main, env: sseEnv(mode as SseMode) });
      const client = new RawS3Client(server.url, { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });
      sides.push({ name, server, client, cpu: { PUT: [], 'first GET': [], 'GET again': [] }, main: { PUT: [], 'first GET': [], 'GET again': [] } });
      await prepareBucket(client, server.url, BUCKET, mode as SseMode);
    }
    const body = randomBytes(SIZE);
    const hash = payloadHash(body);
    const warm = Number(process.env.BENCH_WARM ?? 2000);
    for (const s of sides) {
      await runOps(warm, CONCURRENCY, (i) => s.client.putSmall(BUCKET, `warm/${i}`, body, hash));
      await runOps(warm, CONCURRENCY, (i) => s.client.get(BUCKET, `warm/${i}`, SIZE).then(() => undefined));
    }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const phase of PHASES) {
        for (const s of order) {
          const before = processCpuSeconds(s.server.pid);
          const mainBefore = mainThreadSeconds(s.server.pid);
          await runOps(batch, CONCURRENCY, (i) => (phase === 'PUT'
            ? s.client.putSmall(BUCKET, `r${r}/${i}`, body, hash)
            : s.client.get(BUCKET, `r${r}/${i}`, SIZE).then(() => undefined)));
          s.cpu[phase].push(((processCpuSeconds(s.server.pid) - before) / batch) * 1e6);
          s.main[phase].push(((mainThreadSeconds(s.server.pid) - mainBefore) / batch) * 1e6);
        }
      }
    }
    console.log(`load average ${load} → ${loadavg()[0]!.toFixed(2)}; ${rounds} rounds × ${batch} objects of 4 KiB, SSE-${mode === 's3' ? 'S3' : 'KMS'}, ${CONCURRENCY} in flight, fsync on`);
    console.log('| phase | A: server CPU µs/op (median) | B | B ÷ A | A: main thread | B | B ÷ A |\n|---|---|---|---|---|---|---|');
    for (const phase of PHASES) {
      const [x, y] = [median(sides[0]!.cpu[phase]), median(sides[1]!.cpu[phase])];
      const [mx, my] = [median(sides[0]!.main[phase]), median(sides[1]!.main[phase])];
      console.log(`| ${phase} | ${x.toFixed(0)} | ${y.toFixed(0)} | ${(y / x).toFixed(3)}× | ${mx.toFixed(0)} | ${my.toFixed(0)} | ${(my / mx).toFixed(3)}× |`);
    }
  } finally {
    for (const s of sides) await s.server.stop();
  }
}

await main();
