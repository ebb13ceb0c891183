// The meter counts KMS requests only: IAM and STS management events pass through it to
// the audit log (one sink chain for every service) without being counted. Unit test of
// the Meter with a real usage.sqlite.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Meter } from '../../src/metering/meter.js';
import { HOUR_MS } from '../../src/metering/usage-store.js';
import { SqliteUsageStore } from '../../src/metering/sqlite-usage-store.js';
import type { AuditEvent, AuditSink } from '../../src/audit/sink.js';
import type { KmsStore } from '../../src/kms/store/types.js';

const KEY = 'arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555';
const caller = { principal: { kind: 'root' as const, arn: 'arn:aws:iam::000000000000:root', accountId: '000000000000', userName: 'root' }, requestId: 'r' };

test('IAM and STS events reach the next sink but are not counted as KMS requests', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-meter-iam-'));
  const store = SqliteUsageStore.open(join(dir, 'usage.sqlite'));
  const forwarded: string[] = [];
  const next: AuditSink = { record: async (e) => void forwarded.push(e.eventName), checkWritable() {} };
  const now = Date.UTC(2026, 11, 6, 10, 30);
  const meter = new Meter({ store, next, keys: { listKeys: async () => [], getKey: async () => undefined } as unknown as KmsStore, now: () => now });
  try {
    const events: AuditEvent[] = [
      { eventName: 'CreateUser', eventSource: 'iam.amazonaws.com', caller, requestParameters: { userName: 'a' }, resources: [] },
      { eventName: 'PutUserPolicy', eventSource: 'iam.amazonaws.com', caller, requestParameters: {}, resources: [], errorCode: 'AccessDenied' },
      { eventName: 'AssumeRole', eventSource: 'sts.amazonaws.com', caller, requestParameters: {}, resources: [] },
      { eventName: 'Decrypt', caller, requestParameters: {}, resources: [{ ARN: KEY, accountId: '000000000000', type: 'AWS::KMS::Key' }] },
    ];
    for (const e of events) await meter.record(e);
    await meter.flush();
    assert.deepEqual(forwarded, ['CreateUser', 'PutUserPolicy', 'AssumeRole', 'Decrypt'], 'every event goes on to the audit log');
    const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
    assert.deepEqual(await store.totals(hour, hour + HOUR_MS), { requests: 1, errors: 0, avoided: 0 }, 'only the KMS Decrypt is counted');
  } finally {
    await meter.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
