// The unencrypted GET rows of the build comparison (bench/builds.ts, part `get`): the two
// builds' servers with COFFER_ENCRYPTION_AT_REST=off, each holding the same objects, read
// in turns:
//
//   1 MiB GETs, 8 in flight: ROUNDS interleaved batches of BENCH_BUILD_MID_OPS (64) over 64
//   objects written once (per-request costs: the record, the blob file's open and close, the
//   head, SigV4, the read), the median of the per-round ratios and server CPU per MiB;
//   one stream GET of `sizes.stream` bytes: STREAM_ROUNDS turns each, the best rate of each
//   build and the median of its server CPU per MiB (the CPU is steadier than a rate here).
//
// Each round's first build alternates, so drift on the machine falls on both.

import { MiB } from './body.js';
import { combine, cpuPerOp, measure, pairedRatios, runOps, type Measured } from './measure.js';
import type { RawS3Client } from './raw-client.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import { usage } from './scenarios.js';

export interface PlainGetSide {
  variant: string;
  server: { pid: number };
  client: RawS3Client;
}

export interface PlainGetOptions {
  /** The two builds: this build first, then the baseline. */
  sides: PlainGetSide[];
  /** The bucket (encryption at rest off) on both servers. */
  bucket: string;
  stream: number;
  rounds: number;
  streamRounds: number;
  midOps: number;
  midConcurrency: number;
  minRatio: number;
}

const OBJECTS = 64;

export async function plainGets(o: PlainGetOptions): Promise<Row[]> {
  for (const s of o.sides) {
    await runOps(OBJECTS, o.midConcurrency, (i) => s.client.putStream(o.bucket, `get-mid/${i}`, MiB));
    await s.client.putStream(o.bucket, 'get-stream', o.stream);
    // Warm the path (JIT, the records' pages) outside the counted rounds.
    await runOps(4 * OBJECTS, o.midConcurrency, (i) => s.client.get(o.bucket, `get-mid/${i % OBJECTS}`, MiB).then(() => undefined));
  }
  const [mine, base] = o.sides as [PlainGetSide, PlainGetSide];
  const mid = new Map<PlainGetSide, Measured<Float64Array>[]>([[mine, []], [base, []]]);
  const stream = new Map<PlainGetSide, Measured<unknown>[]>([[mine, []], [base, []]]);
  for (let r = 0; r < Math.max(o.rounds, o.streamRounds); r++) {
    const order = r % 2 === 0 ? o.sides : [...o.sides].reverse();
    if (r < o.rounds) {
      for (const s of order) {
        mid.get(s)!.push(await measure(s.server.pid, () => runOps(o.midOps, o.midConcurrency, (i) => s.client.get(o.bucket, `get-mid/${(r * o.midOps + i) % OBJECTS}`, MiB).then(() => undefined))));
      }
    }
    if (r < o.streamRounds) for (const s of order) stream.get(s)!.push(await measure(s.server.pid, () => s.client.get(o.bucket, 'get-stream', o.stream)));
  }

  const rows: Row[] = [];
  const midScenario = `Builds: GET 1 MiB ×${fmtInt(o.midOps * o.rounds)} unencrypted, ${o.midConcurrency} in flight (${o.rounds} interleaved batches)`;
  const [a, b] = [combine(mid.get(mine)!), combine(mid.get(base)!)];
  const mibs = (m: Measured<Float64Array>) => m.value.length / m.seconds;
  for (const [variant, m] of [[mine.variant, a], [base.variant, b]] as const) {
    rows.push({ scenario: midScenario, variant, result: `${fmtInt(mibs(m))} MiB/s, server ${(cpuPerOp(m) / 1000).toFixed(2)} ms CPU/MiB (${usage(m)})`, target: '—', value: mibs(m) });
  }
  const { median, sorted } = pairedRatios(mid.get(mine)!, mid.get(base)!);
  rows.push({
    scenario: midScenario,
    variant: `${mine.variant} ÷ ${base.variant}`,
    result: `${median.toFixed(3)}× median of ${o.rounds} rounds (rounds ${sorted[0]!.toFixed(2)}–${sorted[sorted.length - 1]!.toFixed(2)}×); totals ${(mibs(a) / mibs(b)).toFixed(3)}×; server CPU per MiB ${(cpuPerOp(a) / cpuPerOp(b)).toFixed(3)}× (lower is better)`,
    target: `≥ ${o.minRatio.toFixed(2)}×`,
    met: median >= o.minRatio,
  });

  const streamScenario = `Builds: GET ${fmtSize(o.stream)} unencrypted, 1 stream (best of ${o.streamRounds}; CPU: median)`;
  const perMiB = (m: Measured<unknown>) => (m.serverCpu * m.seconds * 1000) / (o.stream / MiB);
  const summary = (s: PlainGetSide) => {
    const ms = stream.get(s)!;
    const best = ms.reduce((x, y) => (y.seconds < x.seconds ? y : x));
    return { best, rate: o.stream / MiB / best.seconds, cpu: medianOf(ms.map(perMiB)) };
  };
  const [sa, sb] = [summary(mine), summary(base)];
  for (const [s, v] of [[mine, sa], [base, sb]] as const) {
    rows.push({ scenario: streamScenario, variant: s.variant, result: `${fmtInt(v.rate)} MiB/s (${v.best.seconds.toFixed(2)} s; ${usage(v.best)}); server ${v.cpu.toFixed(2)} ms CPU/MiB`, target: '—', value: v.rate });
  }
  const ratio = sa.rate / sb.rate;
  rows.push({
    scenario: streamScenario,
    variant: `${mine.variant} ÷ ${base.variant}`,
    result: `${ratio.toFixed(3)}×; server CPU per MiB ${(sa.cpu / sb.cpu).toFixed(3)}× (lower is better)`,
    target: `≥ ${o.minRatio.toFixed(2)}×`,
    met: ratio >= o.minRatio,
  });
  return rows;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length / 2;
  return s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
}
