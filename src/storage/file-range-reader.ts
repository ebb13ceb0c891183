// A byte range of one file as a stream, read ahead: up to `depth` reads of `chunk` bytes
// are in flight at once and their chunks come out in order. fs.createReadStream issues
// the next read only after the previous chunk went downstream, so reading and sending
// alternate; here the next reads are already on their way while a chunk is being written
// to the socket (or decrypted), and larger chunks mean fewer hops to the libuv pool and
// back per MiB — each hop is a futex wake of a pool thread and an eventfd wake of the main
// loop, which on a busy machine also waits for a core.
//
// Every chunk is its own allocation (a view of it when read with O_DIRECT, whose buffer has
// room for alignment: io/direct-read.ts), so a consumer may keep it. Memory per stream is
// bounded by depth × chunk plus the stream's buffer (highWaterMark = chunk).
//
// A file that ends before the range does is an error, not a short stream: a body whose
// length was promised must not silently come out shorter.
//
// A direct read the kernel refuses (EINVAL: the file lives where O_DIRECT is not taken, see
// io/direct-read.ts) is read again through a buffered descriptor of the file, and the rest of
// the range with it; the direct descriptor stays open until the reads on it are done.

import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { WholeRead } from './types.js';
import { directRefused, openForRead, rangeReadBuffer, rangeReadCapacity, readRange } from '../io/direct-read.js';
import { giveSlot, isSlot, takeSlot } from '../io/aligned-slots.js';
import { lend } from '../io/lent.js';

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

  /** A lent buffer of `size` bytes (old contents: the caller overwrites what it uses): an aligned slot while one is free (io/aligned-slots.ts). */
  take(): Buffer {
    return this.free.pop() ?? takeSlot(this.size) ?? Buffer.allocUnsafeSlow(rangeReadCapacity(this.size));
  }

  give(buf: Buffer): void {
    if (isSlot(buf)) giveSlot(buf);
    else if (this.free.length < this.keep && buf.length === rangeReadCapacity(this.size)) this.free.push(buf);
  }
}

/** Whole reads shorter than this get a buffer of their own (a lent one would pin ~1 MiB). */
const LEND_FROM = 256 * 1024;

const noRelease = (): void => {};

/** Called when O_DIRECT was refused for `file` (EINVAL) and it was read buffered instead. */
export type DirectRefused = (file: string) => void;

/**
 * A store's DirectRefused: warns once, naming the directory of the first file refused, so
 * an operator learns that part of the blob directory is elsewhere (reads there are correct,
 * and slower: they go through the page cache).
 */
export function refusalWarning(root: string, warn: ((message: string) => void) | undefined): DirectRefused {
  let warned = false;
  return (file) => {
    if (warned) return;
    warned = true;
    warn?.(
      `direct reads (O_DIRECT) of blob files in ${path.dirname(file)} are refused (EINVAL) although ${root} takes them: ` +
        'such files are read buffered; is part of the blob directory on another filesystem (a link, a bind mount, a restored directory)?',
    );
  };
}

/**
 * Bytes [start, start + length) of a file in one buffer: open, one read, close, each a trip
 * to the libuv pool, where a stream adds its construction, ticks and hand-offs. For ranges
 * small enough to hold whole (about 1 MiB, at most `pool.size`). A file that ends before the
 * range is an error, as for the stream; only bytes the read filled are ever handed out. The
 * promise settles with the read; the close runs meanwhile (it cannot lose anything on a
 * descriptor opened for reading, so its error is dropped). A refused direct read is read
 * again buffered (io/direct-read.ts), and `onRefused` told.
 */
