// A small tmpfs for full-disk tests, and a filler that fills it to the last page. Mounting
// needs root: elsewhere the tests skip with the reason, except in CI (CI set), where the
// caller must fail instead (assert on mountTmpfs's answer in `before`).

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const KiB = 1024;

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `size` bytes; answers the reason when this machine does not allow it. */
export function mountTmpfs(size: number): Tmpfs | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'coffer-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs (${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}); run as root`;
  }
  return {
    dir,
    unmount() {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The skip reason for full-disk tests on this machine: false where a tmpfs mounts, or in CI (which must not skip). */
export function tmpfsSkipReason(): string | false {
  const probe = mountTmpfs(1024 * KiB);
  if (typeof probe !== 'string') {
    probe.unmount();
    return false;
  }
  return process.env['CI'] ? false : probe;
}

/** Writes `file` until the file system has no page left; returns the bytes written. */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'a');
  let written = 0;
  try {
    for (const chunk of [Buffer.alloc(256 * KiB, 1), Buffer.alloc(4 * KiB, 1), Buffer.alloc(1, 1)]) {
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
