// Test helpers: run the crypto streams over in-memory buffers with chosen chunkings,
// and a deterministic random source so failures reproduce from a printed seed.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { decryptPool } from '../../src/crypto/index.js';
import { descriptorsOn } from '../helpers/descriptors.js';

/** A byte stream: SHA-256(seed || u32be(counter)) blocks, concatenated. Same as the KMS vectors use. */
export function deterministicRandom(seed: string): (size: number) => Buffer {
  let counter = 0;
  return (size) => {
    const out = Buffer.alloc(Math.ceil(size / 32) * 32);
    for (let off = 0; off < size; off += 32) {
      const c = Buffer.alloc(4);
      c.writeUInt32BE(counter++);
      createHash('sha256').update(seed, 'utf8').update(c).digest().copy(out, off);
    }
    return out.subarray(0, size);
  };
}

/** A small seeded PRNG (mulberry32) for sizes, chunkings and ranges. */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** Cuts `buf` into chunks: all of it at once, fixed sizes, or random sizes (often tiny, sometimes over a segment). */
export function chunk(buf: Buffer, how: 'whole' | number | ((n: number) => number)): Buffer[] {
  if (how === 'whole') return [buf];
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    let n: number;
    if (typeof how === 'number') n = how;
    else {
      const pick = how(4);
      n = 1 + (pick === 0 ? how(16) : pick === 1 ? how(1000) : pick === 2 ? how(70000) : how(140000));
    }
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Pipes the chunks through `stream` and collects its output (rejects with the stream's error). */
export async function run(stream: Transform, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks, { objectMode: false }),
    stream,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(Buffer.from(c)); // copy: the test must not depend on the stream not reusing buffers
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Waits until no decrypt worker job is open and nothing holds `path` open; fails if that does not happen within 5 s. */
export async function decryptSettled(path: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((decryptPool().openJobs > 0 || (await descriptorsOn(path)) > 0) && Date.now() < deadline) await sleep(20);
  assert.equal(decryptPool().openJobs, 0, 'no worker job left open');
  assert.equal(await descriptorsOn(path), 0, 'no descriptor left on the file');
}
