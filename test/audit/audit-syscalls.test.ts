// What kms.log's writer asks of the kernel, seen with strace: with fsync on and preallocation
// off (the default) a batch is one write on the O_DSYNC descriptor — no other descriptor
// opened, no separate fdatasync; with preallocation on, the zeros' own descriptor is opened
// and synced once per extent, not per batch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const AUDIT_LOG = fileURLToPath(new URL('../../src/audit/audit-log.js', import.meta.url));

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = hasStrace() ? false : process.env.CI ? false : 'needs strace';

/** Records `events` one after another (each its own batch) in a child traced by strace; the calls on kms.log. */
async function trace(events: number, preallocateBytes: number): Promise<{ opens: number; datasyncs: number; writes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-strace-'));
  try {
    const script = join(dir, 'child.mjs');
    await writeFile(script, `
      const { AuditLog } = await import(${JSON.stringify(AUDIT_LOG)});
      const log = await AuditLog.open(${JSON.stringify(dir)}, 'us-east-1', { fsync: true, preallocateBytes: ${preallocateBytes} });
      for (let i = 0; i < ${events}; i++) await log.record({ eventName: 'GenerateRandom', caller: { principal: { kind: 'root', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:root' }, requestId: 'r' + i }, requestParameters: { numberOfBytes: 8 }, resources: [] });
      await log.close();
    `);
    const out = join(dir, 'strace.txt');
    const r = spawnSync('strace', ['-f', '-qq', '-y', '-e', 'trace=openat,fdatasync,fsync,pwrite64,write', '-o', out, process.execPath, script], { stdio: 'pipe' });
    assert.equal(r.status, 0, r.stderr.toString());
    const lines = (await readFile(out, 'utf8')).split('\n');
    const kmsLog = join(dir, 'audit', 'kms.log');
    const on = (l: string): boolean => l.includes(`${kmsLog}>`) || l.includes(`"${kmsLog}"`);
    return {
      opens: lines.filter((l) => /openat\(/.test(l) && l.includes(`"${kmsLog}"`)).length,
      datasyncs: lines.filter((l) => /\b(fdatasync|fsync)\(/.test(l) && on(l)).length,
      writes: lines.filter((l) => /\b(pwrite64|write)\(/.test(l) && on(l)).length,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('preallocation off: 200 batches are 200 writes on the one descriptor, no other open, no fdatasync', { skip }, async () => {
  const t = await trace(200, 0);
  assert.equal(t.opens, 1, `kms.log opened ${t.opens} times`);
  assert.equal(t.datasyncs, 0, `${t.datasyncs} fdatasync/fsync calls on kms.log`);
  assert.ok(t.writes >= 200 && t.writes <= 202, `${t.writes} writes`);
});

test('preallocation on (64 KiB): the zeros are written and synced once per extent, not per batch', { skip }, async () => {
  // 200 events of ~700 bytes: ~140 KiB, so two or three extents of 64 KiB.
  const t = await trace(200, 64 * 1024);
  assert.ok(t.opens >= 2 && t.opens <= 5, `kms.log opened ${t.opens} times (once, then once per extent)`);
  assert.equal(t.datasyncs, t.opens - 1, 'one fdatasync per extent, on its own descriptor');
});