export function readFileRange(file: string, start: number, length: number, pool: ReadBufferPool, direct = false, onRefused?: DirectRefused): Promise<WholeRead> {
  return new Promise((resolve, reject) => {
    openForRead(file, direct, (err, fd, isDirect, refused) => {
      if (err) return reject(err);
      if (refused) onRefused?.(file);
      // A pool buffer has room for a direct read's widening of up to `pool.size` bytes. A
      // direct read always takes one (an aligned slot: io/aligned-slots.ts); a short one is
      // then copied out, as a lent buffer would pin ~1 MiB.
      const lent = length >= LEND_FROM && length <= pool.size;
      const pooled = lent || (isDirect && length <= pool.size);
      const buf = pooled ? pool.take() : isDirect ? rangeReadBuffer(length) : Buffer.allocUnsafeSlow(length);
      readRange(fd, isDirect, buf, start, length, function landed(readErr, data) {
        if (fd >= 0) fs.close(fd, ignore);
        fd = -1;
        if (isDirect && directRefused(readErr)) {
          // The same range through a buffered descriptor, into the same buffer (room for it at its start).
          isDirect = false;
          onRefused?.(file);
          return fs.open(file, 'r', (openErr, buffered) => {
            if (openErr) return landed(openErr, undefined);
            fd = buffered;
            readRange(fd, false, buf, start, length, landed);
          });
        }
        // A read of a regular file comes up short only at its end (readRange's error).
        if (readErr || data === undefined) {
          if (pooled) pool.give(buf);
          return reject(readErr);
        }
        if (pooled && !lent) {
          const copy = Buffer.allocUnsafeSlow(length);
          copy.set(data);
          pool.give(buf);
          return resolve({ data: copy, release: noRelease });
        }
        if (!lent) return resolve({ data, release: noRelease });
        let held = true;
        resolve({
          data,
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
  /** Read with O_DIRECT where the filesystem takes it (io/direct-read.ts): for blobs written so. */
  direct?: boolean;
  /**
   * The reader writes each chunk to a socket with lentRelease(chunk) as the write's callback
   * (io/lent.ts): a chunk read direct into an aligned slot is then lent, not copied out.
   */
  lend?: boolean;
  /** Told when O_DIRECT was refused for the file (EINVAL) and it is read buffered instead. */
  onRefused?: DirectRefused;
}

interface Slot {
  /** The buffer read into, and the bytes read (a view of it), once done. */
  buf: Buffer;
  data: Buffer | undefined;
  done: boolean;
  err: Error | null;
}

/** A slot lent to a reader as a chunk: back to the pool once, from its release or once the chunk is unreachable. */
interface Loan {
  slot: Buffer;
  held: boolean;
}

function repay(loan: Loan): void {
  if (!loan.held) return;
  loan.held = false;
  unreleased.unregister(loan);
  giveSlot(loan.slot);
}

const unreleased = new FinalizationRegistry<Loan>(repay);

export class FileRangeReader extends Readable {
  private fd = -1;
  private direct = false;
  /** After a refused direct read: the direct descriptor, closed with the buffered one (reads on it may be in flight). */
  private refusedFd = -1;
  /** While the buffered descriptor is being opened: the refused reads waiting for it (no new reads start). */
  private reopening: ((err: Error | null) => void)[] | undefined;
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
    // Object mode when lending: each chunk reaches the reader as the very Buffer pushed (a
    // byte stream may merge buffered chunks into a copy, whose release would be lost).
    super(opts.lend === true ? { objectMode: true, highWaterMark: 1 } : { highWaterMark: opts.chunk });
    this.pos = opts.start;
    this.stop = opts.end === undefined ? -1 : opts.end + 1;
  }

  override _construct(callback: (err?: Error | null) => void): void {
    openForRead(this.file, this.opts.direct === true, (err, fd, direct, refused) => {
      if (err) return callback(err);
      if (refused) this.opts.onRefused?.(this.file);
      this.fd = fd;
      this.direct = direct;
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
    while (this.wanted && this.inFlight < this.opts.depth && this.pos < this.stop && this.closing === undefined && this.reopening === undefined) {
      const len = Math.min(this.opts.chunk, this.stop - this.pos);
      const direct = this.direct;
      // A direct read goes into an aligned slot (lent to the reader, or copied out of), else
      // into a buffer of its own per chunk: the consumer may keep it.
      const buf = direct ? takeSlot(len) ?? rangeReadBuffer(len) : Buffer.allocUnsafeSlow(len);
      const slot: Slot = { buf, data: undefined, done: false, err: null };
      const at = this.pos;
      this.pos += len;
      this.queue.push(slot);
      this.inFlight++;
      readRange(this.fd, direct, buf, at, len, (err, data) => {
        if (direct && directRefused(err) && this.closing === undefined) return this.readBuffered(slot, at, len);
        this.landed(slot, err, data);
      });
    }
    if (this.pos >= this.stop && this.queue.length === 0 && this.closing === undefined) this.push(null);
  }

  private landed(slot: Slot, err: Error | null, data: Buffer | undefined): void {
    this.inFlight--;
    slot.done = true;
    slot.err = err;
    slot.data = data;
    if (this.closing !== undefined) return this.closeIfIdle();
    this.deliver();
  }

  /**
   * A direct read of this range was refused (EINVAL): reads it again into the same buffer
   * through a buffered descriptor of the file, opened by the first such refusal; every later
   * read is buffered. The read stays in flight meanwhile, so the stream cannot close under it.
   */
  private readBuffered(slot: Slot, at: number, len: number): void {
    const retry = (err: Error | null): void => {
      if (err !== null || this.closing !== undefined) return this.landed(slot, err, undefined);
      readRange(this.fd, false, slot.buf, at, len, (e, data) => this.landed(slot, e, data));
    };
    if (!this.direct) return retry(null);
    if (this.reopening !== undefined) return void this.reopening.push(retry);
    this.reopening = [retry];
    this.opts.onRefused?.(this.file);
    fs.open(this.file, 'r', (err, fd) => {
      const waiting = this.reopening!;
      this.reopening = undefined;
      if (!err) {
        this.refusedFd = this.fd;
        this.fd = fd;
        this.direct = false;
      }
      for (const w of waiting) w(err);
    });
  }

  /** Pushes the chunks that are complete, in order; then reads more if the consumer still wants it. */
  private deliver(): void {
    while (this.queue.length > 0 && this.queue[0]!.done) {
      const slot = this.queue.shift()!;
      // A read of a regular file comes up short only at its end: readRange's error.
      if (slot.err || slot.data === undefined) {
        giveSlot(slot.buf);
        return void this.destroy(slot.err ?? new Error('the file ended before the range read'));
      }
      this.wanted = this.push(this.handOut(slot.buf, slot.data));
    }
    this.fill();
  }

  /** The chunk the reader gets: a slot's bytes lent (given back from its release) or copied out; any other buffer as it is. */
  private handOut(buf: Buffer, data: Buffer): Buffer {
    if (!isSlot(buf)) return data;
    if (this.opts.lend === true) {
      const loan: Loan = { slot: buf, held: true };
      // Node calls a socket write's callback, with or without an error, once libuv is done
      // with its buffer (or the chunk never reached it): the slot can be reused either way.
      lend(data, () => repay(loan));
      // A chunk never written (still in this stream's buffer when it was destroyed) is never
      // released: its slot comes back once nothing can reach the chunk.
      unreleased.register(data, loan, loan);
      return data;
    }
    const copy = Buffer.allocUnsafeSlow(data.length);
    copy.set(data);
    giveSlot(buf);
    return copy;
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
    // Reads done and never handed out: nobody holds their slots.
    for (const slot of this.queue.splice(0)) giveSlot(slot.buf);
    if (this.refusedFd >= 0) fs.close(this.refusedFd, ignore);
    this.refusedFd = -1;
    if (this.fd < 0) return done();
    const fd = this.fd;
    this.fd = -1;
    fs.close(fd, (e) => done(e));
  }
}
