// The file blob store's calls on raw descriptors (file-blob-store.ts): callback-style fs
// calls as promises (cheaper per call than a FileHandle's methods), a whole buffer written at
// a position, a close on this thread or through the pool, a directory's fsync.

import { close as closeFd, closeSync, write as writeFd } from 'node:fs';
import fs from 'node:fs/promises';

export async function writeAll(fd: number, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const bytesWritten = await callback<number>((cb) => writeFd(fd, buf, off, buf.length - off, position + off, cb));
    off += bytesWritten;
  }
}

export async function syncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Closes a descriptor: at once on this thread (file-blob-store.ts, SYNC_METADATA_CALLS) or through the pool. */
export function closeFile(fd: number, sync: boolean): Promise<void> {
  if (!sync) return callback<void>((cb) => closeFd(fd, cb));
  try {
    closeSync(fd);
    return Promise.resolve();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** A callback-style fs call as a promise (cheaper per call than a FileHandle's methods). */
export function callback<T>(call: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value as T))));
}
