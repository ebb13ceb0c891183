// The UsageStore contract: every implementation (SQLite now, PostgreSQL later) runs this
// suite through runUsageStoreContract from its own *.test.ts file. The numbers are what
// the usage report (report.ts) builds on: counts merged per hour and group, half-open
// time ranges, key-hours that a second sample of the same hour does not double.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOUR_MS, type UsageCount, type UsageStore } from '../../src/metering/usage-store.js';
import { scoped } from '../helpers/store-files.js';

export interface UsageStoreContractOptions {
  /** Closes `store` and opens the same database again, as a restarted server would. */
  reopen?: (store: UsageStore) => Promise<UsageStore>;
  /** A second store on `store`'s database, open beside it, as another node (or process) would. */
  twin?: (store: UsageStore) => Promise<UsageStore>;
}

const H0 = Date.UTC(2026, 10, 2, 0);
const DAY_MS = 24 * HOUR_MS;
const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::111122223333:user/bob';
const K1 = 'arn:aws:kms:us-east-1:111122223333:key/k1';
const K2 = 'arn:aws:kms:us-east-1:111122223333:key/k2';

export function usageCount(over: Partial<UsageCount> = {}): UsageCount {
  return { hour: H0, principal: ALICE, keyArn: K1, bucket: 'b1', operation: 'Decrypt', requests: 1, errors: 0, avoided: 0, ...over };
}

const ZERO = { requests: 0, errors: 0, avoided: 0 };

