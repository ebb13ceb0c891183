// Reading audit files backwards and forwards in 64 KiB chunks: every complete line once,
// in order, with its byte offsets, whatever the chunk boundaries; the incomplete line
// after the last newline (a write in progress, or torn by a crash) is never returned.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filesNewestFirst, linesBackward, linesForward, type Line } from '../../src/audit/log-files.js';

async function withFile(content: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-audit-files-'));
  try {
    await writeFile(join(dir, 'kms.log'), content);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function collect(dir: string, read: (f: Parameters<typeof linesBackward>[0]) => AsyncGenerator<Line>): Promise<Line[]> {
  const out: Line[] = [];
  for await (const f of filesNewestFirst(dir)) for await (const l of read(f)) out.push(l);
  return out;
}

// Line lengths chosen so lines straddle the 64 KiB chunk boundaries, one line longer than a chunk.
const lines = Array.from({ length: 400 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat((i * 7919) % 3000)}"}`);
lines.splice(123, 0, `{"n":"big","pad":"${'y'.repeat(200_000)}"}`);
const whole = lines.join('\n') + '\n';

test('backwards: every line once, newest first, offsets pointing at the line', async () => {
  await withFile(whole + '{"torn', async (dir) => {
    const back = await collect(dir, (f) => linesBackward(f));
    assert.deepEqual(back.map((l) => l.text), [...lines].reverse());
    for (const l of back) assert.equal(whole.slice(l.start, l.end), l.text + '\n');
  });
});

test('backwards from an offset: only the lines before it', async () => {
  await withFile(whole, async (dir) => {
    const all = await collect(dir, (f) => linesBackward(f));
    const mid = all[150]!;
    const rest = await collect(dir, (f) => linesBackward(f, mid.start));
    assert.deepEqual(rest.map((l) => l.text), all.slice(151).map((l) => l.text));
  });
});

test('forwards from an offset, and the torn tail is skipped', async () => {
  await withFile(whole + '{"torn', async (dir) => {
    const fwd = await collect(dir, (f) => linesForward(f));
    assert.deepEqual(fwd.map((l) => l.text), lines);
    const from = await collect(dir, (f) => linesForward(f, fwd[200]!.end));
    assert.deepEqual(from.map((l) => l.text), lines.slice(201));
  });
});

test('a file without any newline has no complete line', async () => {
  await withFile('{"partial":', async (dir) => {
    assert.deepEqual(await collect(dir, (f) => linesBackward(f)), []);
    assert.deepEqual(await collect(dir, (f) => linesForward(f)), []);
  });
});

test('a preallocated tail of zero bytes (over 1 MiB) after a torn line: every line once, offsets unchanged', async () => {
  await withFile(whole + '{"torn' + '\0'.repeat(1024 * 1024 + 4321), async (dir) => {
    const back = await collect(dir, (f) => linesBackward(f));
    assert.deepEqual(back.map((l) => l.text), [...lines].reverse());
    const fwd = await collect(dir, (f) => linesForward(f));
    assert.deepEqual(fwd.map((l) => l.text), lines);
    for (const l of fwd) assert.equal(whole.slice(l.start, l.end), l.text + '\n');
    for await (const f of filesNewestFirst(dir)) assert.equal(f.size, Buffer.byteLength(whole), 'size: the complete lines');
  });
});
