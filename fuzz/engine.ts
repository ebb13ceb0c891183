// The fuzzing engine behind `npm run fuzz`: a seeded, outcome-guided mutational fuzzer.
//
// Why not a coverage-guided engine: @jazzer.js/core 4.0.0 ships its libFuzzer addon
// prebuilt against glibc 2.38, which does not load on our Debian 12 (glibc 2.36) build
// machine; building it from source takes a clang and libFuzzer toolchain we do not
// install. So the engine is ours and needs no dependency:
//
//   corpus   the seed files of fuzz/corpus/<target>/ (small, from the test vectors)
//   mutate   1–4 stacked edits of a corpus entry: bit flips, interesting bytes, deleting,
//            duplicating or repeating a range, inserting or overwriting a dictionary token
//            (the target's grammar words), splicing in part of another entry, numbers
//            and, for JSON and XML targets, edits of the parsed tree (structured.ts)
//   guide    each run returns an outcome label (the error code and the shape of its
//            message, or "ok:..."); an input that produces a label never seen before joins
//            the corpus, so inputs that get further through the parser are mutated further
//   crash    anything the target does not classify as its typed error; a run that takes
//            longer than hangMs (a hang); RSS above maxRssMb (unbounded memory)
//
// A seed makes a run reproducible; a crash's input is written to fuzz/crashes/<target>/
// and can be replayed alone with --input. The engine runs in a worker thread
// (worker.ts) watched by scripts/fuzz.mjs, which saves the input of a run that never
// returns, exhausts the heap or throws from a stray callback after its run ended.

import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface FuzzTarget {
  name: string;
  /** Grammar words the mutator splices in (header names, XML tags, JSON keys ...). */
  dictionary: string[];
  /** Longest input the mutator produces. */
  maxLen: number;
  /** A structure-aware mutation (JSON, XML), tried for half the runs; undefined: use the byte mutator. */
  mutate?(rng: Rng, input: Buffer): Buffer | undefined;
  /** Seeds computed at start (e.g. requests signed with the target's key), besides the corpus files. */
  seeds?(): Buffer[];
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /**
   * Runs one input. Returns an outcome label when the code under test answered or failed
   * with its typed error; throws (or rejects) with anything else: that is a crash.
   */
  run(data: Buffer): string | Promise<string>;
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  corpusDir: string;
  crashDir: string;
  /** A single run slower than this is reported as a hang. */
  hangMs: number;
  /** The process's RSS above this is reported as unbounded memory. */
  maxRssMb: number;
  log(line: string): void;
  /** Called with each input before it runs, so a watchdog outside can save the one that hangs or kills the process. */
  onInput?(input: Buffer): void;
}

export interface FuzzReport {
  target: string;
  executions: number;
  seconds: number;
  corpusStart: number;
  corpusEnd: number;
  outcomes: Map<string, number>;
  slowestMs: number;
  peakRssMb: number;
  crash?: { reason: string; file: string; input: Buffer };
}

/** An error the engine raises itself: a hang or unbounded memory. */
export class FuzzFinding extends Error {}

const CORPUS_CAP = 4096;
const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x2c, 0x2f, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x5b, 0x5d, 0x7b, 0x7d, 0x26];
const NUMBERS = ['0', '1', '-1', '255', '256', '4096', '8192', '65535', '65536', '4294967295', '9007199254740993', '1e309', 'ffffffff', 'FFFFFFFFFFFFFFFF', 'NaN', '-0', '0x10'];

/** xorshift128 seeded through splitmix32: fast, reproducible, good enough to pick mutations. */
export class Rng {
  private readonly state: [number, number, number, number];

  constructor(seed: number) {
    let z = seed >>> 0;
    const next = () => {
      z = (z + 0x9e3779b9) >>> 0;
      let x = z;
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
      return (x ^ (x >>> 16)) >>> 0;
    };
    this.state = [next(), next(), next(), next() || 1];
  }

