// AuditLog's writer on its own: flush() waits for the events recorded before it and not
// for later ones (so a query on a busy server answers), close() writes everything queued,
// and the log continues an existing file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../src/audit/audit-log.js';
import type { AuditEvent } from '../../src/audit/sink.js';

const event = (requestId: string): AuditEvent => ({
  eventName: 'GenerateRandom',
  caller: { principal: { kind: 'root', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:root' } as never, requestId },
  requestParameters: { numberOfBytes: 8 },
  resources: [],
});

async function lines(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'audit', 'kms.log'), 'utf8')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { requestID: string }).requestID);
}

test('flush() resolves under a steady stream of new events, with the earlier ones on disk', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-writer-'));
  try {
    const log = await AuditLog.open(dir, 'us-east-1');
    let n = 0;
    let running = true;
    const feed = (): void => {
      if (!running) return;
      for (let i = 0; i < 50; i++) log.record(event(`r${n++}`));
      setImmediate(feed);
    };
    feed();
    await new Promise((r) => setTimeout(r, 50));
    const before = n;
    const t0 = Date.now();
    await log.flush();
    const waited = Date.now() - t0;
    const onDisk = await lines(dir);
    running = false;
    // The property is that flush() returns while events keep coming (a writer that waited
    // for the queue to drain would never return), not its speed: 5 s leaves room for a loaded CI machine.
    assert.ok(waited < 5000, `flush waited ${waited} ms`);
    assert.ok(onDisk.length >= before, `${onDisk.length} of the ${before} events recorded before flush are on disk`);
    assert.deepEqual(onDisk, Array.from({ length: onDisk.length }, (_, i) => `r${i}`), 'in order');
    await log.close();
    assert.deepEqual(await lines(dir), Array.from({ length: n }, (_, i) => `r${i}`), 'close() writes everything queued');

    const again = await AuditLog.open(dir, 'us-east-1');
    again.record(event('after-restart'));
    await again.close();
    assert.equal((await lines(dir)).at(-1), 'after-restart');
    assert.equal((await lines(dir)).length, n + 1, 'appended to the existing file');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
