// The build comparison of `npm run bench` (`--only builds --baseline <other>/dist/src/cli/main.js`):
// this build and another (say, main before a refactoring) side by side in one run, on
// the data path a change is most likely to slow down:
//
//   small PUT and GET (4 KiB, `smallConcurrency` in flight) into a bucket with the server
//   default (SSE-S3) and into one whose default is SSE-KMS with a customer key, bucket
//   keys off (one KMS GenerateDataKey per PUT, one Decrypt per GET);
//   KMS GenerateDataKey+Decrypt pairs over the JSON API (bench/kms.ts's client), 32 in flight;
//   one stream PUT and GET of `sizes.stream` bytes under SSE-KMS, and one PUT and one GET of
//   as many bytes under SSE-S3;
//   1 MiB PUTs, 8 in flight, unencrypted (a second pair of servers with
//   COFFER_ENCRYPTION_AT_REST=off), SSE-S3 and SSE-KMS, in ROUNDS interleaved batches of
//   BENCH_BUILD_MID_OPS (64) each, each batch followed by GETs of the objects it wrote
//   (1 MiB GETs, 8 in flight);
//   unencrypted GETs on that second pair (bench/builds-plain-get.ts): 1 MiB, 8 in flight,
//   and one stream of `sizes.stream` bytes.
//
// BENCH_BUILD_PARTS (small,stream,mid,get; default all four) runs only the parts named (the
// KMS pairs are part of small).
//
// Both servers run at once and take turns, each going first in every other round, so drift
// on the machine falls on both. The small operations are split into ROUNDS batches; as in
// the metering section, the headline is the median of the per-round ratios (each round's
// two batches run back to back, under about the same load), with the ratio of the totals
// and of server CPU per operation beside it. Streams: best round of each build.
//
// Target: no measurable slowdown — each ratio this build ÷ baseline ≥ 0.95.

import { randomBytes } from 'node:crypto';
import { MiB } from './body.js';
import { combine, cpuPerOp, measure, pairedRatios, runOps, type Measured } from './measure.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import { cpuOpsRow, errorRow, usage, type Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';
import { prepareBucket } from './sse.js';
import { RawKmsClient, pairOp } from './kms.js';
import { plainGets } from './builds-plain-get.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
export const THIS_BUILD = 'this build';
export const BASELINE = 'baseline';
const MIN_RATIO = 0.95;
const ROUNDS = Math.max(2, Math.round(Number(process.env.BENCH_BUILD_ROUNDS) || 6));
/** Stream turns per build (BENCH_BUILD_STREAM_ROUNDS): a single stream swings more than a batch of small ones. */
const STREAM_ROUNDS = Math.max(1, Math.round(Number(process.env.BENCH_BUILD_STREAM_ROUNDS) || 5));
/** KMS requests in flight for the KMS pairs (as bench/kms.ts and the MinIO side by side). */
const KMS_CONCURRENCY = 32;
/** 1 MiB PUTs per batch (BENCH_BUILD_MID_OPS); ROUNDS batches per build and encryption. */
const MID_OPS = Math.max(8, Math.round(Number(process.env.BENCH_BUILD_MID_OPS) || 64));
const MID_CONCURRENCY = 8;
const PARTS = new Set((process.env.BENCH_BUILD_PARTS ?? 'small,stream,mid,get').split(',').map((p) => p.trim()));

export interface BuildsBenchOptions {
  sizes: Sizes;
  fsync: boolean;
  /** The other build's dist/src/cli/main.js. */
  baseline: string;
  start(opts: ServerOptions): Promise<ServerProcess>;
}

interface Side {
  variant: string;
  server: ServerProcess;
  client: RawS3Client;
  kms: RawKmsClient;
  /** The SSE-KMS bucket's key, also the one the KMS pairs use. */
  keyArn: string;
}

/** A server of the unencrypted 1 MiB PUT rows (encryption at rest off): S3 only. */
type PlainSide = Pick<Side, 'variant' | 'server' | 'client'>;

type Workload = { name: string; bucket: string; op: 'put' | 'get' | 'kms' };

