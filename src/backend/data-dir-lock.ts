// The data directory's lock: one server per data directory. A second server beside a live
// one would run start-up recovery under its feet (deleting the first one's in-flight
// uploads as "leftovers"), so `coffer server` takes this lock before opening any store.
// The offline commands (`coffer user`, `audit`, `usage`, `hadoop`) read beside a live
// server (backend/open-backend.ts, openStoresBesideServer). Their IAM changes take this
// lock when no server holds it, and otherwise go through the server (cli/iam-changes.ts),
// so only one process at a time writes the audit log.
//
// Node has no flock(2), so the lock is a symbolic link whose target names its holder, as
// Emacs's lock files do:
//   <data-dir>/coffer.lock -> 1234@box:1796544000   (pid @ host name : start, Unix seconds)
// Creating a link is atomic (EEXIST when it is there) and a short target lives in the inode,
// so the lock is taken on a full disk too, where writing a lock file's contents would fail
// (ENOSPC) and a server could not start to let space be reclaimed. It is removed on a clean exit. A lock left by a process that died is taken over: on
// this host a pid that no longer runs (process.kill(pid, 0) fails with ESRCH), or our own
// pid when this process does not hold it (a container restarted as pid 1 again). A lock
// naming another host cannot be checked from here, so it refuses like a live one.

import { readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
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
  let target: string;
  try {
    target = readlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // EINVAL: a plain file in its place, not a lock this code wrote; it names no live holder.
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return { pid: 0, hostname: hostname(), started: '' };
    throw e;
  }
  const m = /^(\d+)@(.*):(\d+)$/.exec(target);
  if (m === null) return { pid: 0, hostname: hostname(), started: '' };
  return { pid: Number(m[1]), hostname: m[2]!, started: new Date(Number(m[3]) * 1000).toISOString() };
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
      symlinkSync(`${me.pid}@${me.hostname}:${Math.floor(Date.parse(me.started) / 1000)}`, path);
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
