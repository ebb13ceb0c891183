// Files this test process has open (/proc/self/fd): for the tests that check a GET cut early
// leaves no blob file open (the server runs in the test's process).
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Files under `dir` this process has open. */
export async function openFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir)) out.push(target);
  }
  return out;
}

/** Blob files of the server with data directory `dataDir` this process has open. */
export function blobFilesOpen(dataDir: string): Promise<string[]> {
  return openFilesUnder(join(dataDir, 'blobs'));
}
