// Issue 17: on a terminal the server's log is one readable line per record (no
// pino-pretty); elsewhere it stays JSON.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PassThrough } from 'node:stream';
import { createLogger, readableLine } from '../../src/logger.js';

it('readableLine: time, level, message, then the fields as key=value', () => {
  const line = readableLine(JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 2, 3, 4, 5, 678), pid: 1, hostname: 'h', msg: 'request', operation: 'PutObject', key: 'a b', status: 200 }));
  assert.equal(line, '03:04:05.678 INFO  request operation=PutObject key="a b" status=200\n');
});

it('createLogger writes readable lines to a terminal and JSON elsewhere', async () => {
  const read = async (tty: boolean) => {
    const out = Object.assign(new PassThrough(), { isTTY: tty });
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const log = createLogger({ level: 'info', out });
    log.warn({ bucket: 'b' }, 'hello');
    log.debug('hidden at info');
    await new Promise((r) => setImmediate(r));
    return text;
  };
  assert.match(await read(true), /^\d\d:\d\d:\d\d\.\d{3} WARN  hello bucket=b\n$/);
  const json = JSON.parse(await read(false)) as Record<string, unknown>;
  assert.equal(json.msg, 'hello');
  assert.equal(json.level, 40);
});
