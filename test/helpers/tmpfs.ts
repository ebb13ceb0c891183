// A small file system for full-disk tests (a tmpfs, or an ext4 image where tmpfs would use
// huge pages), and a filler that fills it to the last page. Mounting
// needs root: elsewhere the tests skip with the reason, except in CI (CI set), where the
// caller must fail instead (assert on mountTmpfs's answer in `before`).

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const KiB = 1024;

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/**
 * Mounts a small file system of `size` bytes; answers the reason when this machine does not
 * allow it. Its allocation unit must be 4 KiB, like a disk's blocks: where the kernel gives
 * tmpfs transparent huge pages, every small file (a SQLite -shm, root.key) takes 2 MiB of a
 * test's few MiB and the data directory's 4 MiB reserve cannot even be taken. So a tmpfs is
 * mounted with `huge=never` (plain where the kernel does not know the option) and probed;
 * where huge pages are forced on every tmpfs, an ext4 image on a loop device instead.
 */
export function mountTmpfs(size: number): Tmpfs | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'coffer-full-'));
  const reasons: string[] = [];
  for (const options of [`size=${size},huge=never`, `size=${size}`]) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      reasons.push(`tmpfs -o ${options}: ${errorText(e)}`);
      continue;
    }
    if (smallPages(dir)) return mounted(dir);
    execFileSync('umount', ['-l', dir]);
    reasons.push(`tmpfs -o ${options}: allocates huge pages`);
    break;
  }
  const image = `${dir}.img`;
  try {
    execFileSync('truncate', ['-s', String(size), image], { stdio: 'pipe' });
    // No blocks reserved for root (the tests run as root), no journal: every block is the test's.
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', image, dir], { stdio: 'pipe' });
    return mounted(dir, image);
  } catch (e) {
    reasons.push(`ext4 on a loop device: ${errorText(e)}`);
  }
  rmSync(image, { force: true });
  rmSync(dir, { recursive: true, force: true });
  return `cannot mount a small file system (${reasons.join('; ')}); run as root`;
}

function mounted(dir: string, image?: string): Tmpfs {
  return {
    dir,
    unmount() {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
      if (image) rmSync(image, { force: true });
    },
  };
}

/** Whether a 4 KiB file takes about 4 KiB of the file system (not a 2 MiB huge page). */
function smallPages(dir: string): boolean {
  const free = () => {
    const s = statfsSync(dir);
    return s.bfree * s.bsize;
  };
  const before = free();
  const probe = path.join(dir, '.probe');
  writeFileSync(probe, Buffer.alloc(4 * KiB, 1));
  const used = before - free();
  unlinkSync(probe);
  return used <= 64 * KiB;
}

function errorText(e: unknown): string {
  return (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
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
