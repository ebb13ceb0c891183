// A flush that fails keeps its counts for the next attempt, each under the hour it was
// counted in — also when the retry comes after the UTC hour has turned (a count re-added
// under the retry's hour would move requests into the wrong hour, and the wrong month at
// a month boundary). Unit test of the Meter with an injected clock and a real
// usage.sqlite whose first write fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Meter } from '../../src/metering/meter.js';
import { HOUR_MS, type UsageCount, type UsageStore } from '../../src/metering/usage-store.js';
import { SqliteUsageStore } from '../../src/metering/sqlite-usage-store.js';
import { DISCARD_AUDIT, type AuditEvent } from '../../src/audit/sink.js';
import type { KmsStore } from '../../src/kms/store/types.js';

const KEY = 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555';

function event(eventName: string): AuditEvent {
  return {
    eventName,
    caller: { principal: { kind: 'root', arn: 'arn:aws:iam::000000000000:root', accountId: '000000000000', userName: 'root' }, requestId: 'r' },
    requestParameters: {},
    resources: [{ ARN: KEY, accountId: '000000000000', type: 'AWS::KMS::Key' }],
  };
}

test('counts kept after a failed flush are written under their own hour, not the retry\'s', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-meter-flush-'));
  const store = SqliteUsageStore.open(join(dir, 'usage.sqlite'));
  const errors: string[] = [];
  let failNext = true;
  // The real store, refusing its first write (as SQLITE_BUSY would).
  const failingOnce = Object.assign(Object.create(store) as UsageStore, {
    async add(rows: UsageCount[]): Promise<void> {
      if (failNext) {
        failNext = false;
        throw new Error('database is locked');
      }
      await store.add(rows);
    },
  });
  const hour = Date.UTC(2026, 10, 30, 23); // the last hour of November
  let now = hour + HOUR_MS - 1000;
  const keys = { listKeys: async () => [], getKey: async () => undefined } as unknown as KmsStore;
  const meter = new Meter({ store: failingOnce, next: DISCARD_AUDIT, keys, now: () => now, onError: (_err, what) => errors.push(what) });
  try {
    meter.record(event('Decrypt'));
    meter.record(event('Decrypt'));
    now = hour + HOUR_MS + 1000; // the next hour (and month) has begun before the flush
    await meter.flush();
    assert.deepEqual(errors, ['writing usage counts'], 'the first write failed');
    assert.equal(meter.pendingRows, 1, 'the counts are kept');

    meter.record(event('Decrypt'));
    await meter.flush();
    assert.equal(meter.pendingRows, 0);

    assert.deepEqual(await store.totals(hour, hour + HOUR_MS), { requests: 2, errors: 0, avoided: 0 }, 'the failed hour keeps its requests');
    assert.deepEqual(await store.totals(hour + HOUR_MS, hour + 2 * HOUR_MS), { requests: 1, errors: 0, avoided: 0 }, 'the new hour has only its own');
  } finally {
    await meter.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a flush looks a new key\'s spec up once, however many of its counts it prices', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-meter-spec-'));
  const store = SqliteUsageStore.open(join(dir, 'usage.sqlite'));
  const looked: string[] = [];
  const keys = {
    listKeys: async () => [],
    getKey: async (id: string) => {
      looked.push(id);
      await new Promise((r) => setTimeout(r, 5)); // a store that answers later, as PostgreSQL does
      return { keySpec: 'SYMMETRIC_DEFAULT' };
    },
  } as unknown as KmsStore;
  const meter = new Meter({ store, next: DISCARD_AUDIT, keys, now: () => Date.UTC(2026, 11, 7, 12) });
  try {
    // Four rows of the key (two operations by two principals), priced in one flush.
    for (const name of ['Decrypt', 'Encrypt']) {
      meter.record(event(name));
      const other = event(name);
      other.caller = { ...other.caller, principal: { ...other.caller.principal, arn: 'arn:aws:iam::000000000000:user/u', kind: 'user', userName: 'u' } };
      meter.record(other);
    }
    assert.equal(meter.pendingRows, 4);
    await meter.flush();
    assert.deepEqual(looked, ['11111111-2222-3333-4444-555555555555'], 'one lookup for the key');
    meter.record(event('Decrypt'));
    await meter.flush();
    assert.equal(looked.length, 1, 'and none once its spec is known');
  } finally {
    await meter.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
