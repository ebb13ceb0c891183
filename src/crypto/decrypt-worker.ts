// Worker-thread side of the offloaded decryptor (offloaded-decrypt.ts, file-decrypt.ts):
// each job is one DecryptStream — the same code, the same checks — fed either with
// ciphertext chunks posted from the main thread ('open' + 'data'), or with ciphertext this
// thread reads from a file itself ('file': two reads ahead through the libuv pool, into
// reused buffers, and no hop through the main thread per chunk). A chunk-fed job's
// plaintext goes back as transferred buffers; a file job's is copied into a slot of the
// ring (a SharedArrayBuffer) the main thread lent it, and only the slot's number and
// length are posted — once every segment in the slot authenticated. Errors go back as
// their kind.

import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { Transform } from 'node:stream';
import { createDecryptStream, SegmentOpener, type DecryptStreamOptions } from './decrypt-stream.js';
import { discard } from './discard.js';
import { ObjectCryptoError } from './errors.js';
import { asPartKey } from './keys.js';
import { directRefused, openForReadSync, rangeReadBuffer, rangeReadCapacity, readRange } from '../io/direct-read.js';
import { giveSlot, isSlot, takeSlot } from '../io/aligned-slots.js';

export type DecryptRequest =
  | { op: 'open'; job: number; key: Uint8Array; opts: Omit<DecryptStreamOptions, 'onSegment'> }
  | { op: 'data'; job: number; buf: ArrayBuffer; offset: number; length: number }
  | { op: 'end'; job: number }
  | { op: 'cancel'; job: number }
  // A job that reads bytes [start, end] (inclusive) of `path` itself, `read` bytes at a time
  // (whole sealed segments: the plaintext of one read fits one slot), and writes the
  // plaintext into the slots of `ring` (`slotSize` bytes each), one read per slot. A read
  // starts only when a slot is free for it.
  // `direct`: read with O_DIRECT where the filesystem takes it (io/direct-read.ts).
  | { op: 'file'; job: number; key: Uint8Array; opts: Omit<DecryptStreamOptions, 'onSegment'>; path: string; start: number; end: number; direct: boolean; read: number; ring: SharedArrayBuffer[]; slotSize: number }
  // The main thread is done with this slot of a file job's ring (its bytes reached the socket, or were copied).
  | { op: 'free'; job: number; slot: number };

export type DecryptReply =
  // `acks`: how many posted ciphertext chunks are now decrypted (the main thread's window), sent with their plaintext.
  | { op: 'data'; job: number; chunks: { buf: ArrayBuffer; offset: number; length: number }[]; segments: number[]; acks: number }
  // A file job's slot holds `length` bytes of authenticated plaintext, the next in order;
  // `end`: the last, and the job is over (as an 'end' message after it would say).
  | { op: 'slot'; job: number; slot: number; length: number; segments: number[]; end?: true }
  | { op: 'end'; job: number; segments: number[] }
  | { op: 'error'; job: number; name: string; kind?: string; code?: string; message: string }
  // A file job's file refused O_DIRECT (EINVAL, at its open or a read): it is read buffered (io/direct-read.ts).
  | { op: 'refused'; job: number };

interface Job {
  stream: Transform;
  segments: number[];
  /** Plaintext not yet posted: sent in one message per turn of the event loop, not one per segment. */
  out: { buf: ArrayBuffer; offset: number; length: number }[];
  /** Ciphertext chunks decrypted and not yet acknowledged. */
  acks: number;
  scheduled: boolean;
}

/** A file job (op 'file'): its file, its ring, and the decryptor it drives directly. */
interface FileJob {
  id: number;
  opener: SegmentOpener;
  partKey: Buffer;
  segments: number[];
  path: string;
  fd: number;
  /** The descriptor reads with O_DIRECT. */
  direct: boolean;
  /** Next file offset to read, and one past the last. */
  pos: number;
  stop: number;
  read: number;
  /** The lent ring, its free slots, and the slot the chunk being decrypted fills (and how far). */
  ring: Buffer[];
  slotSize: number;
  free: number[];
  slot: number;
  filled: number;
  /** Reads in flight (into buffers of ours, on our descriptors: the file closes only after them). */
  reading: number;
  /** Reads started and not yet moved to `ready`, in file order. */
  reads: PendingRead[];
  /** Direct descriptors replaced by a buffered one after a refusal: closed with the file. */
  refusedFds: number[];
  /** Chunks read and not yet decrypted, oldest first, each with the slot its plaintext goes to. */
  ready: { buf: Buffer; slot: number }[];
  /** A decrypt of a ready chunk is scheduled. */
  scheduled: boolean;
  /** The opener's output: copies plaintext into the current slot. */
  toSlot: (pt: Buffer) => void;
  /** The job ended (finished, failed or cancelled): close once no read is in flight. */
  closing: boolean;
}

