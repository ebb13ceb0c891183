// InFlightRequests: settled() waits for the requests begun before it, and only those.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlightRequests } from '../../src/http/in-flight.js';

const state = async (p: Promise<void>) => Promise.race([p.then(() => 'settled'), new Promise((r) => setImmediate(() => r('pending')))]);

describe('InFlightRequests', () => {
  it('settles at once with nothing in flight', async () => {
    assert.equal(await state(new InFlightRequests().settled()), 'settled');
  });

  it('waits for every request begun before, not for one begun after', async () => {
    const f = new InFlightRequests();
    const a = f.begin();
    const b = f.begin();
    const waiting = f.settled();
    const later = f.begin();
    assert.equal(f.count, 3);
    a();
    a(); // a second call changes nothing
    assert.equal(await state(waiting), 'pending');
    b();
    assert.equal(await state(waiting), 'settled');
    assert.equal(f.count, 1);
    // A second barrier waits for the later request.
    const second = f.settled();
    assert.equal(await state(second), 'pending');
    later();
    assert.equal(await state(second), 'settled');
  });
});
