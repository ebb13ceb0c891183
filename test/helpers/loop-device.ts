// Tests that give a blob file to a device refusing our direct reads (a loop device with
// 64 KiB logical blocks, a ramfs) need Linux, root and losetup. Elsewhere they skip with the
// reason, except in CI (CI set), where they run and a missing piece fails them.

import { execFileSync } from 'node:child_process';

/** False when the tests can run (or must: CI); otherwise why they skip. `what` names what root is needed for. */
export function loopDeviceSkipReason(what: string): string | false {
  if (process.env['CI']) return false;
  if (process.platform !== 'linux') return 'Linux only (O_DIRECT, loop devices)';
  if (process.getuid?.() !== 0) return `needs root (${what})`;
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs losetup';
  }
  return false;
}
