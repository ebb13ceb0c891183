// Descriptors this process holds on a file (Linux /proc/self/fd): tests check that a read,
// a cancelled one too, leaves none behind.

import { readdir, readlink } from 'node:fs/promises';

/** Descriptors of this process open on `path`. */
export async function descriptorsOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
  return n;
}
