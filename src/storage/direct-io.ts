// Direct I/O (O_DIRECT) for the file blob store's writes, where the filesystem takes it.
//
// Why: a buffered write copies every byte into the page cache, and the fdatasync at commit
// then writes those pages back; on a machine whose memory is full of page cache, finding
// the pages costs reclaim in the writing thread. Measured here (ext4 on virtio, the shared
// 2-core machine, load ~18): 1 MiB written and fdatasync'd cost 5.3–6.4 ms of kernel CPU
// buffered (0.4 ms when the memory was free) and 0.23–0.29 ms with O_DIRECT, whose bytes
// go from our buffer to the device. MinIO writes objects with O_DIRECT too. Durability is
// unchanged: the commit still fdatasyncs the file (a direct write reaching the device is
// not yet durable) and fsyncs its directory.
//
// O_DIRECT wants the buffer's address, the file offset and the length aligned to the
// device's block size. JavaScript cannot see a buffer's address, so alignedBuffer() finds
// an aligned start by trying direct reads into the buffer at offsets 16 bytes apart (the
// kernel refuses a misaligned one with EINVAL); a buffer keeps its address for its life.
// Offsets and lengths are kept to multiples of DIRECT_ALIGN; the unaligned tail of a blob
// goes through a second, buffered descriptor of the same file (the page cache is per file,
// so the commit's fdatasync on either descriptor covers both).
//
// Where the filesystem refuses O_DIRECT (tmpfs, some network filesystems) the probe fails
// and the store writes buffered, as before.
//
// A shared blob directory (NFS, CephFS) may hang: its store probes with the *Async
// functions, whose every call on the directory goes through the libuv pool, never the
// calling thread.

import { close, closeSync, constants as fsConstants, open, openSync, read, readSync, unlinkSync, write, writeSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** File offsets and lengths of direct writes are multiples of this (the largest common logical block size). */
export const DIRECT_ALIGN = 4096;
const ADDRESS_STEP = 16;

/** A direct-read descriptor of a small file on the blob filesystem, used to find aligned buffer addresses. */
export interface DirectProbe {
  fd: number;
  /** The buffer offset alignedBuffer() found last. */
  lastOffset?: number;
}

/**
 * Whether `dir` (the blob store's temporary directory) takes O_DIRECT: a probe file is
 * written, opened for direct reads and unlinked (its descriptor stays open). Undefined when
 * the filesystem refuses it.
 */
export function openDirectProbe(dir: string): DirectProbe | undefined {
  const file = path.join(dir, `direct-probe-${randomBytes(8).toString('hex')}`);
  try {
    const w = openSync(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      writeSync(w, Buffer.alloc(DIRECT_ALIGN));
    } finally {
      closeSync(w);
    }
    const fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_DIRECT);
    const probe = { fd };
    if (alignedBuffer(probe, DIRECT_ALIGN) === undefined) {
      closeSync(fd);
      return undefined;
    }
    return probe;
  } catch {
    return undefined;
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // never made
    }
  }
}

/**
 * openDirectProbe with every call through the libuv pool (a shared directory, which may hang).
 * The probe file's name starts with `prefix` (a shared directory's temporaries name their writer).
 */
export async function openDirectProbeAsync(dir: string, prefix = ''): Promise<DirectProbe | undefined> {
  const file = path.join(dir, `${prefix}direct-probe-${randomBytes(8).toString('hex')}`);
  try {
    await fs.writeFile(file, Buffer.alloc(DIRECT_ALIGN), { flag: 'wx', mode: 0o600 });
    const fd = await new Promise<number>((resolve, reject) => open(file, fsConstants.O_RDONLY | fsConstants.O_DIRECT, (e, n) => (e ? reject(e) : resolve(n))));
    const probe = { fd };
    if ((await alignedBufferAsync(probe, DIRECT_ALIGN)) === undefined) {
      closeDirectProbeAsync(probe);
      return undefined;
    }
    return probe;
  } catch {
    return undefined;
  } finally {
    await fs.unlink(file).catch(() => undefined);
  }
}

/**
 * A buffer of `size` bytes (a multiple of DIRECT_ALIGN) at an address direct I/O accepts;
 * undefined if none was found. The offset that worked last is tried first: large
 * allocations come from the same allocator path, so it usually works again, and only the
 * accepted read does I/O (a refused one fails before any).
 */
export function alignedBuffer(probe: DirectProbe, size: number): Buffer | undefined {
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_ALIGN);
  for (let i = 0; i <= DIRECT_ALIGN / ADDRESS_STEP; i++) {
    const off = i === 0 ? (probe.lastOffset ?? 0) : (i - 1) * ADDRESS_STEP;
    try {
      readSync(probe.fd, raw, off, DIRECT_ALIGN, 0);
      probe.lastOffset = off;
      return raw.subarray(off, off + size);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
    }
  }
  return undefined;
}

/** alignedBuffer with its reads through the libuv pool (a shared directory, which may hang). */
export async function alignedBufferAsync(probe: DirectProbe, size: number): Promise<Buffer | undefined> {
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_ALIGN);
  for (let i = 0; i <= DIRECT_ALIGN / ADDRESS_STEP; i++) {
    const off = i === 0 ? (probe.lastOffset ?? 0) : (i - 1) * ADDRESS_STEP;
    try {
      await new Promise<number>((resolve, reject) => read(probe.fd, raw, off, DIRECT_ALIGN, 0, (e, n) => (e ? reject(e) : resolve(n))));
      probe.lastOffset = off;
      return raw.subarray(off, off + size);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
    }
  }
  return undefined;
}

/**
 * Writes as much of buf[0, length) at position through an O_DIRECT descriptor as alignment
 * allows (buf must come from alignedBuffer); returns how many bytes it wrote, the rest being
 * the caller's to write buffered. A short direct write (a full disk) or a refusal (EINVAL)
 * stops here, so the buffered write reports the error or does the work.
 */
export async function writeDirect(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  if (position % DIRECT_ALIGN !== 0) return 0;
  const head = length - (length % DIRECT_ALIGN);
  let done = 0;
  try {
    while (done < head) {
      const n = await new Promise<number>((resolve, reject) => write(fd, buf, done, head - done, position + done, (e, w) => (e ? reject(e) : resolve(w))));
      done += n;
      if (n === 0 || n % DIRECT_ALIGN !== 0) break;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
  }
  return done;
}

export function closeDirectProbe(probe: DirectProbe | undefined): void {
  if (probe === undefined) return;
  try {
    closeSync(probe.fd);
  } catch {
    // already closed
  }
}

/** closeDirectProbe through the libuv pool, not waited for (a shared directory, which may hang). */
export function closeDirectProbeAsync(probe: DirectProbe | undefined): void {
  if (probe === undefined) return;
  close(probe.fd, () => undefined); // a read-only descriptor: a failed close loses nothing
}
