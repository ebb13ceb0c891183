// Worker-thread side of the offloaded decryptor (offloaded-decrypt.ts, file-decrypt.ts):
// each job is one DecryptStream — the same code, the same checks — fed either with
// ciphertext chunks posted from the main thread ('open' + 'data'), or with ciphertext this
// thread reads from a file itself ('file': one read ahead through the libuv pool, into
// reused buffers, and no hop through the main thread per chunk). Plaintext goes back as
// transferred buffers, errors as their kind.

import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { Transform } from 'node:stream';
import { createDecryptStream, type DecryptStreamOptions } from './decrypt-stream.js';
import { ObjectCryptoError } from './errors.js';
import { asPartKey } from './keys.js';

export type DecryptRequest =
  | { op: 'open'; job: number; key: Uint8Array; opts: Omit<DecryptStreamOptions, 'onSegment'> }
  | { op: 'data'; job: number; buf: ArrayBuffer; offset: number; length: number }
  | { op: 'end'; job: number }
  | { op: 'cancel'; job: number }
  // A job that reads bytes [start, end] (inclusive) of `path` itself, `read` bytes at a time,
  // while the plaintext posted and not yet consumed stays under `window` bytes.
  | { op: 'file'; job: number; key: Uint8Array; opts: Omit<DecryptStreamOptions, 'onSegment'>; path: string; start: number; end: number; read: number; window: number }
  // The main thread's reader took this many more bytes of a file job's plaintext.
  | { op: 'consumed'; job: number; bytes: number };

export type DecryptReply =
  // `acks`: how many posted ciphertext chunks are now decrypted (the main thread's window), sent with their plaintext.
  | { op: 'data'; job: number; chunks: { buf: ArrayBuffer; offset: number; length: number }[]; segments: number[]; acks: number }
  | { op: 'end'; job: number; segments: number[] }
  | { op: 'error'; job: number; name: string; kind?: string; code?: string; message: string };

interface Job {
  stream: Transform;
  segments: number[];
  /** Plaintext not yet posted: sent in one message per turn of the event loop, not one per segment. */
  out: { buf: ArrayBuffer; offset: number; length: number }[];
  /** Ciphertext chunks decrypted and not yet acknowledged. */
  acks: number;
  scheduled: boolean;
  /** A file job's reading state (op 'file'); absent for jobs fed by the main thread. */
  file?: FileSource;
}

interface FileSource {
  fd: number;
  /** Next file offset to read, and one past the last. */
  pos: number;
  stop: number;
  read: number;
  window: number;
  /** Plaintext bytes posted, and consumed by the main thread's reader (its 'consumed' messages). */
  sent: number;
  consumed: number;
  /** A read is in flight (into a buffer of ours, on our descriptor: the file closes only after it). */
  reading: boolean;
  /** Chunks read and not yet decrypted, oldest first. */
  ready: Buffer[];
  /** A chunk is in the DecryptStream. */
  decrypting: boolean;
  /** The job ended (finished, failed or cancelled): close once no read is in flight. */
  closing: boolean;
}

function flushOut(job: number, j: Job): void {
  j.scheduled = false;
  if (j.out.length === 0 && j.acks === 0) return;
  const chunks = j.out.splice(0);
  if (j.file) for (const c of chunks) j.file.sent += c.length;
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

function post(m: DecryptReply, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer);
}

function fail(job: number, e: unknown): void {
  const j = jobs.get(job);
  if (!j) return;
  jobs.delete(job);
  closeFile(j);
  report(job, e);
}

function report(job: number, e: unknown): void {
  const err = e as NodeJS.ErrnoException;
  post({ op: 'error', job, name: err.name, kind: e instanceof ObjectCryptoError ? e.kind : undefined, code: typeof err.code === 'string' ? err.code : undefined, message: err.message });
}

function closeFile(j: Job): void {
  const f = j.file;
  if (!f) return;
  f.closing = true;
  for (const b of f.ready.splice(0)) recycle(b);
  if (f.reading || f.fd < 0) return;
  const fd = f.fd;
  f.fd = -1;
  fs.close(fd, () => undefined); // nothing was written through it; a failed close loses nothing
}

/** Read buffers (READ bytes each) kept for the next chunk of any job: the worker's memory stays flat. */
const spare: Buffer[] = [];
const MAX_SPARE = 8;

