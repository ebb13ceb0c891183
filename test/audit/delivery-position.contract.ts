// The DeliveryPositionStore contract (src/audit/delivery-position.ts): the file store
// (delivery.json) and the PostgreSQL store (an audit_delivery row) run this suite through
// runDeliveryPositionContract from test/audit/delivery-position.test.ts. It pins what both
// deliveries rely on: no position until one is recorded; a position changes only from the
// one its writer read (one of two racing writers wins, the other changes nothing); and what
// replace() resolved is there for a store opened again (a restart, another node).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryPositionStore } from '../../src/audit/delivery-position.js';

export interface DeliveryPositionContractOptions<P> {
  /** A new store with no position, and what closes it. */
  make(): Promise<{ store: DeliveryPositionStore<P>; reopen(): Promise<DeliveryPositionStore<P>>; close(): Promise<void> }>;
  /** Three positions, each one further than the one before. */
  positions: readonly [P, P, P];
}

export function runDeliveryPositionContract<P>(name: string, o: DeliveryPositionContractOptions<P>): void {
  const [a, b, c] = o.positions;
  const withStore = (fn: (s: DeliveryPositionStore<P>, reopen: () => Promise<DeliveryPositionStore<P>>) => Promise<void>) => async () => {
    const { store, reopen, close } = await o.make();
    try {
      await fn(store, reopen);
    } finally {
      await close();
    }
  };

  describe(`DeliveryPositionStore contract: ${name}`, () => {
    it('has no position until one is recorded; only the first of two first records is made', withStore(async (s) => {
      assert.equal(await s.get(), undefined);
      assert.equal(await s.replace(undefined, a), true);
      assert.deepEqual(await s.get(), a);
      assert.equal(await s.replace(undefined, b), false, 'a position exists: "none" is no longer what it is');
      assert.deepEqual(await s.get(), a);
    }));

    it('replaces only the position it is given (compare-and-swap)', withStore(async (s) => {
      assert.equal(await s.replace(undefined, a), true);
      assert.equal(await s.replace(a, b), true);
      assert.deepEqual(await s.get(), b);
      assert.equal(await s.replace(a, c), false, 'a writer that read a stale position changes nothing');
      assert.deepEqual(await s.get(), b);
      assert.equal(await s.replace(b, c), true);
      assert.deepEqual(await s.get(), c);
    }));

    it('of two writers racing from one position, exactly one wins', withStore(async (s) => {
      assert.equal(await s.replace(undefined, a), true);
      const won = await Promise.all([s.replace(a, b), s.replace(a, c)]);
      assert.deepEqual(won.filter(Boolean).length, 1, JSON.stringify(won));
      assert.deepEqual(await s.get(), won[0] ? b : c);
    }));

    it('what replace resolved is read by the store opened again', withStore(async (s, reopen) => {
      assert.equal(await s.replace(undefined, a), true);
      assert.equal(await s.replace(a, b), true);
      const again = await reopen();
      assert.deepEqual(await again.get(), b);
      assert.equal(await again.replace(b, c), true);
      assert.deepEqual(await s.get(), c);
    }));
  });
}
