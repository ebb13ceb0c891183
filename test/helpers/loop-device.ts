// Tests that give a blob file to a device refusing our direct reads (a loop device with
// 64 KiB logical blocks, a ramfs) need Linux, root and losetup. Elsewhere they skip with the
// reason, except in CI (CI set), where they run and a missing piece fails them.

import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

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

/** The loop devices' logical block: O_DIRECT reads aligned to 4 KiB are refused (EINVAL). */
export const LOOP_BLOCK = 64 * 1024;

/** Read-only loop devices with 64 KiB logical blocks, attached by one test file and detached together. */
export class LoopDevices {
  private readonly devices: string[] = [];

  /** Attaches `image` (its size a whole number of blocks) and returns the device's path. */
  attachImage(image: string): string {
    const dev = execFileSync('losetup', ['--find', '--show', '--read-only', '--sector-size', String(LOOP_BLOCK), image], { encoding: 'utf8' }).trim();
    this.devices.push(dev);
    return dev;
  }

  /** Writes `bytes`, padded with zeros to whole blocks, to `image` and attaches it. */
  async attach(image: string, bytes: Buffer): Promise<string> {
    await writeFile(image, Buffer.concat([bytes, Buffer.alloc((LOOP_BLOCK - (bytes.length % LOOP_BLOCK)) % LOOP_BLOCK)]));
    return this.attachImage(image);
  }

  detachAll(): void {
    for (const dev of this.devices.splice(0)) {
      try {
        execFileSync('losetup', ['-d', dev]);
      } catch {
        // already gone
      }
    }
  }
}