  /** An integer in [0, n). */
  below(n: number): number {
    const s = this.state;
    let t = s[3];
    const u = s[0];
    s[3] = s[2];
    s[2] = s[1];
    s[1] = u;
    t ^= t << 11;
    t ^= t >>> 8;
    s[0] = (t ^ u ^ (u >>> 19)) >>> 0;
    return Math.floor((s[0] / 0x1_0000_0000) * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** One to four stacked mutations of `input`, taking material from `other` and the dictionary. */
export function mutate(rng: Rng, input: Buffer, other: Buffer, dictionary: readonly Buffer[], maxLen: number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length === 0 ? 0 : rng.below(b.length + 1);
    switch (rng.below(12)) {
      case 0: // flip a bit
        if (b.length > 0) b[rng.below(b.length)]! ^= 1 << rng.below(8);
        break;
      case 1: // an interesting byte
        if (b.length > 0) b[rng.below(b.length)] = rng.pick(INTERESTING);
        break;
      case 2: // a random byte
        if (b.length > 0) b[rng.below(b.length)] = rng.below(256);
        break;
      case 3: { // delete a range
        const len = 1 + rng.below(Math.min(64, Math.max(1, b.length - at)));
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
        break;
      }
      case 4: { // duplicate a range in place
        const len = 1 + rng.below(Math.min(64, Math.max(1, b.length - at)));
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 5: { // repeat a range many times (deep nesting, long runs)
        const len = 1 + rng.below(Math.min(16, Math.max(1, b.length - at)));
        const piece = b.subarray(at, at + len);
        const times = 2 + rng.below(200);
        b = Buffer.concat([b.subarray(0, at), ...Array<Buffer>(times).fill(piece), b.subarray(at)]);
        break;
      }
      case 6: // insert a dictionary word
      case 7:
        if (dictionary.length > 0) b = Buffer.concat([b.subarray(0, at), rng.pick(dictionary), b.subarray(at)]);
        break;
      case 8: { // overwrite with a dictionary word
        if (dictionary.length === 0) break;
        const w = rng.pick(dictionary);
        b = Buffer.concat([b.subarray(0, at), w, b.subarray(at + w.length)]);
        break;
      }
      case 9: { // splice part of another corpus entry
        if (other.length === 0) break;
        const from = rng.below(other.length);
        const len = 1 + rng.below(Math.min(256, other.length - from));
        b = Buffer.concat([b.subarray(0, at), other.subarray(from, from + len), b.subarray(at + rng.below(len + 1))]);
        break;
      }
      case 10: // a number where digits may go
        b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(NUMBERS)), b.subarray(at)]);
        break;
      default: // truncate
        b = b.subarray(0, at);
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

/**
 * An error's label for guidance: its code and the fixed words of its message. Messages
 * repeat parts of the input (after a quote mark, or as ARNs, ids, aliases, numbers), so the
 * label stops at the first quote and keeps only plain words that the input does not
 * contain; anything else (a run of it) becomes "_".
 */
export function outcomeLabel(code: string, message: string, input = ''): string {
  const words = message
    .split(/["']/, 1)[0]!
    .split(/\s+/)
    .map((w) => (/^[A-Za-z-]{1,16}[.,:;]?$/.test(w) && !(w.length >= 4 && input.includes(w.replace(/[.,:;]$/, ''))) ? w : '_'));
  return `${code}: ${words.join(' ').replace(/_( _)+/g, '_').slice(0, 100)}`;
}

async function loadCorpus(dir: string): Promise<Buffer[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: Buffer[] = [];
  for (const n of names.sort()) out.push(await readFile(join(dir, n)));
  return out;
}

/** Runs one input with the hang and memory checks the engine applies to every run. */
async function runOnce(target: FuzzTarget, input: Buffer, hangMs: number): Promise<{ label: string; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const result = target.run(input);
  const label =
    typeof result === 'string'
      ? result
      : await Promise.race([
          result,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new FuzzFinding(`hang: the run did not settle within ${hangMs} ms`)), hangMs);
          }),
        ]).finally(() => clearTimeout(timer));
  const ms = performance.now() - started;
  if (ms > hangMs) throw new FuzzFinding(`hang: one run took ${ms.toFixed(0)} ms (limit ${hangMs} ms)`);
  return { label, ms };
}

/** Replays one input file: its outcome label, or the crash it causes (rethrown). */
export async function replay(target: FuzzTarget, input: Buffer, hangMs: number): Promise<string> {
  await target.setup?.();
  try {
    return (await runOnce(target, input, hangMs)).label;
  } finally {
    await target.teardown?.();
  }
}

export async function fuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzReport> {
  const rng = new Rng(opts.seed);
  const dictionary = target.dictionary.map((w) => Buffer.from(w, 'utf8'));
  const corpus = [...(await loadCorpus(opts.corpusDir)), ...(target.seeds?.() ?? [])];
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  const report: FuzzReport = { target: target.name, executions: 0, seconds: 0, corpusStart: corpus.length, corpusEnd: 0, outcomes: new Map(), slowestMs: 0, peakRssMb: 0 };
  const started = performance.now();
  let lastLog = started;
  await target.setup?.();
  try {
    for (let i = 0; i < opts.runs; i++) {
      // The seeds run first, unmutated; then mutations of the corpus.
      const input = i < report.corpusStart ? corpus[i]! : next(rng, target, corpus, dictionary);
      opts.onInput?.(input);
      let label: string;
      try {
        const r = await runOnce(target, input, opts.hangMs);
        label = r.label;
        if (r.ms > report.slowestMs) report.slowestMs = r.ms;
      } catch (e) {
        report.crash = await saveCrash(opts.crashDir, target.name, input, e);
        break;
      }
      report.executions++;
      const seen = report.outcomes.get(label);
      report.outcomes.set(label, (seen ?? 0) + 1);
      if (seen === undefined && i >= report.corpusStart && corpus.length < CORPUS_CAP) corpus.push(input);
      if ((i & 1023) === 0) {
        // Let timers and I/O run, so an error a run left behind surfaces near that run.
        await new Promise((resolve) => setImmediate(resolve));
        const rss = process.memoryUsage.rss() / 1e6;
        if (rss > report.peakRssMb) report.peakRssMb = rss;
        if (rss > opts.maxRssMb) {
          report.crash = await saveCrash(opts.crashDir, target.name, input, new FuzzFinding(`memory: RSS ${rss.toFixed(0)} MB passed ${opts.maxRssMb} MB`));
          break;
        }
        const now = performance.now();
        if (now - lastLog > 10_000) {
          lastLog = now;
          const s = (now - started) / 1000;
          opts.log(`#${report.executions} ${Math.round(report.executions / s)}/s corpus ${corpus.length} outcomes ${report.outcomes.size} rss ${rss.toFixed(0)} MB`);
        }
      }
    }
  } finally {
    await target.teardown?.();
  }
  report.seconds = (performance.now() - started) / 1000;
  report.corpusEnd = corpus.length;
  return report;
}

function next(rng: Rng, target: FuzzTarget, corpus: Buffer[], dictionary: readonly Buffer[]): Buffer {
  const base = rng.pick(corpus);
  const structured = target.mutate && rng.below(2) === 0 ? target.mutate(rng, base) : undefined;
  if (structured !== undefined) return structured.length > target.maxLen ? structured.subarray(0, target.maxLen) : structured;
  return mutate(rng, base, rng.pick(corpus), dictionary, target.maxLen);
}

/** Writes a crashing input to dir/<target>/crash-<sha1>; returns it with the reason. */
export async function saveCrash(dir: string, target: string, input: Buffer, e: unknown): Promise<NonNullable<FuzzReport['crash']>> {
  const reason = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
  const where = join(dir, target);
  await mkdir(where, { recursive: true });
  const file = join(where, `crash-${createHash('sha1').update(input).digest('hex').slice(0, 16)}`);
  await writeFile(file, input);
  return { reason, file, input };
}
