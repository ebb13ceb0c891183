// The garbage-collection trigger S3 calls after commits (src/storage/garbage-collector.ts):
// one collection at a time, a burst during it served by exactly one more, failures
// reported and not in the way of the next collection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { garbageCollector } from '../../src/storage/garbage-collector.js';

/** A collection the test finishes by hand, counting runs and how many overlap. */
function controlledCollection() {
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const state = { started: 0, active: 0, maxActive: 0 };
  const collect = (): Promise<void> => {
    state.started++;
    state.active++;
    state.maxActive = Math.max(state.maxActive, state.active);
    return new Promise<void>((resolve, reject) => pending.push({ resolve, reject })).finally(() => state.active--);
  };
  const settle = async (how: 'resolve' | 'reject'): Promise<void> => {
    const p = pending.shift();
    assert.ok(p, 'a collection is running');
    if (how === 'resolve') p.resolve();
    else p.reject(new Error('disk on fire'));
    // Let the collector's .catch/.finally handlers run (all microtasks run before setImmediate).
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { collect, state, pending, settle };
}

test('a burst of calls runs one collection at a time, and one more after it', async () => {
  const c = controlledCollection();
  const trigger = garbageCollector(c.collect, (err) => assert.fail(String(err)));
  for (let i = 0; i < 10; i++) trigger();
  assert.equal(c.state.started, 1);
  await c.settle('resolve');
  assert.equal(c.state.started, 2, 'the calls during the first collection get one more');
  for (let i = 0; i < 10; i++) trigger();
  await c.settle('resolve');
  assert.equal(c.state.started, 3);
  await c.settle('resolve');
  assert.equal(c.state.started, 3, 'no call arrived during the last one: nothing more runs');
  assert.equal(c.state.maxActive, 1);
  assert.equal(c.pending.length, 0);
});

test('a call after the collector went idle starts a new collection at once', async () => {
  const c = controlledCollection();
  const trigger = garbageCollector(c.collect, (err) => assert.fail(String(err)));
  trigger();
  await c.settle('resolve');
  trigger();
  assert.equal(c.state.started, 2);
  await c.settle('resolve');
});

test('a failed collection is reported, and the collector keeps working', async () => {
  const c = controlledCollection();
  const errors: unknown[] = [];
  const trigger = garbageCollector(c.collect, (err) => errors.push(err));
  trigger();
  trigger();
  await c.settle('reject');
  assert.deepEqual(errors.map((e) => (e as Error).message), ['disk on fire']);
  assert.equal(c.state.started, 2, 'the call during the failed collection still gets its run');
  await c.settle('resolve');
  trigger();
  assert.equal(c.state.started, 3);
  await c.settle('resolve');
  assert.equal(errors.length, 1);
});
