// Small secret files in the data directory (root.key, root.salt): created atomically
// with mode 0600 and never overwritten, read back only if nobody else can read them.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { RootKeyConfigError } from './errors.js';

/**
 * Creates `file` with `data` unless it exists: written to a temporary file (0600),
 * fsynced, then hard-linked into place — link, unlike rename, fails if another process
 * created the file first, so a concurrent start never replaces a key already in use.
 * Returns false if the file already existed.
 */
export async function createSecretFile(file: string, data: Buffer): Promise<boolean> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await fs.open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  await syncDir(dir);
  return true;
}

async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Reads a secret file, or returns undefined if it does not exist. Refuses a file that
 * group or others may access (mode & 0o077), naming the file and the fix.
 */
export async function readSecretFile(file: string, what: string): Promise<Buffer | undefined> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!stat.isFile()) throw new RootKeyConfigError(`${what} ${file} is not a regular file`, `move it away; Coffer creates a new one on start`);
  // Windows has no POSIX modes to check.
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new RootKeyConfigError(
      `${what} ${file} has mode ${mode}: group and others must have no access`,
      `run: chmod 600 ${file}`,
    );
  }
  return fs.readFile(file);
}
