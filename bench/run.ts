// `npm run bench`: starts the real server as a child process for each variant
// (fsync on, --no-fsync), drives it with a raw SigV4 client and the AWS SDK, and
// prints one markdown table with the variants side by side and their ratio.
//
//   npm run bench                      full run (1 GiB streams, 5 GiB memory, 20,000 small ops)
//   npm run bench -- --quick           256 MiB streams, 1 GiB memory, 5,000 small ops
//   npm run bench -- --variant no-fsync
//   npm run bench -- --profile put     one PUT under `node --cpu-prof`, top self-time functions
//   npm run bench -- --server <other checkout>/dist/src/cli/main.js   benchmark another build
//   env BENCH_BIG_GIB, BENCH_STREAM_MIB, BENCH_SMALL_OPS override the sizes.
//
// It is a report, not a test: it exits 0 when a target is missed, and marks it.

import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GiB, MiB } from './body.js';
import { topSelfTime } from './cpu-profile.js';
import { readStatus } from './memory.js';
import { RawS3Client } from './raw-client.js';
import { loadLine, machineLine, table, fmtSize, type Row } from './report.js';
import { peakMemory, parallelStreams, sdkDefaultPut, singleStream, smallObjects, type Ctx, type Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerProcess } from './server-process.js';
import { checkAgainstSmithy } from './sigv4.js';

const VARIANTS = [
  { name: 'fsync', fsync: true },
  { name: 'no-fsync', fsync: false },
] as const;

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const BUCKET = 'bench';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench: error: ${name} must be a positive number, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

function sizes(quick: boolean): Sizes {
  return {
    stream: Math.round(envNumber('BENCH_STREAM_MIB', quick ? 256 : 1024) * MiB),
    big: Math.round(envNumber('BENCH_BIG_GIB', quick ? 1 : 5) * GiB),
    smallOps: Math.round(envNumber('BENCH_SMALL_OPS', quick ? 5_000 : 20_000)),
    smallSize: 4 * 1024,
    smallConcurrency: 16,
    parallelStreams: 4,
  };
}

let current: ServerProcess | undefined;
let serverMain: string | undefined;
process.once('SIGINT', () => {
  process.stderr.write('bench: interrupted, stopping the server\n');
  const stop = current ? current.stop() : Promise.resolve();
  stop.finally(() => process.exit(130));
});

async function withServer<T>(fsync: boolean, nodeFlags: string[], body: (server: ServerProcess, client: RawS3Client) => Promise<T>): Promise<T> {
  const server = await startServer({ fsync, nodeFlags, main: serverMain });
  current = server;
  const client = new RawS3Client(server.url, CREDS);
  try {
    await client.createBucket(BUCKET);
    return await body(server, client);
  } finally {
    client.close();
    await server.stop();
    current = undefined;
  }
}

async function runVariant(variant: (typeof VARIANTS)[number], sz: Sizes): Promise<Row[]> {
  process.stderr.write(`bench: variant ${variant.name}\n`);
  return withServer(variant.fsync, [], async (server, client) => {
    const ctx: Ctx = { url: server.url, pid: server.pid, variant: variant.name, sizes: sz, client, bucket: BUCKET };
    const idleRss = readStatus(server.pid).rss;
    const rows: Row[] = [];
    const steps: [string, () => Promise<Row[]>][] = [
      ['single stream', () => singleStream(ctx)],
      ['parallel streams', () => parallelStreams(ctx)],
      ['SDK default PUT', () => sdkDefaultPut(ctx)],
      ['small objects', () => smallObjects(ctx)],
      ['peak memory', () => peakMemory(ctx, idleRss)],
    ];
    for (const [name, step] of steps) {
      process.stderr.write(`bench:   ${name}\n`);
      const got = await step();
      for (const r of got) process.stderr.write(`bench:     ${r.scenario}: ${r.result}\n`);
      rows.push(...got);
    }
    return rows;
  });
}

async function profile(kind: 'put' | 'get', variant: (typeof VARIANTS)[number], sz: Sizes, keep?: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-prof-'));
  try {
    await withServer(variant.fsync, ['--cpu-prof', '--cpu-prof-dir', dir], async (server, client) => {
      const t0 = performance.now();
      await client.putStream(BUCKET, 'prof', sz.stream);
      const put = (performance.now() - t0) / 1000;
      process.stderr.write(`bench: PUT ${fmtSize(sz.stream)} in ${put.toFixed(1)} s\n`);
      if (kind === 'get') {
        const t1 = performance.now();
        await client.get(BUCKET, 'prof', sz.stream);
        process.stderr.write(`bench: GET ${fmtSize(sz.stream)} in ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);
      }
      void server;
    });
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) throw new Error('the server wrote no .cpuprofile (did it exit cleanly on SIGTERM?)');
    const file = join(dir, files[0]!);
    if (keep) await copyFile(file, keep);
    const { totalMs, top } = await topSelfTime(file, 15);
    console.log(machineLine());
    console.log(`\nServer CPU profile (${variant.name}), ${kind === 'put' ? 'PUT' : 'PUT then GET'} of ${fmtSize(sz.stream)}; ${(totalMs / 1000).toFixed(1)} s sampled over the server's life\n`);
    console.log('| self time | share | function | location | mostly called from |\n|---|---|---|---|---|');
    for (const t of top) console.log(`| ${t.ms.toFixed(0)} ms | ${(t.share * 100).toFixed(1)}% | ${t.name} | ${t.where} | ${t.caller} |`);
    if (keep) console.log(`\nprofile saved to ${keep}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      variant: { type: 'string' },
      profile: { type: 'string' },
      'profile-out': { type: 'string' },
      server: { type: 'string' },
    },
  });
  serverMain = values.server === undefined ? undefined : resolve(values.server);
  const sz = sizes(values.quick ?? false);
  const variants = VARIANTS.filter((v) => values.variant === undefined || v.name === values.variant);
  if (variants.length === 0) {
    process.stderr.write(`bench: error: unknown variant ${JSON.stringify(values.variant)}\nbench: hint: use one of ${VARIANTS.map((v) => v.name).join(', ')}\n`);
    process.exit(2);
  }
  await checkAgainstSmithy(CREDS);

  if (values.profile !== undefined) {
    if (values.profile !== 'put' && values.profile !== 'get') {
      process.stderr.write(`bench: error: --profile takes put or get\n`);
      process.exit(2);
    }
    await profile(values.profile, variants[0]!, sz, values['profile-out']);
    return;
  }

  const loadBefore = loadLine('before the run');
  const started = performance.now();
  const rows: Row[] = [];
  for (const v of variants) rows.push(...(await runVariant(v, sz)));
  const minutes = (performance.now() - started) / 60_000;

  console.log(machineLine());
  console.log(
    `Run: ${values.quick ? 'quick' : 'full'}; streams ${fmtSize(sz.stream)}, memory scenario ${fmtSize(sz.big)}, ${sz.smallOps.toLocaleString('en-US')} small ops; ` +
      `server is a child process (its CPU and RSS are reported), client shares the cores; took ${minutes.toFixed(1)} min\n`,
  );
  console.log(`${loadBefore}\n${loadLine('after the run')}\n`);
  console.log(table(rows, ['fsync', 'no-fsync']));
  const missed = rows.filter((r) => r.met === false).length;
  console.log(`\n${missed === 0 ? 'All targets met.' : `${missed} target(s) missed (marked **NO**).`} MB = 10^6 bytes; peak RSS is the larger of 50 ms samples of VmRSS and VmHWM reset per scenario.`);
}

main().catch((e) => {
  process.stderr.write(`bench: error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
