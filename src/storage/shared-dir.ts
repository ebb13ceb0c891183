// The file blob store's shared mode (file-blob-store.ts, `--blobs file:///path`): this
// node's name in temporary file names, and which temporaries in the shared tmp/ are garbage.

import fs from 'node:fs/promises';

export interface SharedDir {
  node: string;
  /** `<node>.<pid>.`: the start of this process's temporary names. */
  tempPrefix: string;
  graceMs: number;
  now: () => number;
}

/**
 * Whether a temporary is garbage: this node's from a process that is gone (a pid is only
 * meaningful on its own host, hence node ids must differ), or anyone's once untouched for
 * the grace period (a live writer writes at least every batch, and the server cuts a body
 * idle for far less).
 */
export async function abandoned(file: string, name: string, shared: SharedDir): Promise<boolean> {
  const [node, pid] = name.split('.', 2);
  if (node === shared.node && pid !== undefined && /^\d+$/.test(pid) && !processAlive(Number(pid))) return true;
  const stat = await fs.stat(file).catch(() => undefined);
  return stat !== undefined && shared.now() - stat.mtimeMs > shared.graceMs;
}

/** mkdir's rejection when the directory is already there (another node made it): false, nothing made. */
export function existing(e: NodeJS.ErrnoException): boolean {
  if (e.code === 'EEXIST') return false;
  throw e;
}

/** A node id as it goes into file names: letters, digits, '-' and '_' only (the '.' separates fields). */
export function nodeName(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  if (clean === '') throw new Error('a shared blob directory needs a node id of letters, digits, "-" or "_"');
  return clean;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
