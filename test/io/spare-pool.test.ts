// The pool of buffers kept between requests (io/spare-pool.ts): never more than its bound
// after any number of concurrent users gave theirs back; a steady user keeps what it reuses;
// what nobody took for a sweep interval is dropped, by the sweep and by its own timer, which
// stops once the pool is empty.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SparePool } from '../../src/io/spare-pool.js';

describe('spare pool', () => {
  it('holds at most its bound after 40 concurrent users gave their buffers back', () => {
    const pool = new SparePool<Buffer>(16);
    const taken = Array.from({ length: 40 }, () => pool.take() ?? Buffer.alloc(8));
    const kept = taken.map((b) => pool.give(b));
    assert.equal(pool.size, 16);
    assert.equal(kept.filter(Boolean).length, 16, 'give() says which it did not keep');
    pool.clear();
  });

  it('a sweep drops what no take() reached since the last one; a steady user keeps its own', () => {
    const pool = new SparePool<Buffer>(16);
    for (let i = 0; i < 16; i++) pool.give(Buffer.alloc(8));
    pool.sweep();
    assert.equal(pool.size, 16, 'given during this interval: not yet idle for a whole one');
    // A steady load of two at a time, several rounds within one interval.
    for (let round = 0; round < 5; round++) {
      const a = pool.take()!;
      const b = pool.take()!;
      pool.give(b);
      pool.give(a);
    }
    pool.sweep();
    assert.equal(pool.size, 2, 'the two the load reused are kept');
    pool.sweep();
    assert.equal(pool.size, 0, 'then idle: given back');
  });

  it('its own timer gives back idle buffers and stops when the pool is empty', async () => {
    const pool = new SparePool<Buffer>(16, 20);
    for (let i = 0; i < 8; i++) pool.give(Buffer.alloc(8));
    await sleep(150);
    assert.equal(pool.size, 0);
    assert.equal(pool.take(), undefined);
  });
});
