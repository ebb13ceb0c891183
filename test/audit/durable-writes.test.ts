// kms.log's writes are durable when they return: with fsync on the file is open with O_DSYNC
// (a write and an fdatasync in one trip to the libuv pool), read from the kernel's view of
// the descriptor (/proc/self/fdinfo), also after a rotation reopens it; with fsync off it is
// not (a record then survives a crash of the process, not of the machine, as documented).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, readAudit } from '../../src/audit/audit-log.js';
import type { AuditEvent } from '../../src/audit/sink.js';

const event = (requestId: string): AuditEvent => ({
  eventName: 'GenerateRandom',
  caller: { principal: { kind: 'root', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:root' } as never, requestId },
  requestParameters: { numberOfBytes: 8 },
  resources: [],
});

/** The open flags of this process's descriptors of `path`, as the kernel holds them. */
async function flagsOf(path: string): Promise<number[]> {
  const out: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    const m = /^flags:\s+([0-7]+)$/m.exec(info);
    if (m) out.push(parseInt(m[1]!, 8));
  }
  return out;
}

for (const fsync of [true, false]) {
  test(`kms.log with fsync ${fsync ? 'on is written with O_DSYNC' : 'off is written without O_DSYNC'}, before and after a rotation`, { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-dsync-'));
    try {
      const log = await AuditLog.open(dir, 'us-east-1', { fsync, maxFileBytes: 4096 });
      const path = join(dir, 'audit', 'kms.log');
      let n = 0;
      const check = async (when: string): Promise<void> => {
        const flags = await flagsOf(path);
        assert.equal(flags.length, 1, `${when}: one descriptor of kms.log`);
        assert.equal((flags[0]! & constants.O_DSYNC) === constants.O_DSYNC, fsync, `${when}: O_DSYNC ${fsync ? 'set' : 'not set'}`);
      };
      await check('opened');
      await log.record(event(`r${n++}`));
      await check('after a write');
      // Past 4 KiB: rotated, kms.log opened again.
      while ((await readdir(join(dir, 'audit'))).every((f) => f !== 'kms.log.1')) await log.record(event(`r${n++}`));
      await log.record(event(`r${n++}`));
      await check('after a rotation');
      await log.close();
      assert.equal((await readAudit(join(dir, 'audit'))).length, n, 'every event recorded');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
