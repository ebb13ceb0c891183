// Space held in the data directory for a completely full disk (`data/reserve`, a few MiB
// of zeros). SQLite needs a little room to open a database (the WAL index) and to delete
// anything (WAL frames), so a disk filled to the last page by objects or by something else
// would otherwise refuse the very requests that free space, and a stopped server would not
// start. The reserve is given back:
//   - at start, before any database opens (start-up and crash recovery get room), and
//   - when a write that frees space (a delete) fails for want of space: it is retried once.
// It is taken again in the background once the file system has room for it twice over, so
// it is never the write that fills the disk. Writes that add data never release it.

import { closeSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const DATA_RESERVE_FILE = 'reserve';
/** Held in data/reserve: room for SQLite to open its databases and commit deletes. */
export const DATA_RESERVE_BYTES = 4 * 1024 * 1024;
const RETAKE_EVERY_MS = 5000;
const CHUNK = 64 * 1024;

export interface DiskReserveOptions {
  bytes?: number;
  /** Told when the reserve is given back or cannot be taken (a full disk). */
  warn?: (message: string) => void;
}

export class DiskReserve {
  private held = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly path: string;
  private readonly bytes: number;
  private readonly warn: (message: string) => void;

  constructor(dir: string, opts: DiskReserveOptions = {}) {
    this.path = join(dir, DATA_RESERVE_FILE);
    this.bytes = opts.bytes ?? DATA_RESERVE_BYTES;
    this.warn = opts.warn ?? (() => undefined);
  }

  /** Whether the reserve's space is held right now. */
  get holding(): boolean {
    return this.held;
  }

  /** Gives the space back (a reserve left by an earlier process too); whether any was held. */
  release(): boolean {
    try {
      unlinkSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.held = false;
      return false;
    }
    const was = this.held;
    this.held = false;
    if (was) this.warn('the disk is full: released the data directory reserve so deletes can free space');
    this.scheduleRetake();
    return true;
  }

  /**
   * Takes the space when the file system has room for it twice over; otherwise tries again
   * later. A write that fails half-way leaves nothing behind.
   */
  take(): boolean {
    if (this.held) return true;
    if (!this.roomFor(2 * this.bytes)) {
      this.scheduleRetake();
      return false;
    }
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'w', 0o600);
      const zeros = Buffer.alloc(CHUNK);
      for (let off = 0; off < this.bytes; off += CHUNK) writeSync(fd, zeros, 0, Math.min(CHUNK, this.bytes - off));
      closeSync(fd);
      fd = undefined;
      this.held = true;
      return true;
    } catch {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(this.path);
      } catch {
        // nothing written
      }
      this.warn('the data directory reserve cannot be taken (the disk is full); retrying in the background');
      this.scheduleRetake();
      return false;
    }
  }

  /** Stops retrying; the file stays for the next start. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scheduleRetake(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.take();
    }, RETAKE_EVERY_MS);
    this.timer.unref();
  }

  private roomFor(bytes: number): boolean {
    try {
      const s = statfsSync(join(this.path, '..'));
      return s.bavail * s.bsize >= bytes;
    } catch {
      return false;
    }
  }
}
