// The cost arithmetic of the usage report on a real usage.sqlite: the free tier per
// calendar month (used up first by the month's requests before the range), requests
// priced per request, key-months prorated hourly, bucket-key savings as the cost
// difference, price overrides from the environment (validated, with hints), and the
// switches that turn metering and metrics off.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { HOUR_MS, type UsageCount, type UsageStore } from '../../src/metering/usage-store.js';
import { SqliteUsageStore } from '../../src/metering/sqlite-usage-store.js';
import { usageReport, parseUsageQuery, UsageQueryError } from '../../src/metering/report.js';
import { AWS_LIST_PRICES } from '../../src/metering/prices.js';
import { keyUnits } from '../../src/metering/meter.js';
import { ConfigError, loadMeteringConfig } from '../../src/config/config.js';
import { startTestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function store(): Promise<UsageStore> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-cost-'));
  dirs.push(dir);
  return SqliteUsageStore.open(join(dir, 'usage.sqlite'));
}

const at = (iso: string) => Date.parse(iso);
const count = (hour: string, requests: number, extra: Partial<UsageCount> = {}): UsageCount =>
  ({ hour: at(hour), principal: 'arn:aws:iam::111122223333:user/a', keyArn: 'arn:aws:kms:us-east-1:111122223333:key/k', bucket: '', operation: 'Decrypt', requests, errors: 0, avoided: 0, ...extra });

test('the free tier: requests before the range in the same month use it up first; requests are priced per request', async () => {
  const s = await store();
  await s.add([count('2026-11-01T03:00:00Z', 15_000), count('2026-11-10T05:00:00Z', 30_000, { errors: 7 })]);
  const q = parseUsageQuery({ since: '2026-11-05T00:00:00Z', until: '2026-11-20T00:00:00Z' });
  const r = await usageReport(s, q, AWS_LIST_PRICES);
  assert.equal(r.requests.total, 30_000);
  assert.equal(r.requests.errors, 7);
  assert.equal(r.requests.free, 5_000, '20,000 free a month, 15,000 used before the range');
  assert.equal(r.requests.billable, 25_000);
  assert.equal(r.requests.estimatedCost, 0.075);
  // The whole month: 45,000 requests, 20,000 free.
  const month = await usageReport(s, parseUsageQuery({ since: '2026-11-01T00:00:00Z', until: '2026-12-01T00:00:00Z' }), AWS_LIST_PRICES);
  assert.equal(month.requests.billable, 25_000);
  assert.equal(month.requests.free, 20_000);
  await s.close();
});

test('the free tier applies per calendar month across a range of two months', async () => {
  const s = await store();
  await s.add([count('2026-10-31T23:00:00Z', 21_000), count('2026-11-01T00:00:00Z', 19_000)]);
  const r = await usageReport(s, parseUsageQuery({ since: '2026-10-01T00:00:00Z', until: '2026-12-01T00:00:00Z' }), AWS_LIST_PRICES);
  assert.equal(r.requests.total, 40_000);
  assert.equal(r.requests.billable, 1_000, 'October: 1,000 past the tier; November: within it');
  assert.equal(r.requests.estimatedCost, 0.003);
});

