// Direct reads of blob files (src/io/direct-read.ts, src/io/aligned-slots.ts): the bytes asked
// for at any offset and length, through an O_DIRECT descriptor where the filesystem takes one,
// into an aligned slot or into a buffer of any address; a file that ends before the range is
// an error, never short data.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openForRead, rangeReadBuffer, readRange } from '../../src/io/direct-read.js';
import { giveSlot, isSlot, takeSlot } from '../../src/io/aligned-slots.js';

const MiB = 1024 * 1024;
let dir: string;
let file: string;
const body = randomBytes(3 * MiB + 1234);

before(async () => {
  // Under the working directory, not /tmp: a tmpfs refuses O_DIRECT.
  dir = await mkdtemp(join(process.cwd(), '.direct-read-test-'));
  file = join(dir, 'blob');
  await writeFile(file, body);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function open(direct: boolean): Promise<{ fd: number; direct: boolean }> {
  return new Promise((resolve, reject) => openForRead(file, direct, (err, fd, d) => (err ? reject(err) : resolve({ fd, direct: d }))));
}

function read(fd: number, direct: boolean, buf: Buffer, at: number, len: number): Promise<Buffer> {
  return new Promise((resolve, reject) => readRange(fd, direct, buf, at, len, (err, data) => (err ? reject(err) : resolve(data!))));
}

/** The descriptor's open flags (octal in /proc/self/fdinfo) include O_DIRECT (040000 on x86 and arm64 Linux: 0o40000 / 0o200000). */
function hasDirectFlag(fd: number): boolean {
  const flags = parseInt(/flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
  return (flags & (process.arch === 'arm64' ? 0o200000 : 0o40000)) !== 0;
}

const RANGES = [[0, body.length], [1, 4095], [4095, 2], [4096, MiB], [MiB - 7, MiB + 64 * 1024 + 3], [body.length - 10, 10], [body.length - MiB, MiB], [12345, 1]] as const;

test('a direct descriptor reads every range byte for byte, into a slot and into a buffer of any address', async () => {
  const { fd, direct } = await open(true);
  try {
    if (process.env.COFFER_TEST_EXPECT_DIRECT === '1') assert.ok(direct, 'the filesystem takes O_DIRECT here');
    if (process.platform === 'linux' && direct) assert.ok(hasDirectFlag(fd), 'the descriptor was opened with O_DIRECT');
    for (const [at, len] of RANGES) {
      const slot = takeSlot(Math.min(len, MiB + 64 * 1024));
      if (len <= MiB + 64 * 1024) {
        assert.ok(slot !== undefined && isSlot(slot), 'a slot is free');
        assert.ok((await read(fd, direct, slot, at, len)).equals(body.subarray(at, at + len)), `slot: ${at}+${len}`);
      }
      if (slot !== undefined) giveSlot(slot);
      // A buffer at an unknown address: the aligned offset is found by trying.
      const own = rangeReadBuffer(len + 256).subarray(16 * ((at % 7) + 1));
      const data = await read(fd, direct, own, at, len);
      assert.ok(data.equals(body.subarray(at, at + len)), `own buffer: ${at}+${len}`);
    }
  } finally {
    closeSync(fd);
  }
});

test('a buffered descriptor reads the same ranges', async () => {
  const { fd, direct } = await open(false);
  try {
    assert.equal(direct, false);
    for (const [at, len] of RANGES) assert.ok((await read(fd, false, rangeReadBuffer(len), at, len)).equals(body.subarray(at, at + len)), `${at}+${len}`);
  } finally {
    closeSync(fd);
  }
});

test('a range past the end of the file is an error, direct or not, never short data', async () => {
  for (const want of [true, false]) {
    const { fd, direct } = await open(want);
    try {
      for (const [at, len] of [[body.length - 100, 101], [body.length - MiB, MiB + 4096], [body.length, 1]] as const) {
        await assert.rejects(read(fd, direct, rangeReadBuffer(len), at, len), /the file ended before the range read/, `${direct ? 'direct' : 'buffered'}: ${at}+${len}`);
      }
    } finally {
      closeSync(fd);
    }
  }
});
