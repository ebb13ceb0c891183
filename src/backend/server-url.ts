// Where the server that holds a data directory listens, for the commands that must go
// through it rather than write beside it (`coffer user`, `coffer hadoop config --user`:
// cli/iam-changes.ts). The server writes its URL once it listens and removes the file on a
// clean stop:
//   <data-dir>/coffer.url     http://127.0.0.1:9000\n
// The file is a hint, read only while the lock (data-dir-lock.ts) names a live server: a
// file left by a killed server names a port that may be reused, so the reader checks that
// the account it reaches there is the data directory's before it sends anything.

import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const SERVER_URL_FILE = 'coffer.url';
const MAX_BYTES = 1024;

/** Writes `<dataDir>/coffer.url` (atomically: a temporary file renamed over it). */
export async function advertiseServerUrl(dataDir: string, url: string): Promise<void> {
  const path = join(dataDir, SERVER_URL_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, url + '\n', { mode: 0o644 });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Removes the file written by advertiseServerUrl; a missing file is not an error. */
export async function withdrawServerUrl(dataDir: string): Promise<void> {
  await unlink(join(dataDir, SERVER_URL_FILE)).catch(() => {});
}

/** The URL in `<dataDir>/coffer.url`, or undefined when there is none (or it is not an http(s) URL). */
export async function readServerUrl(dataDir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, SERVER_URL_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const line = text.slice(0, MAX_BYTES).trim();
  return /^https?:\/\/[^\s/]+$/.test(line) ? line : undefined;
}
