// The fuzzing engine in a worker thread: scripts/fuzz.mjs starts it and watches it. Each
// input is copied into shared memory and a counter bumped before it runs, so the main
// thread can tell a hang (the counter stops) and save the input that caused it, or the one
// running when the worker died (heap exhausted, an error thrown outside any run).

import { parentPort, workerData } from 'node:worker_threads';
import { fuzz, type FuzzOptions, type FuzzTarget } from './engine.js';

export interface WorkerInput {
  targetFile: string;
  options: Omit<FuzzOptions, 'log' | 'onInput'>;
  /** [0..3] run counter, [4..7] input length, then the input's bytes. */
  shared: SharedArrayBuffer;
}

const { targetFile, options, shared } = workerData as WorkerInput;
const header = new Int32Array(shared, 0, 2);
const bytes = new Uint8Array(shared, 8);
const { target } = (await import(targetFile)) as { target: FuzzTarget };
const report = await fuzz(target, {
  ...options,
  log: (line) => parentPort!.postMessage({ log: line }),
  onInput(input) {
    const n = Math.min(input.length, bytes.length);
    bytes.set(input.subarray(0, n));
    Atomics.store(header, 1, n);
    Atomics.add(header, 0, 1);
  },
});
parentPort!.postMessage({ report });