const WORKLOADS: Workload[] = [
  { name: 'PUT', bucket: 'sse-s3', op: 'put' },
  { name: 'GET', bucket: 'sse-s3', op: 'get' },
  { name: 'PUT', bucket: 'sse-kms', op: 'put' },
  { name: 'GET', bucket: 'sse-kms', op: 'get' },
  { name: 'GenerateDataKey+Decrypt', bucket: 'kms', op: 'kms' },
];

export async function benchBuilds(opts: BuildsBenchOptions): Promise<Row[]> {
  const sides: Side[] = [];
  const plain: PlainSide[] = [];
  const rows: Row[] = [];
  try {
    process.stderr.write(`bench: builds: starting this build and ${opts.baseline}\n`);
    for (const [variant, main] of [[THIS_BUILD, undefined], [BASELINE, opts.baseline]] as const) {
      const server = await opts.start({ fsync: opts.fsync, main });
      const client = new RawS3Client(server.url, CREDS);
      const kms = new RawKmsClient(server.url, KMS_CONCURRENCY);
      await prepareBucket(client, server.url, 'sse-s3', 's3');
      const keyArn = (await prepareBucket(client, server.url, 'sse-kms', 'kms'))!;
      sides.push({ variant, server, client, kms, keyArn });
    }
    if (PARTS.has('small')) rows.push(...(await smallObjects(sides, opts.sizes)));
    if (PARTS.has('stream')) rows.push(...(await streams(sides, opts.sizes)));
    if (PARTS.has('mid') || PARTS.has('get')) {
      // The unencrypted rows need servers with encryption at rest off; started only for them.
      for (const [variant, main] of [[THIS_BUILD, undefined], [BASELINE, opts.baseline]] as const) {
        const server = await opts.start({ fsync: opts.fsync, main, env: { COFFER_ENCRYPTION_AT_REST: 'off' } });
        const client = new RawS3Client(server.url, CREDS);
        plain.push({ variant, server, client });
        await prepareBucket(client, server.url, 'plain', 's3');
      }
    }
    if (PARTS.has('mid')) rows.push(...(await midPuts(sides, plain)));
    if (PARTS.has('get')) {
      rows.push(...(await plainGets({ sides: plain, bucket: 'plain', stream: opts.sizes.stream, rounds: ROUNDS, streamRounds: STREAM_ROUNDS, midOps: MID_OPS, midConcurrency: MID_CONCURRENCY, minRatio: MIN_RATIO })));
    }
  } catch (e) {
    rows.push(errorRow({ variant: 'setup' }, 'Builds', '—', e));
  } finally {
    for (const s of sides) s.kms.close();
    for (const s of [...sides, ...plain]) {
      s.client.close();
      await s.server.stop();
    }
  }
  for (const r of rows) process.stderr.write(`bench:     ${r.scenario} [${r.variant}]: ${r.result}\n`);
  return rows;
}

const label = (w: Workload) => (w.bucket === 'sse-kms' ? 'SSE-KMS' : 'SSE-S3');
const scenarioOf = (w: Workload, sz: Sizes, rounds: number) =>
  w.op === 'kms'
    ? `Builds: KMS ${w.name} pairs ×${fmtInt(sz.smallOps)}, ${KMS_CONCURRENCY} in flight (${rounds} interleaved batches)`
    : `Builds: ${w.name} ${fmtSize(sz.smallSize)} ×${fmtInt(sz.smallOps)} ${label(w)}, ${sz.smallConcurrency} in flight (${rounds} interleaved batches)`;