function flushOut(job: number, j: Job): void {
  j.scheduled = false;
  if (j.out.length === 0 && j.acks === 0) return;
  const chunks = j.out.splice(0);
  const m: DecryptReply = { op: 'data', job, chunks, segments: j.segments.splice(0), acks: j.acks };
  j.acks = 0;
  if (transferable) {
    try {
      post(m, chunks.map((c) => c.buf));
      return;
    } catch (e) {
      if ((e as Error).name !== 'DataCloneError') throw e;
      transferable = false; // newer Nodes mark Buffer memory untransferable: copy instead
    }
  }
  const copies = chunks.map((c) => copyOut(c));
  post({ ...m, chunks: copies }, copies.map((c) => c.buf));
}
let transferable = true;

function copyOut(c: { buf: ArrayBuffer; offset: number; length: number }): { buf: ArrayBuffer; offset: number; length: number } {
  const copy = new ArrayBuffer(c.length);
  new Uint8Array(copy).set(new Uint8Array(c.buf, c.offset, c.length));
  return { buf: copy, offset: 0, length: c.length };
}

const jobs = new Map<number, Job>();
const files = new Map<number, FileJob>();

function post(m: DecryptReply, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer);
}

function fail(job: number, e: unknown): void {
  const j = jobs.get(job);
  if (!j) return;
  jobs.delete(job);
  report(job, e);
}

function report(job: number, e: unknown): void {
  const err = e as NodeJS.ErrnoException;
  post({ op: 'error', job, name: err.name, kind: e instanceof ObjectCryptoError ? e.kind : undefined, code: typeof err.code === 'string' ? err.code : undefined, message: err.message });
}

/** Ends a file job (finished, failed or cancelled): its key wiped, its file closed once no read is in flight. */
function endFile(f: FileJob): void {
  files.delete(f.id);
  f.closing = true;
  f.partKey.fill(0);
  for (const r of f.ready.splice(0)) recycle(r.buf);
  // Reads still in flight give their buffers back as they land (closing); landed ones now.
  for (const r of f.reads.splice(0)) {
    if (!r.done) continue;
    owners.set(r.buf, r.buf);
    recycle(r.buf);
  }
  closeFd(f);
}

function closeFd(f: FileJob): void {
  if (f.reading > 0 || f.fd < 0) return;
  const fd = f.fd;
  f.fd = -1;
  closeQuietly(fd);
  for (const old of f.refusedFds.splice(0)) closeQuietly(old);
}

/** Closes a descriptor this thread only read through: a failed close loses nothing. Synchronous, as the open (openFile). */
function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // nothing was written through it
  }
}

function failFile(f: FileJob, e: unknown): void {
  if (f.closing) return;
  endFile(f);
  report(f.id, e);
}

/** Read buffers (room for READ bytes read direct each) kept for the next chunk of any job: the worker's memory stays flat. */
const spare: Buffer[] = [];
const MAX_SPARE = 8;

/** A buffer for a read of up to `size` bytes: an aligned slot (io/aligned-slots.ts) while one is free, for direct reads. */
function readBuffer(size: number): Buffer {
  const b = takeSlot(size) ?? spare.pop();
  return b !== undefined && b.length >= rangeReadCapacity(size) ? b : rangeReadBuffer(size);
}

/** Returns the read buffer a chunk is a view of for reuse. */
function recycle(b: Buffer): void {
  const owner = owners.get(b);
  if (owner === undefined) return;
  owners.delete(b);
  if (isSlot(owner)) giveSlot(owner);
  else if (spare.length < MAX_SPARE) spare.push(owner);
}

/** Chunks (views of what was read) to the buffer they were read into. */
const owners = new WeakMap<Buffer, Buffer>();

/**
 * Keeps up to READS_AHEAD reads of a file job in flight while slots are free for their
 * plaintext: the libuv pool reads the next chunks while this thread decrypts the last one,
 * and neither waits for the main thread. Each read takes its slot when it starts, so the
 * ring bounds the reads too. Reads may land out of order; their chunks are decrypted in
 * file order (`reads` keeps them until every earlier one landed).
 */
function readAhead(f: FileJob): void {
  while (f.reading < READS_AHEAD && !f.closing && f.pos < f.stop && f.free.length > 0) startRead(f);
}

