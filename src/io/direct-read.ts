// Reads of blob files with O_DIRECT, for the large-GET paths (storage/file-range-reader.ts
// and the decrypt worker's file jobs, crypto/decrypt-worker.ts).
//
// Why: the file blob store writes blobs with O_DIRECT where it fsyncs (storage/direct-io.ts),
// so a blob just written is not in the page cache. A buffered read of it then has the kernel
// fill fresh page-cache pages and copy them out (`copy_page_to_iter`): measured here (ext4 on
// virtio, 2 cores) 1.0 ms of the libuv pool's CPU per MiB against 0.25 for a re-read from
// the cache, and `dd` of such a file read at 136 MiB/s buffered and 1.2 GiB/s direct, with
// 1.5 ms and 0.04 ms of kernel CPU per MiB. A direct read goes from the device into our
// buffer: no page to fill, no copy. So blobs written direct are read direct (a re-read goes
// to the device too, as it would in a store that keeps no cache of its own).
//
// O_DIRECT wants the buffer's address, the file offset and the length aligned. Offsets and
// lengths are widened to DIRECT_ALIGN and the caller gets a view of the bytes it asked for;
// the address is found as storage/direct-io.ts finds it, by trying offsets 16 bytes apart
// (the kernel refuses a misaligned read with EINVAL before any I/O), remembered per buffer
// and the last one tried first (large buffers come from the same allocator path). A file
// that ends before the range is an error, as for a buffered read.
//
// The blob directory taking O_DIRECT (the store's probe) does not make every blob file take
// it: a file may live elsewhere (a symbolic link, a bind mount, a restored or overlaid
// directory) where the kernel refuses a direct open, or a direct read at our alignment (a
// device with larger blocks), with EINVAL. The bytes are still there: openForRead then opens
// buffered, and a reader whose direct read is refused (directRefused) opens the file again
// buffered and reads the same range there, with the same checks. Only EINVAL does that; the
// reader tells its store (onRefused), which warns once. Nothing of this runs while direct
// reads work.

import fs from 'node:fs';

/** File offsets and lengths of direct reads are multiples of this (the largest common logical block size). */
export const DIRECT_READ_ALIGN = 4096;
const ADDRESS_STEP = 16;

/**
 * A buffer for reads of up to `size` bytes at any file offset through readRange: room for
 * the widening at both ends and for an aligned start. Reuse it: its aligned offset is found
 * once.
 */
export function rangeReadBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size + 3 * DIRECT_READ_ALIGN);
}

/** Capacity a range read of `size` bytes needs (rangeReadBuffer's length). */
export function rangeReadCapacity(size: number): number {
  return size + 3 * DIRECT_READ_ALIGN;
}

/**
 * Opens `file` for reading, with O_DIRECT when `direct` and the filesystem takes it
 * (`direct` in the callback says which); otherwise buffered. `refused`: O_DIRECT was asked
 * for and the kernel refused it for this file (EINVAL), so it was opened buffered.
 */
export function openForRead(file: string, direct: boolean, done: (err: NodeJS.ErrnoException | null, fd: number, direct: boolean, refused: boolean) => void): void {
  // Platforms without O_DIRECT (macOS: F_NOCACHE instead) read buffered.
  if (!direct || fs.constants.O_DIRECT === undefined) return fs.open(file, 'r', (err, fd) => done(err, fd, false, false));
  fs.open(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT, (err, fd) => {
    if (err?.code === 'EINVAL') return fs.open(file, 'r', (e, f) => done(e, f, false, true));
    done(err, fd, !err, false);
  });
}

/**
 * openForRead, synchronously: for a thread of its own (a decrypt worker), where an open of a
 * local file costs a few microseconds and a trip through the libuv pool and back costs more
 * than that in wake-ups. Throws as fs.openSync does.
 */
export function openForReadSync(file: string, direct: boolean): { fd: number; direct: boolean; refused: boolean } {
  if (!direct || fs.constants.O_DIRECT === undefined) return { fd: fs.openSync(file, 'r'), direct: false, refused: false };
  try {
    return { fd: fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT), direct: true, refused: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
    return { fd: fs.openSync(file, 'r'), direct: false, refused: true };
  }
}