function readBuffer(size: number): Buffer {
  const b = spare.pop();
  return b !== undefined && b.length === size ? b : Buffer.allocUnsafeSlow(size);
}

/** Returns the read buffer under `b` (a chunk is a view of its first bytes) for reuse. */
function recycle(b: Buffer): void {
  if (spare.length < MAX_SPARE) spare.push(Buffer.from(b.buffer, 0, b.buffer.byteLength));
}

/**
 * Keeps one read of a file job in flight while the window allows: the libuv pool reads the
 * next chunk while this thread decrypts the last one, and neither waits for the main thread.
 */
function readAhead(id: number, j: Job, f: FileSource): void {
  if (f.reading || f.closing || f.pos >= f.stop || f.ready.length > 0) return;
  if (f.sent + outLength(j) - f.consumed >= f.window) return;
  const len = Math.min(f.read, f.stop - f.pos);
  const buf = readBuffer(f.read);
  const at = f.pos;
  f.pos += len;
  f.reading = true;
  readFully(f.fd, buf, len, at, (err) => {
    f.reading = false;
    if (f.closing) {
      recycle(buf);
      return closeFile(j);
    }
    if (err) return fail(id, err);
    f.ready.push(buf.subarray(0, len));
    decryptNext(id, j, f);
    readAhead(id, j, f);
  });
}

/** Reads `len` bytes at `at` into `buf`; a file that ends first is an error, as for the blob store's reader. */
function readFully(fd: number, buf: Buffer, len: number, at: number, done: (err: Error | null) => void): void {
  let got = 0;
  const next = (): void => {
    fs.read(fd, buf, got, len - got, at + got, (err, n) => {
      if (err) return done(err);
      if (n === 0) return done(new Error('the file ended before the range read'));
      got += n;
      if (got < len) return next();
      done(null);
    });
  };
  next();
}

function decryptNext(id: number, j: Job, f: FileSource): void {
  if (f.decrypting || f.closing) return;
  const chunk = f.ready.shift();
  if (chunk === undefined) {
    if (f.pos >= f.stop && !f.reading) {
      f.closing = true;
      j.stream.end();
    }
    return;
  }
  f.decrypting = true;
  // The DecryptStream is done with the chunk when the write's callback runs (it copies a
  // segment cut across chunks into its own staging buffer): then the buffer is reused.
  j.stream.write(chunk, (err) => {
    f.decrypting = false;
    recycle(chunk);
    if (err) return; // the stream's 'error' reports it
    flushOut(id, j);
    if (!jobs.has(id)) return;
    decryptNext(id, j, f);
    readAhead(id, j, f);
  });
}

function outLength(j: Job): number {
  let n = 0;
  for (const c of j.out) n += c.length;
  return n;
}

/** File jobs whose open is in flight; a cancel meanwhile removes the job, and its open then only closes the file. */
const opening = new Set<number>();

function openFile(m: Extract<DecryptRequest, { op: 'file' }>): void {
  opening.add(m.job);
  fs.open(m.path, 'r', (err, fd) => {
    if (!opening.delete(m.job)) {
      // Cancelled while the file was opening: nobody reads this job any more.
      m.key.fill(0);
      if (!err) fs.close(fd, () => undefined);
      return;
    }
    if (err) {
      m.key.fill(0);
      return report(m.job, err);
    }
    const j = open(m.job, m.key, m.opts);
    const f: FileSource = { fd, pos: m.start, stop: m.end + 1, read: m.read, window: m.window, sent: 0, consumed: 0, reading: false, ready: [], decrypting: false, closing: false };
    j.file = f;
    readAhead(m.job, j, f);
  });
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
    closeFile(entry);
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
        opening.delete(m.job);
        const j = jobs.get(m.job);
        jobs.delete(m.job);
        if (j) closeFile(j);
        j?.stream.destroy();
        break;
      }
      case 'file':
        openFile(m);
        break;
      case 'consumed': {
        const j = jobs.get(m.job);
        const f = j?.file;
        if (!j || !f) break;
        f.consumed += m.bytes;
        readAhead(m.job, j, f);
        break;
      }
    }
  } catch (e) {
    fail(m.job, e);
  }
});
