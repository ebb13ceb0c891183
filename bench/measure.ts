// Per-scenario measurement: wall time, server peak RSS (memory.ts), and CPU used by
// the server and by this client process, so a result can say which side was busy.

import { readFileSync } from 'node:fs';
import { MemorySampler } from './memory.js';

/** Linux USER_HZ: /proc/<pid>/stat times are in 1/100 s on every Linux ABI Node runs on. */
const USER_HZ = 100;

export interface Measured<T> {
  value: T;
  seconds: number;
  serverPeakRss: number;
  /** CPU seconds per wall second (1.0 = one core busy). */
  serverCpu: number;
  clientCpu: number;
}

function serverCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ; // utime, stime
}

export async function measure<T>(serverPid: number, run: () => Promise<T>): Promise<Measured<T>> {
  const sampler = new MemorySampler(serverPid);
  const cpu0 = serverCpuSeconds(serverPid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  let value: T;
  try {
    value = await run();
  } catch (e) {
    sampler.stop();
    throw e;
  }
  const mem = sampler.stop();
  const seconds = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(client0);
  return {
    value,
    seconds,
    serverPeakRss: mem.peak,
    serverCpu: (serverCpuSeconds(serverPid) - cpu0) / seconds,
    clientCpu: (client.user + client.system) / 1e6 / seconds,
  };
}

/** Runs `op(i)` for i in [0, count) with `concurrency` in flight; returns each op's latency in ms. */
export async function runOps(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Float64Array> {
  const latencies = new Float64Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t = performance.now();
      await op(i);
      latencies[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return latencies;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** Measurements of batches taken apart, as one: times add up, CPU is time-weighted, the peak is the largest. */
export function combine(parts: Measured<Float64Array>[]): Measured<Float64Array> {
  const seconds = parts.reduce((a, m) => a + m.seconds, 0);
  const weighted = (f: (m: Measured<Float64Array>) => number) => parts.reduce((a, m) => a + f(m) * m.seconds, 0) / seconds;
  const value = new Float64Array(parts.reduce((a, m) => a + m.value.length, 0));
  let at = 0;
  for (const m of parts) {
    value.set(m.value, at);
    at += m.value.length;
  }
  return { value, seconds, serverPeakRss: Math.max(...parts.map((m) => m.serverPeakRss)), serverCpu: weighted((m) => m.serverCpu), clientCpu: weighted((m) => m.clientCpu) };
}

/** Server CPU microseconds per operation. */
export function cpuPerOp(m: Measured<Float64Array>): number {
  return (m.serverCpu * m.seconds * 1e6) / m.value.length;
}

/**
 * Two variants' batches taken in turns, round by round: the rate ratio a ÷ b of each round
 * (its two batches ran back to back, under about the same load), sorted, and their median.
 */
export function pairedRatios(a: Measured<Float64Array>[], b: Measured<Float64Array>[]): { median: number; sorted: number[] } {
  const rate = (m: Measured<Float64Array>) => m.value.length / m.seconds;
  const sorted = a.map((m, i) => rate(m) / rate(b[i]!)).sort((x, y) => x - y);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, sorted };
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
