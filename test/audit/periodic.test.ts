// The timer loop shared by the audit layer's periodic jobs (src/audit/periodic.ts:
// delivery, the cluster's delivery and retention): one run at a time, a failed run does
// not end the loop, stop() waits for a run in progress and sets `halted`, and a restart
// leaves one timer chain.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeriodicJob } from '../../src/audit/periodic.js';

/** Counts its runs; a run waits `runMs`, the first `failures` runs throw. */
class Counter extends PeriodicJob<number> {
  runs = 0;
  inFlight = 0;
  maxInFlight = 0;
  errors: unknown[] = [];
  haltedSeen = false;

  constructor(intervalMs: number, public runMs = 0, private failures = 0, firstDelayMs?: number) {
    super({ intervalMs, ...(firstDelayMs === undefined ? {} : { firstDelayMs }) });
  }

  now(): Promise<number> {
    return this.runNow();
  }

  protected async run(): Promise<number> {
    this.runs++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await sleep(this.runMs);
      this.haltedSeen ||= this.halted;
      if (this.failures > 0) {
        this.failures--;
        throw new Error('run failed');
      }
      return this.runs;
    } finally {
      this.inFlight--;
    }
  }

  protected failed(err: unknown): number {
    this.errors.push(err);
    return -1;
  }
}

test('a run asked for while one is in progress shares it', async () => {
  const job = new Counter(60_000, 30);
  const [a, b] = await Promise.all([job.now(), job.now()]);
  assert.equal(a, 1);
  assert.equal(b, 1);
  assert.equal(job.runs, 1);
  assert.equal(await job.now(), 2, 'the next call after it ended is a new run');
});

test('a failed run resolves to failed()\'s value and the timer goes on', async () => {
  const job = new Counter(10, 0, 2, 0);
  job.start();
  for (let i = 0; i < 200 && job.runs < 4; i++) await sleep(10);
  await job.stop();
  assert.ok(job.runs >= 4, `${job.runs} runs`);
  assert.equal(job.errors.length, 2);
  assert.equal(job.maxInFlight, 1);
});

test('stop() waits for the run in progress, which sees halted; no run after it', async () => {
  const job = new Counter(10, 80, 0, 0);
  job.start();
  while (job.inFlight === 0) await sleep(5);
  await job.stop();
  assert.equal(job.inFlight, 0, 'stop() resolved before the run ended');
  assert.ok(job.haltedSeen);
  const runs = job.runs;
  await sleep(60);
  assert.equal(job.runs, runs);
});

test('start() while started is a no-op, and a start right after an unawaited stop leaves one timer, which stop() cancels', async () => {
  const job = new Counter(20, 40, 0, 0);
  job.start();
  job.start();
  while (job.inFlight === 0) await sleep(5);
  void job.stop();
  job.start(); // before the run in progress ended: its timer chain must not go on beside the new one
  job.runMs = 0;
  await sleep(150);
  while (job.inFlight > 0) await sleep(1);
  await job.stop(); // between runs: the timer is pending
  const runs = job.runs;
  await sleep(100);
  assert.equal(job.runs, runs, 'a run after stop(): a second timer chain was left running');
  assert.equal(job.maxInFlight, 1);
});
