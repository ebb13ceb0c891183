// Request bodies of any size made by repeating one reused random buffer, so the
// client never holds an object in memory and spends no CPU making bytes.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** 1 MiB of random bytes (incompressible, so nothing on the path can cheat). */
export const SOURCE = randomBytes(MiB);

/** Writes `size` bytes to `out` with backpressure; does not end it. */
export async function writeRepeated(out: Writable, size: number, source: Buffer = SOURCE): Promise<void> {
  let left = size;
  while (left > 0) {
    const chunk = left >= source.length ? source : source.subarray(0, left);
    left -= chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
}

/** The same bytes as a Readable, for clients that want a stream (the AWS SDK). */
export function repeatedStream(size: number, source: Buffer = SOURCE): Readable {
  let left = size;
  return new Readable({
    highWaterMark: source.length,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = left >= source.length ? source : source.subarray(0, left);
      left -= chunk.length;
      this.push(chunk);
    },
  });
}
