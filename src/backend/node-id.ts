// The node's name in a cluster's shared state (the `node` of its audit rows): kept in
// <data-dir>/node-id, made on first start as <host name>-<8 hex digits>, so it stays the
// same across restarts and differs between nodes of one host (each has its own data
// directory).

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const NODE_ID_FILE = 'node-id';

export async function nodeIdOf(dataDir: string): Promise<string> {
  const path = join(dataDir, NODE_ID_FILE);
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (id !== '') return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const id = `${hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'node'}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(path, id + '\n', { flag: 'wx', mode: 0o644 });
    return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return (await readFile(path, 'utf8')).trim(); // another start made it first
  }
}