async function smallObjects(sides: Side[], sz: Sizes): Promise<Row[]> {
  const { smallOps: n, smallSize, smallConcurrency: c } = sz;
  const body = randomBytes(smallSize);
  const hash = payloadHash(body);
  const warm = Math.min(500, n);
  for (const s of sides) {
    for (const bucket of ['sse-s3', 'sse-kms']) await runOps(warm, c, (i) => s.client.putSmall(bucket, `warm/${i}`, body, hash));
    await runOps(warm, KMS_CONCURRENCY, pairOp(s.kms.call, s.keyArn));
  }
  const parts = new Map<string, Measured<Float64Array>[]>();
  const key = (w: Workload, s: Side) => `${w.name} ${w.bucket} ${s.variant}`;
  for (let b = 0; b < ROUNDS; b++) {
    const from = Math.floor((b * n) / ROUNDS);
    const to = Math.floor(((b + 1) * n) / ROUNDS);
    const order = b % 2 === 0 ? sides : [...sides].reverse();
    for (const w of WORKLOADS) {
      for (const s of order) {
        const run = w.op === 'put'
          ? () => runOps(to - from, c, (i) => s.client.putSmall(w.bucket, `small/${from + i}`, body, hash))
          : w.op === 'get'
            ? () => runOps(to - from, c, (i) => s.client.get(w.bucket, `small/${from + i}`, smallSize).then(() => undefined))
            : () => runOps(to - from, KMS_CONCURRENCY, pairOp(s.kms.call, s.keyArn));
        const m = await measure(s.server.pid, run);
        parts.set(key(w, s), [...(parts.get(key(w, s)) ?? []), m]);
      }
    }
  }
  const rows: Row[] = [];
  for (const w of WORKLOADS) {
    const scenario = scenarioOf(w, sz, ROUNDS);
    const [mine, base] = sides.map((s) => parts.get(key(w, s))!) as [Measured<Float64Array>[], Measured<Float64Array>[]];
    const [a, b] = [combine(mine), combine(base)];
    const unit = w.op === 'kms' ? 'pair' : 'op';
    rows.push(cpuOpsRow(scenario, THIS_BUILD, a, unit), cpuOpsRow(scenario, BASELINE, b, unit));
    const rate = (m: Measured<Float64Array>) => m.value.length / m.seconds;
    const { median, sorted: perRound } = pairedRatios(mine, base);
    rows.push({
      scenario,
      variant: `${THIS_BUILD} ÷ ${BASELINE}`,
      result: `${median.toFixed(3)}× median of ${ROUNDS} rounds (rounds ${perRound[0]!.toFixed(2)}–${perRound[perRound.length - 1]!.toFixed(2)}×); totals ${(rate(a) / rate(b)).toFixed(3)}×; server CPU per op ${(cpuPerOp(a) / cpuPerOp(b)).toFixed(3)}× (lower is better)`,
      target: `≥ ${MIN_RATIO.toFixed(2)}×`,
      met: median >= MIN_RATIO,
    });
  }
  return rows;
}

async function streams(sides: Side[], sz: Sizes): Promise<Row[]> {
  const size = sz.stream;
  const rounds = STREAM_ROUNDS;
  const best = new Map<string, Measured<unknown>>();
  const keep = (id: string, m: Measured<unknown>) => {
    const b = best.get(id);
    if (!b || m.seconds < b.seconds) best.set(id, m);
  };
  for (const s of sides) await s.client.putStream('sse-s3', 'stream', size);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) keep(`put ${s.variant}`, await measure(s.server.pid, () => s.client.putStream('sse-kms', 'stream', size)));
    for (const s of order) keep(`put-s3 ${s.variant}`, await measure(s.server.pid, () => s.client.putStream('sse-s3', 'stream', size)));
    for (const s of order) keep(`get ${s.variant}`, await measure(s.server.pid, () => s.client.get('sse-kms', 'stream', size)));
    for (const s of order) keep(`get-s3 ${s.variant}`, await measure(s.server.pid, () => s.client.get('sse-s3', 'stream', size)));
  }
  const rows: Row[] = [];
  for (const op of ['put', 'put-s3', 'get', 'get-s3'] as const) {
    const scenario = op.endsWith('-s3') ? `Builds: ${op.slice(0, 3).toUpperCase()} ${fmtSize(size)} SSE-S3, 1 stream (best of ${rounds})` : `Builds: ${op.toUpperCase()} ${fmtSize(size)} SSE-KMS, 1 stream (best of ${rounds})`;
    const values = sides.map((s) => {
      const m = best.get(`${op} ${s.variant}`)!;
      const mibs = size / MiB / m.seconds;
      rows.push({ scenario, variant: s.variant, result: `${fmtInt(mibs)} MiB/s (${m.seconds.toFixed(1)} s; server ${((m.serverCpu * m.seconds * 1000) / (size / MiB)).toFixed(2)} ms CPU/MiB; ${usage(m)})`, target: '—', value: mibs });
      return mibs;
    });
    const ratio = values[0]! / values[1]!;
    rows.push({ scenario, variant: `${THIS_BUILD} ÷ ${BASELINE}`, result: `${ratio.toFixed(3)}×`, target: `≥ ${MIN_RATIO.toFixed(2)}×`, met: ratio >= MIN_RATIO });
  }
  return rows;
}