/**
 * Whether `err`, from readRange on a direct descriptor, is the kernel refusing the direct
 * read itself (EINVAL at an address known to work, or at every one tried): the file's bytes
 * can still be read through a buffered descriptor. readRange's own errors (a file that
 * ended first, a buffer too small) and any other errno are not.
 */
export function directRefused(err: Error | null): boolean {
  return err !== null && (err as NodeJS.ErrnoException).code === 'EINVAL';
}

/**
 * Records that direct reads into `memory` work at its start (WebAssembly memory, which
 * starts on a page boundary: io/aligned-slots.ts): a refused read into it is then the file's
 * refusal at once, with no search for another address.
 */
export function alignedAtStart(memory: ArrayBufferLike): void {
  alignedAt.set(memory, 0);
}

/** Per buffer: the offset in it at which direct reads were accepted. */
const alignedAt = new WeakMap<ArrayBufferLike, number>();
let lastOffset = 0;

/**
 * Reads bytes [at, at + len) of `fd` into `buf` (from rangeReadBuffer, at least
 * rangeReadCapacity(len) long) and gives a view of exactly them. On a direct descriptor the
 * read is widened to whole blocks at an aligned address in `buf`; else it is a plain read
 * at the start of `buf`. Errors when the file ends first.
 */
export function readRange(fd: number, direct: boolean, buf: Buffer, at: number, len: number, done: (err: Error | null, data?: Buffer) => void): void {
  if (!direct) return readFully(fd, buf, 0, len, at, len, false, (err) => (err ? done(err) : done(null, buf.subarray(0, len))));
  const from = at - (at % DIRECT_READ_ALIGN);
  const to = Math.ceil((at + len) / DIRECT_READ_ALIGN) * DIRECT_READ_ALIGN;
  if (buf.length < to - from + DIRECT_READ_ALIGN) return done(new RangeError('the read buffer is too small for this range'));
  // Offsets are kept from the start of the ArrayBuffer: a view of it at another offset finds the same address.
  const known = alignedAt.get(buf.buffer);
  const candidates = known !== undefined ? [known] : [lastOffset, ...Array.from({ length: DIRECT_READ_ALIGN / ADDRESS_STEP }, (_, i) => i * ADDRESS_STEP)];
  const tries = candidates.map((c) => (c - (buf.byteOffset % DIRECT_READ_ALIGN) + DIRECT_READ_ALIGN) % DIRECT_READ_ALIGN);
  const attempt = (i: number): void => {
    const off = tries[i]!;
    readFully(fd, buf, off, to - from, from, at + len - from, true, (err) => {
      if (err && (err as NodeJS.ErrnoException).code === 'EINVAL' && known === undefined && i + 1 < tries.length) return attempt(i + 1);
      if (err) return done(err);
      alignedAt.set(buf.buffer, (buf.byteOffset + off) % DIRECT_READ_ALIGN);
      lastOffset = (buf.byteOffset + off) % DIRECT_READ_ALIGN;
      done(null, buf.subarray(off + (at - from), off + (at - from) + len));
    });
  };
  attempt(0);
}

/**
 * Reads up to `len` bytes at `position` into buf[off...], again after a short read, until
 * at least `need` bytes came (a direct read at the file's end comes back short by the
 * widening); fewer means the file ended before the range. A direct read short by a part of
 * a block stopped at the file's end.
 */
function readFully(fd: number, buf: Buffer, off: number, len: number, position: number, need: number, direct: boolean, done: (err: Error | null) => void): void {
  let got = 0;
  const next = (): void => {
    fs.read(fd, buf, off + got, len - got, position + got, (err, n) => {
      if (err) return done(err);
      got += n;
      if (got >= need) return done(null);
      if (n === 0 || (direct && n % DIRECT_READ_ALIGN !== 0)) return done(new Error('the file ended before the range read'));
      next();
    });
  };
  next();
}