export function runUsageStoreContract(name: string, make: () => Promise<UsageStore>, opts: UsageStoreContractOptions = {}): void {
  const withStore = scoped(make);

  describe(`UsageStore contract: ${name}`, () => {
    it('keeps price classes apart (absent means symmetric) and totals requests per class and per group and class', withStore(async (s) => {
      await s.add([
        usageCount({ requests: 3 }),
        usageCount({ requests: 2, priceClass: 'symmetric', avoided: 1 }),
        usageCount({ operation: 'GenerateDataKeyPair', requests: 4, priceClass: 'rsa-key-pair' }),
        usageCount({ operation: 'GenerateDataKeyPair', requests: 5, priceClass: 'ecc-key-pair' }),
        usageCount({ operation: 'Sign', keyArn: K2, principal: BOB, requests: 6, priceClass: 'asymmetric' }),
      ]);
      assert.deepEqual(await s.classTotals(H0, H0 + HOUR_MS), [
        { group: '', priceClass: 'asymmetric', requests: 6, avoided: 0 },
        { group: '', priceClass: 'ecc-key-pair', requests: 5, avoided: 0 },
        { group: '', priceClass: 'rsa-key-pair', requests: 4, avoided: 0 },
        { group: '', priceClass: 'symmetric', requests: 5, avoided: 1 },
      ]);
      assert.deepEqual(await s.classTotalsBy('principal', H0, H0 + HOUR_MS), [
        { group: ALICE, priceClass: 'ecc-key-pair', requests: 5, avoided: 0 },
        { group: ALICE, priceClass: 'rsa-key-pair', requests: 4, avoided: 0 },
        { group: ALICE, priceClass: 'symmetric', requests: 5, avoided: 1 },
        { group: BOB, priceClass: 'asymmetric', requests: 6, avoided: 0 },
      ]);
      assert.deepEqual(await s.classTotals(H0 + HOUR_MS, H0 + 2 * HOUR_MS), []);
      assert.deepEqual(await s.totals(H0, H0 + HOUR_MS), { requests: 20, errors: 0, avoided: 1 });
    }));

    it('add merges counts of the same hour, principal, key, bucket and operation, also within one call', withStore(async (s) => {
      await s.add([usageCount({ requests: 3, errors: 1 }), usageCount({ requests: 2, avoided: 4 })]);
      await s.add([usageCount({ requests: 5, errors: 2 })]);
      await s.add([]);
      assert.deepEqual(await s.totals(H0, H0 + HOUR_MS), { requests: 10, errors: 3, avoided: 4 });
      assert.deepEqual(await s.totalsBy('operation', H0, H0 + HOUR_MS), [{ group: 'Decrypt', requests: 10, errors: 3, avoided: 4 }]);
    }));

    it('keeps groups that differ in any one dimension apart', withStore(async (s) => {
      const base = usageCount({ requests: 1 });
      await s.add([
        base,
        { ...base, hour: H0 + HOUR_MS, requests: 2 },
        { ...base, principal: BOB, requests: 4 },
        { ...base, keyArn: K2, requests: 8 },
        { ...base, bucket: '', requests: 16 },
        { ...base, operation: 'GenerateDataKey', requests: 32 },
      ]);
      assert.deepEqual(await s.totals(H0, H0 + HOUR_MS), { requests: 61, errors: 0, avoided: 0 });
      assert.deepEqual(await s.totalsBy('principal', H0, H0 + HOUR_MS), [
        { group: ALICE, requests: 57, errors: 0, avoided: 0 },
        { group: BOB, requests: 4, errors: 0, avoided: 0 },
      ]);
      assert.deepEqual((await s.totalsBy('key', H0, H0 + 2 * HOUR_MS)).map((g) => [g.group, g.requests]), [[K1, 55], [K2, 8]]);
      assert.deepEqual((await s.totalsBy('bucket', H0, H0 + 2 * HOUR_MS)).map((g) => [g.group, g.requests]), [['b1', 47], ['', 16]]);
      assert.deepEqual((await s.totalsBy('operation', H0, H0 + 2 * HOUR_MS)).map((g) => [g.group, g.requests]), [['GenerateDataKey', 32], ['Decrypt', 31]]);
    }));

    it('ranges are half-open [from, to) over hours, and an empty range totals zeros', withStore(async (s) => {
      await s.add([usageCount({ hour: H0, requests: 1 }), usageCount({ hour: H0 + HOUR_MS, requests: 2 }), usageCount({ hour: H0 + 2 * HOUR_MS, requests: 4 })]);
      assert.deepEqual(await s.totals(H0, H0 + 2 * HOUR_MS), { requests: 3, errors: 0, avoided: 0 });
      assert.deepEqual(await s.totals(H0 + HOUR_MS, H0 + HOUR_MS + 1), { requests: 2, errors: 0, avoided: 0 });
      assert.deepEqual(await s.totals(H0 + 3 * HOUR_MS, H0 + 9 * HOUR_MS), ZERO);
      assert.deepEqual(await s.totalsBy('key', H0 + 3 * HOUR_MS, H0 + 9 * HOUR_MS), []);
    }));

    it('totalsBy orders by requests, most first, then by group', withStore(async (s) => {
      await s.add([
        usageCount({ principal: 'c', requests: 5 }),
        usageCount({ principal: 'a', requests: 5 }),
        usageCount({ principal: 'b', requests: 9, errors: 9 }),
        usageCount({ principal: 'd', requests: 0, avoided: 7 }),
      ]);
      assert.deepEqual(await s.totalsBy('principal', H0, H0 + HOUR_MS), [
        { group: 'b', requests: 9, errors: 9, avoided: 0 },
        { group: 'a', requests: 5, errors: 0, avoided: 0 },
        { group: 'c', requests: 5, errors: 0, avoided: 0 },
        { group: 'd', requests: 0, errors: 0, avoided: 7 },
      ]);
    }));

    it('series sums requests per time bucket and group, ordered by time then group, leaving out groups without requests', withStore(async (s) => {
      await s.add([
        usageCount({ hour: H0, principal: BOB, requests: 1 }),
        usageCount({ hour: H0, principal: ALICE, requests: 2 }),
        usageCount({ hour: H0 + 5 * HOUR_MS, principal: ALICE, requests: 4 }),
        usageCount({ hour: H0 + DAY_MS, principal: ALICE, requests: 8 }),
        usageCount({ hour: H0 + DAY_MS, principal: 'only-avoided', requests: 0, avoided: 3 }),
      ]);
      assert.deepEqual(await s.series('principal', H0, H0 + 2 * DAY_MS, HOUR_MS), [
        { time: H0, group: ALICE, requests: 2 },
        { time: H0, group: BOB, requests: 1 },
        { time: H0 + 5 * HOUR_MS, group: ALICE, requests: 4 },
        { time: H0 + DAY_MS, group: ALICE, requests: 8 },
      ]);
      assert.deepEqual(await s.series('principal', H0, H0 + 2 * DAY_MS, DAY_MS), [
        { time: H0, group: ALICE, requests: 6 },
        { time: H0, group: BOB, requests: 1 },
        { time: H0 + DAY_MS, group: ALICE, requests: 8 },
      ]);
      assert.deepEqual(await s.series('principal', H0 + HOUR_MS, H0 + DAY_MS, HOUR_MS), [{ time: H0 + 5 * HOUR_MS, group: ALICE, requests: 4 }]);
    }));

    it('key-hours: one sample per key and hour, a second sample keeps the larger count; summed per key over [from, to), by ARN', withStore(async (s) => {
      await s.recordKeyHours(H0, [{ keyArn: K2, units: 1 }, { keyArn: K1, units: 2 }]);
      await s.recordKeyHours(H0, [{ keyArn: K2, units: 3 }, { keyArn: K1, units: 1 }]);
      await s.recordKeyHours(H0 + HOUR_MS, [{ keyArn: K1, units: 1 }]);
      await s.recordKeyHours(H0 + 2 * HOUR_MS, []);
      assert.deepEqual(await s.keyHoursBy(H0, H0 + 2 * HOUR_MS), [{ keyArn: K1, units: 3 }, { keyArn: K2, units: 3 }]);
      assert.deepEqual(await s.keyHoursBy(H0 + HOUR_MS, H0 + 2 * HOUR_MS), [{ keyArn: K1, units: 1 }]);
      assert.deepEqual(await s.keyHoursBy(H0 + 2 * HOUR_MS, H0 + 9 * HOUR_MS), []);
    }));

    if (opts.twin) {
      const twin = opts.twin;
      it('two stores adding to the same rows at once lose no count; key-hours sampled by both keep the larger', withStore(async (s) => {
        const t = await twin(s);
        try {
          // Each flush touches the same rows, in opposite orders from the two stores.
          const rows = [usageCount({ principal: ALICE }), usageCount({ principal: BOB }), usageCount({ keyArn: K2 })];
          const flushes: Promise<void>[] = [];
          for (let i = 0; i < 10; i++) {
            flushes.push(s.add(rows), t.add([...rows].reverse()));
            flushes.push(s.recordKeyHours(H0, [{ keyArn: K1, units: i % 3 }, { keyArn: K2, units: 1 }]));
            flushes.push(t.recordKeyHours(H0, [{ keyArn: K2, units: 2 }, { keyArn: K1, units: 1 }]));
          }
          await Promise.all(flushes);
          assert.deepEqual(await s.totals(H0, H0 + HOUR_MS), { requests: 60, errors: 0, avoided: 0 });
          assert.deepEqual(await t.totalsBy('principal', H0, H0 + HOUR_MS), [
            { group: ALICE, requests: 40, errors: 0, avoided: 0 },
            { group: BOB, requests: 20, errors: 0, avoided: 0 },
          ]);
          assert.deepEqual(await t.keyHoursBy(H0, H0 + HOUR_MS), [{ keyArn: K1, units: 2 }, { keyArn: K2, units: 2 }]);
        } finally {
          await t.close();
        }
      }));
    }

    if (opts.reopen) {
      const reopen = opts.reopen;
      it('counts and key-hours survive a close and reopen, and later counts add to them', withStore(async (s0) => {
        await s0.add([usageCount({ requests: 2, errors: 1, avoided: 1 })]);
        await s0.recordKeyHours(H0, [{ keyArn: K1, units: 2 }]);
        const s = await reopen(s0);
        await s.add([usageCount({ requests: 1 })]);
        assert.deepEqual(await s.totals(H0, H0 + HOUR_MS), { requests: 3, errors: 1, avoided: 1 });
        assert.deepEqual(await s.keyHoursBy(H0, H0 + HOUR_MS), [{ keyArn: K1, units: 2 }]);
        return s;
      }));
    }
  });
}
