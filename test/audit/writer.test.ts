// AuditLog's writer on its own: flush() waits for the events recorded before it and not
// for later ones (so a query on a busy server answers), close() writes everything queued,
// and the log continues an existing file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, readAudit } from '../../src/audit/audit-log.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import { auditFileText } from '../helpers/audit-file.js';

const event = (requestId: string): AuditEvent => ({
  eventName: 'GenerateRandom',
  caller: { principal: { kind: 'root', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:root' } as never, requestId },
  requestParameters: { numberOfBytes: 8 },
  resources: [],
});

async function lines(dir: string): Promise<string[]> {
  return (await auditFileText(join(dir, 'audit', 'kms.log'))).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { requestID: string }).requestID);
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

const zerosOnly = (b: Buffer) => b.every((x) => x === 0);

const PREALLOCATE = { preallocateBytes: 1024 * 1024 };

test('by default kms.log holds whole lines only (no zero tail a log shipper would read)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-writer-'));
  try {
    const log = await AuditLog.open(dir, 'us-east-1');
    await Promise.all([log.record(event('a')), log.record(event('b'))]);
    const raw = await readFile(join(dir, 'audit', 'kms.log'));
    assert.equal(raw.at(-1), 0x0a, 'ends at the last event');
    assert.ok(!raw.includes(0), 'no zero bytes');
    await log.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('with preallocation on, the live file is filled with zero bytes after its last event; close() cuts them off', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-writer-'));
  try {
    const path = join(dir, 'audit', 'kms.log');
    const log = await AuditLog.open(dir, 'us-east-1', PREALLOCATE);
    await Promise.all([log.record(event('a')), log.record(event('b'))]);
    const raw = await readFile(path);
    const end = raw.lastIndexOf(0x0a) + 1;
    assert.ok(raw.length >= end + 512 * 1024, `preallocated: ${raw.length} bytes for ${end} of events`);
    assert.ok(zerosOnly(raw.subarray(end)), 'the tail is zero bytes');
    assert.deepEqual((await readAudit(join(dir, 'audit'))).map((e) => e.requestID), ['a', 'b'], 'readers stop at the last line');
    await log.close();
    const closed = await readFile(path);
    assert.equal(closed.length, end, 'close() drops the tail');
    assert.equal(closed.at(-1), 0x0a);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('after a crash (no close) a new writer continues at the last whole line: the zero tail and a torn line are cut', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-writer-'));
  try {
    const path = join(dir, 'audit', 'kms.log');
    const crashed = await AuditLog.open(dir, 'us-east-1', PREALLOCATE);
    for (const id of ['c1', 'c2', 'c3']) await crashed.record(event(id));
    // What a crash in the middle of a batch leaves: part of a line written over the zeros.
    const raw = await readFile(path);
    const end = raw.lastIndexOf(0x0a) + 1;
    assert.ok(raw.length > end + 100, 'preallocated');
    const h = await open(path, 'r+');
    await h.write(Buffer.from('{"eventVersion":"1.08","torn'), 0, 28, end);
    await h.close();
    assert.deepEqual((await readAudit(join(dir, 'audit'))).map((e) => e.requestID), ['c1', 'c2', 'c3'], 'readers ignore the torn line and the zeros');
    assert.deepEqual((await crashed.query({ limit: 10 })).events.map((e) => e.requestID), ['c3', 'c2', 'c1']);

    const again = await AuditLog.open(dir, 'us-east-1', PREALLOCATE);
    assert.equal((await stat(path)).size, end, 'cut back to the last whole line on open');
    await again.record(event('after-crash'));
    await again.close();
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes('torn') && !text.includes('\0'), 'no torn line, no zero bytes');
    assert.deepEqual((await readAudit(join(dir, 'audit'))).map((e) => e.requestID), ['c1', 'c2', 'c3', 'after-crash']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a line torn by a crash before the writer preallocated (an older server) does not swallow the next event', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-writer-'));
  try {
    const first = await AuditLog.open(dir, 'us-east-1');
    await first.record(event('before'));
    await first.close();
    await appendFile(join(dir, 'audit', 'kms.log'), '{"eventVersion":"1.08","eventTi');
    const again = await AuditLog.open(dir, 'us-east-1');
    await again.record(event('after'));
    await again.close();
    assert.deepEqual((await readAudit(join(dir, 'audit'))).map((e) => e.requestID), ['before', 'after']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