/**
 * Reads of one file job in flight at once. With one, a single stream's rate was the read's
 * latency (an O_DIRECT read of ~1 MiB at queue depth 1): 256 MiB SSE-S3 GETs measured 1.34×
 * and SSE-KMS 1.09× with two (docs/PERFORMANCE.md); three measured as two. A 1 MiB GET is one read.
 */
const READS_AHEAD = 2;

function startRead(f: FileJob): void {
  const slot = f.free.pop()!;
  const len = Math.min(f.read, f.stop - f.pos);
  const buf = readBuffer(f.read);
  const at = f.pos;
  f.pos += len;
  f.reading++;
  const read: PendingRead = { buf, slot, data: undefined, err: null, done: false };
  f.reads.push(read);
  let direct = f.direct;
  // A file that ends first is an error, as for the blob store's reader.
  readRange(f.fd, direct, buf, at, len, function landed(err, data) {
    if (direct && !f.closing && directRefused(err)) {
      // Refused direct (EINVAL): this range and the rest through a buffered descriptor. The
      // direct one may still have the other read on it: it closes when the job ends.
      direct = false;
      if (f.direct) {
        let fd: number;
        try {
          fd = fs.openSync(f.path, 'r');
        } catch (e) {
          // The open's error is the job's (the other read, refused too, finds the job failed).
          return landed(e as Error, undefined);
        }
        f.direct = false;
        f.refusedFds.push(f.fd);
        f.fd = fd;
        post({ op: 'refused', job: f.id });
      }
      return readRange(f.fd, false, buf, at, len, landed);
    }
    f.reading--;
    read.done = true;
    read.err = err;
    read.data = data;
    if (f.closing) {
      owners.set(buf, buf);
      recycle(buf);
      return closeFd(f);
    }
    // Chunks in file order: this read waits for every earlier one.
    while (f.reads[0]?.done === true) {
      const r = f.reads.shift()!;
      if (r.err || r.data === undefined) {
        owners.set(r.buf, r.buf);
        recycle(r.buf);
        return failFile(f, r.err);
      }
      owners.set(r.data, r.buf);
      f.ready.push({ buf: r.data, slot: r.slot });
    }
    readAhead(f);
    decryptNext(f);
  });
}

/** A read of a file job, from its start until its chunk moves to `ready` (in file order). */
interface PendingRead {
  buf: Buffer;
  slot: number;
  data: Buffer | undefined;
  err: Error | null;
  done: boolean;
}

/**
 * Decrypts the oldest chunk read into its slot and posts the slot: every segment in it
 * authenticated (a segment that does not ends the job with its error, and nothing of the
 * slot is posted). Then the next read can take the chunk's buffer.
 */
function decryptNext(f: FileJob): void {
  if (f.closing) return;
  const next = f.ready.shift();
  if (next === undefined) {
    if (f.pos >= f.stop && f.reading === 0) finishFile(f);
    return;
  }
  f.slot = next.slot;
  f.filled = 0;
  try {
    f.opener.update(next.buf, f.toSlot);
  } catch (e) {
    recycle(next.buf);
    return failFile(f, e);
  }
  recycle(next.buf);
  if (f.ready.length === 0 && f.pos >= f.stop && f.reading === 0) return finishFile(f, next.slot);
  if (f.filled > 0) post({ op: 'slot', job: f.id, slot: next.slot, length: f.filled, segments: f.segments.splice(0) });
  else f.free.push(next.slot);
  readAhead(f);
  // One chunk per turn of the event loop: a 'free' or 'cancel' gets in between.
  if (f.ready.length > 0 || (f.pos >= f.stop && f.reading === 0)) schedule(f);
}

function schedule(f: FileJob): void {
  if (f.scheduled) return;
  f.scheduled = true;
  setImmediate(() => {
    f.scheduled = false;
    decryptNext(f);
  });
}

/** The last chunk is decrypted (into `slot`, when given): the read must be whole; its last slot and its end go in one message. */
function finishFile(f: FileJob, slot?: number): void {
  try {
    f.opener.final();
  } catch (e) {
    return failFile(f, e);
  }
  endFile(f);
  const segments = f.segments.splice(0);
  if (slot !== undefined && f.filled > 0) post({ op: 'slot', job: f.id, slot, length: f.filled, segments, end: true });
  else post({ op: 'end', job: f.id, segments });
}

/**
 * Starts a file job. The file is opened (and later closed) synchronously: on this thread of
 * its own that is a system call of a few microseconds, where a trip through the libuv pool
 * cost more in wake-ups of both threads than the call itself. Reads stay asynchronous (one
 * ahead while this thread decrypts).
 */
