// The rounds of a cluster rotation's follower and leader (backend/reseal/rotation-poll.ts):
// one at a time, at the poll's interval or at once when a notification wakes them; a wake
// that arrives during a round is not lost (the change may have come after the round read
// the row): one more round follows it; after stop() no round starts.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RotationPoll } from '../../src/backend/reseal/rotation-poll.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('runs a round at once when woken, one at a time, and once more for a wake during a round; none after stop', async () => {
  let rounds = 0;
  let running = 0;
  let overlap = false;
  let release: (() => void) | undefined;
  const poll = new RotationPoll(async () => {
    rounds++;
    if (++running > 1) overlap = true;
    await new Promise<void>((r) => (release = r));
    running--;
  }, () => 60_000);
  poll.start();
  await sleep(50);
  assert.equal(rounds, 0, 'the poll is a minute away');
  poll.wake();
  assert.equal(rounds, 1, 'woken: a round at once');
  poll.wake();
  poll.wake();
  assert.equal(rounds, 1, 'not beside the round in progress');
  release!();
  await sleep(20);
  assert.equal(rounds, 2, 'the wakes during the round: one more round after it');
  release!();
  await sleep(20);
  assert.equal(rounds, 2, 'then back to the poll');
  poll.wake();
  const stopping = poll.stop();
  poll.wake();
  release!();
  await stopping;
  await sleep(20);
  assert.equal(rounds, 3);
  assert.equal(overlap, false);
});

it('polls at the interval every() gives, read again before each wait; a failing round does not stop it', async () => {
  let rounds = 0;
  let every = 10;
  const poll = new RotationPoll(async () => {
    rounds++;
    if (rounds === 2) throw new Error('the database is down');
  }, () => every);
  poll.start();
  const t0 = Date.now();
  while (rounds < 4 && Date.now() - t0 < 10_000) await sleep(5);
  assert.ok(rounds >= 4, `${rounds} rounds`);
  every = 60_000;
  await sleep(50);
  const n = rounds;
  await sleep(200);
  assert.equal(rounds, n, 'a slow poll now');
  await poll.stop();
});
