// `npm run fuzz -- <target> [--runs N] [--seed S] [--input FILE]`: runs one fuzz target
// (fuzz/targets/<target>.ts, built into dist/) with the engine in fuzz/engine.ts, seeded
// from fuzz/corpus/<target>/. Prints the executions, the rate and the outcomes seen; on a
// crash, the reason and the file the input was saved to, and exits 1. --input replays one
// saved input and prints its outcome (or its crash).

import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

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

const { fuzz, replay } = await import(join(root, 'dist', 'fuzz', 'engine.js'));
const { target } = await import(join(targetsDir, `${name}.js`));

if (values.input !== undefined) {
  const label = await replay(target, await readFile(values.input), hangMs);
  console.log(`${name}: ${values.input}: ${label}`);
  process.exit(0);
}

const report = await fuzz(target, {
  runs,
  seed,
  hangMs,
  maxRssMb,
  corpusDir: join(root, 'fuzz', 'corpus', name),
  crashDir: join(root, 'fuzz', 'crashes'),
  log: (line) => process.stderr.write(`fuzz ${name}: ${line}\n`),
});
const rate = Math.round(report.executions / Math.max(report.seconds, 1e-3));
console.log(`fuzz ${name}: seed ${seed}; ${report.executions.toLocaleString('en-US')} executions in ${report.seconds.toFixed(1)} s (${rate.toLocaleString('en-US')}/s)`);
console.log(`fuzz ${name}: corpus ${report.corpusStart} -> ${report.corpusEnd}; ${report.outcomes.size} distinct outcomes; slowest run ${report.slowestMs.toFixed(1)} ms; peak RSS ${report.peakRssMb.toFixed(0)} MB`);
const top = [...report.outcomes].sort((a, b) => b[1] - a[1]).slice(0, 12);
for (const [label, n] of top) console.log(`  ${String(n).padStart(9)}  ${label}`);
if (report.crash) {
  console.log(`\nfuzz ${name}: CRASH after ${report.executions} executions\n${report.crash.reason}\ninput saved to ${report.crash.file}\ninput (JSON): ${JSON.stringify(report.crash.input.toString('latin1')).slice(0, 2000)}`);
  process.exit(1);
}
console.log(`fuzz ${name}: no crash`);