function openFile(m: Extract<DecryptRequest, { op: 'file' }>): void {
  let fd: number;
  let direct: boolean;
  let refused: boolean;
  try {
    ({ fd, direct, refused } = openForReadSync(m.path, m.direct));
  } catch (err) {
    m.key.fill(0);
    return report(m.job, err);
  }
  const partKey = asPartKey(Buffer.from(m.key));
  m.key.fill(0);
  const segments: number[] = [];
  let opener: SegmentOpener;
  try {
    opener = new SegmentOpener(partKey, { ...m.opts, onSegment: (i) => segments.push(i) });
  } catch (e) {
    partKey.fill(0);
    closeQuietly(fd);
    return report(m.job, e);
  }
  const ring = m.ring.map((sab) => Buffer.from(sab));
  const f: FileJob = {
    id: m.job, opener, partKey, segments, path: m.path, fd, direct, pos: m.start, stop: m.end + 1, read: m.read,
    ring, slotSize: m.slotSize, free: [], slot: -1, filled: 0, reading: 0, reads: [], refusedFds: [], ready: [], scheduled: false, closing: false,
    // A read's plaintext fits its slot (the main thread sized the slots for whole reads); a check all the same.
    toSlot: (pt) => {
      if (f.filled + pt.length > f.slotSize) throw new RangeError("a read's plaintext overflows its ring slot");
      // fill() with a buffer is one native memcpy; copy() (TypedArray set) into shared memory
      // goes through V8's word-at-a-time relaxed-atomic move, which cost half as much as the AES.
      if (pt.length > 0) ring[f.slot]!.fill(pt, f.filled, f.filled + pt.length);
      f.filled += pt.length;
      discard(pt);
    },
  };
  for (let i = ring.length - 1; i >= 0; i--) f.free.push(i);
  files.set(m.job, f);
  if (refused) post({ op: 'refused', job: m.job });
  readAhead(f);
}

function open(job: number, key: Uint8Array, opts: Omit<DecryptStreamOptions, 'onSegment'>): Job {
  const partKey = asPartKey(Buffer.from(key));
  key.fill(0);
  const segments: number[] = [];
  const stream = createDecryptStream(partKey, { ...opts, onSegment: (i) => segments.push(i) });
  const entry: Job = { stream, segments, out: [], acks: 0, scheduled: false };
  jobs.set(job, entry);
  stream.on('data', (pt: Buffer) => {
    // Plaintext buffers come from the decipher, each with its own memory: transfer it.
    // A view (a range's first or last segment) is copied.
    const own = pt.byteOffset === 0 && pt.buffer.byteLength === pt.length;
    const out = own ? pt : Buffer.from(pt);
    entry.out.push({ buf: out.buffer as ArrayBuffer, offset: out.byteOffset, length: out.length });
    if (!entry.scheduled) {
      entry.scheduled = true;
      setImmediate(() => flushOut(job, entry));
    }
  });
  stream.on('end', () => {
    jobs.delete(job);
    partKey.fill(0);
    flushOut(job, entry);
    post({ op: 'end', job, segments: entry.segments.splice(0) });
  });
  stream.on('error', (e) => {
    partKey.fill(0);
    fail(job, e);
  });
  return entry;
}

parentPort?.on('message', (m: DecryptRequest) => {
  try {
    switch (m.op) {
      case 'open':
        open(m.job, m.key, m.opts);
        break;
      case 'data': {
        // Acknowledged once decrypted (the write callback), so the main thread's window
        // counts chunks not yet turned into plaintext: memory stays bounded. The
        // acknowledgement goes in the message that carries the chunk's plaintext.
        const j = jobs.get(m.job);
        if (j) {
          j.stream.write(Buffer.from(m.buf, m.offset, m.length), () => {
            j.acks++;
            flushOut(m.job, j);
          });
        }
        else post({ op: 'data', job: m.job, chunks: [], segments: [], acks: 1 });
        break;
      }
      case 'end':
        jobs.get(m.job)?.stream.end();
        break;
      case 'cancel': {
        const f = files.get(m.job);
        if (f) endFile(f);
        const j = jobs.get(m.job);
        jobs.delete(m.job);
        j?.stream.destroy();
        break;
      }
      case 'file':
        openFile(m);
        break;
      case 'free': {
        const f = files.get(m.job);
        if (!f) break;
        f.free.push(m.slot);
        readAhead(f);
        break;
      }
    }
  } catch (e) {
    const f = files.get(m.job);
    if (f) failFile(f, e);
    else fail(m.job, e);
  }
});
