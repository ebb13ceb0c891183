// For the tests of GETs a client cuts early: the cut itself, and the files this test process
// has open (/proc/self/fd) to check none is left behind (the server runs in the test's process).
import { readdir, readlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';

/** Reads `res` until more than `bytes` arrived, then destroys it: a client that disconnects mid-body. */
export function cutAfter(res: IncomingMessage, bytes: number): Promise<void> {
  let seen = 0;
  return new Promise<void>((resolve) => {
    res.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen > bytes) {
        res.destroy();
        resolve();
      }
    });
    res.on('error', () => undefined);
  });
}

/** Files under `dir` this process has open. */
export async function openFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir)) out.push(target);
  }
  return out;
}

/**
 * Blob files of the server with data directory `dataDir` this process has open. Not the
 * descriptors a store with fsync on keeps for its life: its fan-out directories (blobs/xx)
 * and its O_DIRECT probe (storage/direct-io.ts).
 */
export async function blobFilesOpen(dataDir: string): Promise<string[]> {
  const blobs = join(dataDir, 'blobs');
  return (await openFilesUnder(blobs)).filter((f) => !/^[0-9a-f]{2}$/.test(f.slice(blobs.length + 1)) && !f.includes('/direct-probe-'));
}
