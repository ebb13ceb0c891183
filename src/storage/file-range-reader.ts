// A byte range of one file as a stream, read ahead: up to `depth` reads of `chunk` bytes
// are in flight at once and their chunks come out in order. fs.createReadStream issues
// the next read only after the previous chunk went downstream, so reading and sending
// alternate; here the next reads are already on their way while a chunk is being written
// to the socket (or decrypted), and larger chunks mean fewer hops to the libuv pool and
// back per MiB — each hop is a futex wake of a pool thread and an eventfd wake of the main
// loop, which on a busy machine also waits for a core.
//
// Every chunk is its own allocation (offset 0, the whole ArrayBuffer), so a consumer may
// keep it or transfer it to a worker (crypto/offloaded-decrypt.ts). Memory per stream is
// bounded by depth × chunk plus the stream's buffer (highWaterMark = chunk).
//
// A file that ends before the range does is an error, not a short stream: a body whose
// length was promised must not silently come out shorter.

import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { WholeRead } from './types.js';

/**
 * Buffers of one size, lent to whole reads and given back once their response is out. Each
 * 1 MiB read into a fresh buffer is ~1 MiB of memory outside V8's heap, and that much
 * allocated and dropped per request makes V8 run a young-generation collection every ~30
 * GETs ("external memory pressure"), a pause each time on the thread that serves requests.
 * A buffer is reused only after release(): never while a write of it may still be pending.
 */
export class ReadBufferPool {
  private readonly free: Buffer[] = [];

  constructor(readonly size: number, private readonly keep: number) {}

  /** A lent buffer of `size` bytes (old contents: the caller overwrites what it uses). */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buf: Buffer): void {
    if (this.free.length < this.keep && buf.length === this.size) this.free.push(buf);
  }
}

/** Whole reads shorter than this get a buffer of their own (a lent one would pin ~1 MiB). */
const LEND_FROM = 256 * 1024;

const noRelease = (): void => {};

/**
 * Bytes [start, start + length) of a file in one buffer: open, one read, close, each a trip
 * to the libuv pool, where a stream adds its construction, ticks and hand-offs. For ranges
 * small enough to hold whole (about 1 MiB, at most `pool.size`). A file that ends before the
 * range is an error, as for the stream; only bytes the read filled are ever handed out. The
 * promise settles with the read; the close runs meanwhile (it cannot lose anything on a
 * descriptor opened for reading, so its error is dropped).
 */
export function readFileRange(file: string, start: number, length: number, pool: ReadBufferPool): Promise<WholeRead> {
  return new Promise((resolve, reject) => {
    fs.open(file, 'r', (err, fd) => {
      if (err) return reject(err);
      const lent = length >= LEND_FROM && length <= pool.size;
      const buf = lent ? pool.take() : Buffer.allocUnsafeSlow(length);
      fs.read(fd, buf, 0, length, start, (readErr, bytes) => {
        fs.close(fd, ignore);
        // A read of a regular file comes up short only at its end.
        const failure = readErr ?? (bytes < length ? new Error('the file ended before the range read') : undefined);
        if (failure !== undefined) {
          if (lent) pool.give(buf);
          return reject(failure);
        }
        if (!lent) return resolve({ data: buf, release: noRelease });
        let held = true;
        resolve({
          data: buf.subarray(0, length),
          release: () => {
            if (!held) return;
            held = false;
            pool.give(buf);
          },
        });
      });
    });
  });
}

function ignore(): void {}

export interface FileRangeOptions {
  /** First byte to read. */
  start: number;
  /** Last byte to read (inclusive); absent: to the end of the file as it is when opened. */
  end?: number;
  /** Bytes per read. */
  chunk: number;
  /** Reads in flight at once (≥ 1). */
  depth: number;
}

interface Slot {
  buf: Buffer;
  done: boolean;
  bytes: number;
  err: NodeJS.ErrnoException | null;
}

export class FileRangeReader extends Readable {
  private fd = -1;
  /** Next file offset to request. */
  private pos: number;
  /** One past the last byte to read (set once the file is open when the range is open-ended). */
  private stop: number;
  private readonly queue: Slot[] = [];
  private inFlight = 0;
  private wanted = false;
  private closing: ((err?: Error | null) => void) | undefined;
  private fileClosed = false;

  constructor(private readonly file: string, private readonly opts: FileRangeOptions) {
    super({ highWaterMark: opts.chunk });
    this.pos = opts.start;
    this.stop = opts.end === undefined ? -1 : opts.end + 1;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    fs.open(this.file, 'r', (err, fd) => {
      if (err) return callback(err);
      this.fd = fd;
      if (this.stop >= 0) return callback();
      fs.fstat(fd, (e, st) => {
        if (e) return callback(e);
        this.stop = st.size;
        callback();
      });
    });
  }

  override _read(): void {
    this.wanted = true;
    this.fill();
  }

  /** Starts reads up to the depth while the consumer wants more. */
  private fill(): void {
    while (this.wanted && this.inFlight < this.opts.depth && this.pos < this.stop && this.closing === undefined) {
      const len = Math.min(this.opts.chunk, this.stop - this.pos);
      const slot: Slot = { buf: Buffer.allocUnsafeSlow(len), done: false, bytes: 0, err: null };
      const at = this.pos;
      this.pos += len;
      this.queue.push(slot);
      this.inFlight++;
      fs.read(this.fd, slot.buf, 0, len, at, (err, bytes) => {
        this.inFlight--;
        slot.done = true;
        slot.err = err;
        slot.bytes = bytes;
        if (this.closing !== undefined) return this.closeIfIdle();
        this.deliver();
      });
    }
    if (this.pos >= this.stop && this.queue.length === 0 && this.closing === undefined) this.push(null);
  }

  /** Pushes the chunks that are complete, in order; then reads more if the consumer still wants it. */
  private deliver(): void {
    while (this.queue.length > 0 && this.queue[0]!.done) {
      const slot = this.queue.shift()!;
      if (slot.err) return void this.destroy(slot.err);
      if (slot.bytes < slot.buf.length) {
        // A read of a regular file comes up short only at its end.
        return void this.destroy(new Error('the file ended before the range read'));
      }
      this.wanted = this.push(slot.buf);
    }
    this.fill();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.closing = (e) => callback(err ?? e);
    this.closeIfIdle();
  }

  /** Once no read is in flight (they write into buffers of ours, on a descriptor of ours), closes the file. */
  private closeIfIdle(): void {
    if (this.inFlight > 0 || this.closing === undefined || this.fileClosed) return;
    this.fileClosed = true;
    const done = this.closing;
    this.queue.length = 0;
    if (this.fd < 0) return done();
    const fd = this.fd;
    this.fd = -1;
    fs.close(fd, (e) => done(e));
  }
}