test('key-months are key-hours / 730; rotations add a unit for the first two; a key pending deletion or AWS managed costs nothing', async () => {
  const s = await store();
  const hour0 = at('2026-11-02T00:00:00Z');
  for (let h = 0; h < 730; h++) await s.recordKeyHours(hour0 + h * HOUR_MS, [{ keyArn: 'k1', units: 1 }, { keyArn: 'k2', units: 2 }]);
  await s.recordKeyHours(hour0, [{ keyArn: 'k1', units: 1 }]); // sampled twice in one hour: counted once
  const r = await usageReport(s, parseUsageQuery({ since: '2026-11-01T00:00:00Z', until: '2026-12-31T00:00:00Z', by: 'key' }), AWS_LIST_PRICES);
  assert.equal(r.keys.keyMonths, 3);
  assert.equal(r.keys.estimatedCost, 3);
  assert.deepEqual(r.rows.map((x) => [x.group, x.keyMonths, x.estimatedCost]), [['k1', 1, 1], ['k2', 2, 2]]);
  assert.equal(r.estimatedCost, 3);
  assert.equal(keyUnits({ keyManager: 'CUSTOMER', state: 'Enabled', currentVersion: 1 }), 1);
  assert.equal(keyUnits({ keyManager: 'CUSTOMER', state: 'Disabled', currentVersion: 2 }), 2, 'disabled keys are still charged');
  assert.equal(keyUnits({ keyManager: 'CUSTOMER', state: 'Enabled', currentVersion: 9 }), 3, 'rotations past the second are free');
  assert.equal(keyUnits({ keyManager: 'CUSTOMER', state: 'PendingDeletion', currentVersion: 1 }), 0);
  assert.equal(keyUnits({ keyManager: 'AWS', state: 'Enabled', currentVersion: 3 }), 0);
});

test('bucket-key savings are what the avoided requests would have cost past the free tier; rows share the request cost', async () => {
  const s = await store();
  await s.add([count('2026-11-03T00:00:00Z', 30_000, { avoided: 10_000, bucket: 'b1' }), count('2026-11-03T00:00:00Z', 10_000, { principal: 'p2', bucket: 'b2' })]);
  const r = await usageReport(s, parseUsageQuery({ since: '2026-11-01T00:00:00Z', until: '2026-11-30T00:00:00Z', by: 'bucket' }), AWS_LIST_PRICES);
  assert.equal(r.requests.billable, 20_000);
  assert.equal(r.requests.estimatedCost, 0.06);
  assert.equal(r.bucketKeys.requestsAvoided, 10_000);
  assert.equal(r.bucketKeys.estimatedSavings, 0.03);
  assert.deepEqual(r.rows, [
    { group: 'b1', requests: 30_000, errors: 0, estimatedCost: 0.045, requestsAvoided: 10_000 },
    { group: 'b2', requests: 10_000, errors: 0, estimatedCost: 0.015, requestsAvoided: 0 },
  ]);
  assert.deepEqual(r.series, [
    { time: '2026-11-03T00:00:00.000Z', group: 'b1', requests: 30_000 },
    { time: '2026-11-03T00:00:00.000Z', group: 'b2', requests: 10_000 },
  ]);
  const overridden = await usageReport(s, parseUsageQuery({ since: '2026-11-01T00:00:00Z', until: '2026-11-30T00:00:00Z' }), { keyMonth: 2, per10kRequests: 0.05, freeRequestsPerMonth: 0 });
  assert.equal(overridden.requests.billable, 40_000);
  assert.equal(overridden.requests.estimatedCost, 0.2);
  assert.equal(overridden.bucketKeys.estimatedSavings, 0.05);
});

test('query parameters: durations, ISO dates and the defaults; a wrong one says what would be right', () => {
  const now = at('2026-11-27T12:00:00Z');
  const d = parseUsageQuery({}, now);
  assert.equal(d.since.toISOString(), '2026-10-28T12:00:00.000Z');
  assert.equal(d.until.toISOString(), '2026-11-27T12:00:00.000Z');
  assert.equal(d.by, 'key');
  assert.equal(d.granularity, 'hour');
  assert.equal(parseUsageQuery({ since: '2w', until: '1d' }, now).since.toISOString(), '2026-11-13T12:00:00.000Z');
  assert.throws(() => parseUsageQuery({ by: 'region' }, now), (e: unknown) => e instanceof UsageQueryError && /principal, key, bucket or operation|principal, key, bucket, operation/.test(e.hint));
  assert.throws(() => parseUsageQuery({ since: 'last tuesday' }, now), UsageQueryError);
  assert.throws(() => parseUsageQuery({ since: '1d', until: '2d' }, now), /since must be before until/);
});

