// `npm run fuzz -- <target> [--runs N] [--seed S] [--input FILE]`: runs one fuzz target
// (fuzz/targets/<target>.ts, built into dist/) with the engine in fuzz/engine.ts, seeded
// from fuzz/corpus/<target>/. Prints the executions, the rate and the outcomes seen; on a
// crash, the reason and the file the input was saved to, and exits 1. --input replays one
// saved input and prints its outcome (or its crash). The engine runs in a worker thread
// with a heap limit (--max-rss-mb) under a watchdog (--hang-ms), see fuzz/worker.ts.

import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const targetsDir = join(root, 'dist', 'fuzz', 'targets');

function fail(message, hint) {
  process.stderr.write(`coffer: error: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    input: { type: 'string' },
    'hang-ms': { type: 'string', default: '5000' },
    'max-rss-mb': { type: 'string', default: '1536' },
  },
});
const names = (await readdir(targetsDir).catch(() => [])).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
const name = positionals[0];
if (name === undefined || !names.includes(name)) {
  fail(name === undefined ? 'no fuzz target given' : `unknown fuzz target ${JSON.stringify(name)}`, `npm run fuzz -- <target> --runs N, with a target among: ${names.join(', ')}`);
}
const number = (flag) => {
  const n = Number(values[flag]);
  if (!Number.isSafeInteger(n) || n <= 0) fail(`--${flag} must be a positive integer, got ${JSON.stringify(values[flag])}`);
  return n;
};
const runs = number('runs');
const hangMs = number('hang-ms');
const maxRssMb = number('max-rss-mb');
const seed = values.seed === undefined ? Date.now() % 0x1_0000_0000 : number('seed');

const { replay, saveCrash } = await import(join(root, 'dist', 'fuzz', 'engine.js'));
const targetFile = join(targetsDir, `${name}.js`);
const crashDir = join(root, 'fuzz', 'crashes');

if (values.input !== undefined) {
  const { target } = await import(targetFile);
  const label = await replay(target, await readFile(values.input), hangMs);
  console.log(`${name}: ${values.input}: ${label}`);
  process.exit(0);
}

/**
 * Runs the engine in a worker and watches it: when its run counter stops for hangMs, or
 * the worker dies (heap limit, an error thrown outside a run), the input it was running
 * is saved as the crash.
 */
function runWatched() {
  const shared = new SharedArrayBuffer(8 + 1024 * 1024);
  const header = new Int32Array(shared, 0, 2);
  const lastInput = () => Buffer.from(new Uint8Array(shared, 8, Atomics.load(header, 1)));
  const worker = new Worker(join(root, 'dist', 'fuzz', 'worker.js'), {
    workerData: { targetFile, shared, options: { runs, seed, hangMs, maxRssMb, corpusDir: join(root, 'fuzz', 'corpus', name), crashDir } },
    resourceLimits: { maxOldGenerationSizeMb: maxRssMb },
  });
  return new Promise((resolveReport) => {
    let seen = -1;
    let since = Date.now();
    let done = false;
    const finish = async (reason, stop) => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      const crash = await saveCrash(crashDir, name, lastInput(), reason);
      if (stop) await worker.terminate();
      resolveReport({ executions: Atomics.load(header, 0) - 1, seconds: (Date.now() - started) / 1000, corpusStart: 0, corpusEnd: 0, outcomes: new Map(), slowestMs: 0, peakRssMb: 0, crash });
    };
    const started = Date.now();
    const watchdog = setInterval(() => {
      const count = Atomics.load(header, 0);
      if (count !== seen) {
        seen = count;
        since = Date.now();
      } else if (Date.now() - since > hangMs) {
        void finish(new Error(`hang: run ${count} has not returned after ${hangMs} ms (the event loop may be blocked)`), true);
      }
    }, Math.min(500, hangMs));
    // The report counts once the worker has exited cleanly: an error thrown by work a run
    // left behind can still arrive after it.
    let report;
    worker.on('message', (m) => {
      if (m.log !== undefined) process.stderr.write(`fuzz ${name}: ${m.log}\n`);
      if (m.report !== undefined) report = m.report;
    });
    worker.on('error', (e) => void finish(`thrown outside a run (the saved input is the last one run; the culprit may be an earlier one): ${e.stack ?? e}`, false));
    worker.on('exit', (code) => {
      if (done) return;
      if (code !== 0 || report === undefined) return void finish(new Error(`the fuzzing worker exited with code ${code} before reporting`), false);
      done = true;
      clearInterval(watchdog);
      resolveReport({ ...report, crash: report.crash && { ...report.crash, input: Buffer.from(report.crash.input) } });
    });
  });
}

const report = await runWatched();
const rate = Math.round(report.executions / Math.max(report.seconds, 1e-3));
console.log(`fuzz ${name}: seed ${seed}; ${report.executions.toLocaleString('en-US')} executions in ${report.seconds.toFixed(1)} s (${rate.toLocaleString('en-US')}/s)`);
console.log(`fuzz ${name}: corpus ${report.corpusStart} -> ${report.corpusEnd}; ${report.outcomes.size} distinct outcomes; slowest run ${report.slowestMs.toFixed(1)} ms; peak RSS ${report.peakRssMb.toFixed(0)} MB`);
const accepted = [...report.outcomes].filter(([label]) => label.startsWith('ok:')).reduce((n, [, count]) => n + count, 0);
console.log(`fuzz ${name}: ${accepted.toLocaleString('en-US')} runs (${((accepted / Math.max(report.executions, 1)) * 100).toFixed(1)}%) accepted by the code under test; the most frequent outcomes:`);
const top = [...report.outcomes].sort((a, b) => b[1] - a[1]).slice(0, 12);
for (const [label, n] of top) console.log(`  ${String(n).padStart(9)}  ${label}`);
if (report.crash) {
  console.log(`\nfuzz ${name}: CRASH after ${report.executions} executions\n${report.crash.reason}\ninput saved to ${report.crash.file}\ninput (JSON): ${JSON.stringify(report.crash.input.toString('latin1')).slice(0, 2000)}`);
  process.exit(1);
}
console.log(`fuzz ${name}: no crash`);