/** 1 MiB PUTs, then GETs of what they wrote, 8 in flight, per encryption: interleaved batches, the median of the per-round ratios and server CPU per MiB. */
async function midPuts(sides: PlainSide[], plain: PlainSide[]): Promise<Row[]> {
  const cases = [
    { name: 'unencrypted', bucket: 'plain', sides: plain },
    { name: 'SSE-S3', bucket: 'sse-s3', sides },
    { name: 'SSE-KMS', bucket: 'sse-kms', sides },
  ];
  for (const c of cases) for (const s of c.sides) await runOps(32, MID_CONCURRENCY, (i) => s.client.putStream(c.bucket, `warm-mid/${i}`, MiB));
  const parts = new Map<string, Measured<Float64Array>[]>();
  for (let b = 0; b < ROUNDS; b++) {
    for (const c of cases) {
      const order = b % 2 === 0 ? c.sides : [...c.sides].reverse();
      for (const s of order) {
        const m = await measure(s.server.pid, () => runOps(MID_OPS, MID_CONCURRENCY, (i) => s.client.putStream(c.bucket, `mid/${b}/${i}`, MiB)));
        const id = `PUT ${c.name} ${s.variant}`;
        parts.set(id, [...(parts.get(id) ?? []), m]);
      }
      for (const s of [...order].reverse()) {
        const m = await measure(s.server.pid, () => runOps(MID_OPS, MID_CONCURRENCY, (i) => s.client.get(c.bucket, `mid/${b}/${i}`, MiB).then(() => undefined)));
        const id = `GET ${c.name} ${s.variant}`;
        parts.set(id, [...(parts.get(id) ?? []), m]);
      }
    }
  }
  const rows: Row[] = [];
  for (const [op, c] of (['PUT', 'GET'] as const).flatMap((op) => cases.map((c) => [op, c] as const))) {
    const scenario = `Builds: ${op} 1 MiB ×${fmtInt(MID_OPS * ROUNDS)} ${c.name}, ${MID_CONCURRENCY} in flight (${ROUNDS} interleaved batches)`;
    const [mine, base] = c.sides.map((s) => parts.get(`${op} ${c.name} ${s.variant}`)!) as [Measured<Float64Array>[], Measured<Float64Array>[]];
    const [a, b] = [combine(mine), combine(base)];
    const mibs = (m: Measured<Float64Array>) => m.value.length / m.seconds;
    for (const [variant, m] of [[THIS_BUILD, a], [BASELINE, b]] as const) {
      rows.push({ scenario, variant, result: `${fmtInt(mibs(m))} MiB/s, server ${(cpuPerOp(m) / 1000).toFixed(2)} ms CPU/MiB (${usage(m)})`, target: '—', value: mibs(m) });
    }
    const { median, sorted: perRound } = pairedRatios(mine, base);
    rows.push({
      scenario,
      variant: `${THIS_BUILD} ÷ ${BASELINE}`,
      result: `${median.toFixed(3)}× median of ${ROUNDS} rounds (rounds ${perRound[0]!.toFixed(2)}–${perRound[perRound.length - 1]!.toFixed(2)}×); totals ${(mibs(a) / mibs(b)).toFixed(3)}×; server CPU per MiB ${(cpuPerOp(a) / cpuPerOp(b)).toFixed(3)}× (lower is better)`,
      target: `≥ ${MIN_RATIO.toFixed(2)}×`,
      met: median >= MIN_RATIO,
    });
  }
  return rows;
}