test('prices come from COFFER_PRICE_* and COFFER_FREE_REQUESTS_PER_MONTH; bad values fail with a hint', () => {
  assert.deepEqual(loadMeteringConfig({}).prices, { keyMonth: 1, per10kRequests: 0.03, freeRequestsPerMonth: 20_000 });
  assert.deepEqual(loadMeteringConfig({ COFFER_PRICE_KEY_MONTH: '0.5', COFFER_PRICE_PER_10K_REQUESTS: '0', COFFER_FREE_REQUESTS_PER_MONTH: '100' }).prices, { keyMonth: 0.5, per10kRequests: 0, freeRequestsPerMonth: 100 });
  for (const [name, value] of [['COFFER_PRICE_KEY_MONTH', 'one dollar'], ['COFFER_PRICE_PER_10K_REQUESTS', '-1'], ['COFFER_FREE_REQUESTS_PER_MONTH', '1.5'], ['COFFER_METERING', 'maybe']] as const) {
    assert.throws(() => loadMeteringConfig({ [name]: value }), (e: unknown) => e instanceof ConfigError && e.message.includes(name) && e.message.includes(value) && Boolean(e.hint?.includes(name)), `${name}=${value}`);
  }
});

test('a server with overridden prices estimates with them; with metering and metrics off it counts nothing and /metrics is not served; metrics without metering still count KMS requests', async () => {
  const priced = await startTestServer({ COFFER_PRICE_KEY_MONTH: '730', COFFER_PRICE_PER_10K_REQUESTS: '10000', COFFER_FREE_REQUESTS_PER_MONTH: '1' });
  try {
    const key = (await priced.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    await priced.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('a') }));
    const r = (await adminCall(priced, 'GET', 'usage', { query: { since: '1h' } })).body as { prices: unknown; requests: { total: number; billable: number; estimatedCost: number }; keys: { estimatedCost: number } };
    assert.deepEqual(r.prices, { keyMonth: 730, per10kRequests: 10_000, freeRequestsPerMonth: 1 });
    assert.equal(r.requests.total, 2);
    // Requests of this month before the last hour are none on a new server: 1 free, 1 at $1 each.
    assert.equal(r.requests.billable, 1);
    assert.equal(r.requests.estimatedCost, 1);
    assert.equal(r.keys.estimatedCost, 1, 'one key for one hour at $730 a month');
  } finally {
    await priced.stop();
  }
  const off = await startTestServer({ COFFER_METERING: 'off', COFFER_METRICS: 'off' });
  try {
    const key = (await off.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    await off.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('a') }));
    assert.equal(off.coffer.meter, undefined);
    const r = (await adminCall(off, 'GET', 'usage', { query: { since: '1h' } })).body as { requests: { total: number } };
    assert.equal(r.requests.total, 0);
    const m = await fetch(`${off.url}/metrics`);
    assert.notEqual(m.status, 200);
    await m.arrayBuffer();
  } finally {
    await off.stop();
  }
  const unmetered = await startTestServer({ COFFER_METERING: 'off' });
  try {
    const key = (await unmetered.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    await unmetered.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('a') }));
    // The state label follows the key: after DisableKey, requests count under Disabled.
    await unmetered.kms.send(new DisableKeyCommand({ KeyId: key }));
    await assert.rejects(unmetered.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('b') })), { name: 'DisabledException' });
    await unmetered.kms.send(new EnableKeyCommand({ KeyId: key }));
    await unmetered.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('c') }));
    const text = await (await fetch(`${unmetered.url}/metrics`)).text();
    assert.match(text, /^coffer_kms_requests_total\{operation="Encrypt",key_state="Enabled",via="api"\} 2$/m, 'KMS metrics without metering');
    assert.match(text, /^coffer_kms_requests_total\{operation="DisableKey",key_state="Disabled",via="api"\} 1$/m);
    assert.match(text, /^coffer_kms_requests_total\{operation="Encrypt",key_state="Disabled",via="api"\} 1$/m);
    assert.match(text, /^coffer_kms_errors_total\{operation="Encrypt",key_state="Disabled",code="DisabledException"\} 1$/m);
    assert.match(text, /^coffer_metering_pending_rows 0$/m);
  } finally {
    await unmetered.stop();
  }
});
