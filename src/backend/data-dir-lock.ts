// The data directory's lock: one server per data directory. A second server beside a live
// one would run start-up recovery under its feet (deleting the first one's in-flight
// uploads as "leftovers"), so `coffer server` takes this lock before opening any store.
// The offline commands (`coffer user`, `audit`, `usage`, `hadoop`) do not take it: they
// are built to run beside a live server (backend/open-backend.ts, openStoresBesideServer).
//
// Node has no flock(2), so the lock is a file created with O_EXCL that names its holder:
//   <data-dir>/coffer.lock   {"pid": 1234, "hostname": "box", "started": "2026-…Z"}
// and is removed on a clean exit. A lock left by a process that died is taken over: on
// this host a pid that no longer runs (process.kill(pid, 0) fails with ESRCH), or our own
// pid when this process does not hold it (a container restarted as pid 1 again). A lock
// naming another host cannot be checked from here, so it refuses like a live one.

import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'coffer.lock';

/** What the lock file records about its holder. */
export interface LockHolder {
  pid: number;
  hostname: string;
  started: string;
}

/** The data directory is held by another server; `hint` says how to fix it. */
export class DataDirLockedError extends Error {
  constructor(message: string, readonly hint: string, readonly holder: LockHolder) {
    super(message);
  }
}

export interface DataDirLock {
  readonly path: string;
  /** The previous holder when a stale lock was taken over (for a warning). */
  readonly tookOver?: LockHolder;
  /** Removes the lock file; later calls do nothing. */
  release(): void;
}

/** Paths this process holds: a lock file with our pid that is not in here is stale. */
const held = new Set<string>();

function readHolder(path: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string') return { pid: v.pid, hostname: v.hostname, started: String(v.started ?? '') };
  } catch {
    // A half-written lock (the holder died between create and write) is treated as stale below.
  }
  return { pid: 0, hostname: hostname(), started: '' };
}

function isAlive(holder: LockHolder, path: string): boolean {
  if (holder.hostname !== hostname()) return true;
  if (holder.pid <= 0) return false;
  if (holder.pid === process.pid) return held.has(path);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (e) {
    // EPERM: the pid runs, under another user.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Takes `<dataDir>/coffer.lock` for this process, or throws DataDirLockedError naming the
 * live holder. The directory must exist.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, hostname: hostname(), started: new Date().toISOString() };
  let tookOver: LockHolder | undefined;
  // Create, or find a stale lock, remove it and create again; a server that wins the race
  // to the free name in between is found live on the next round.
  for (let round = 0; ; round++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || round >= 2) throw e;
    }
    const holder = readHolder(path);
    if (holder !== undefined && isAlive(holder, path)) {
      const where = holder.hostname === hostname() ? `process ${holder.pid}` : `process ${holder.pid} on host ${holder.hostname}`;
      throw new DataDirLockedError(
        `the data directory ${dataDir} is in use by another coffer server (${where}, started ${holder.started || 'at an unknown time'})`,
        `stop that server first, or give this one another --data-dir; if no server runs there any more, delete ${path}`,
        holder,
      );
    }
    tookOver = holder;
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  held.add(path);
  let released = false;
  return {
    path,
    tookOver,
    release() {
      if (released) return;
      released = true;
      held.delete(path);
      try {
        unlinkSync(path);
      } catch {
        // Already gone (removed by hand): nothing to release.
      }
    },
  };
}
