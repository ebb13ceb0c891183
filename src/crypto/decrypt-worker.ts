// Worker-thread side of the offloaded decryptor (offloaded-decrypt.ts, file-decrypt.ts):
// each job is one DecryptStream — the same code, the same checks — fed either with
// ciphertext chunks posted from the main thread ('open' + 'data'), or with ciphertext this
// thread reads from a file itself ('file': no hop through the main thread and the libuv
// pool per chunk). Plaintext goes back as transferred buffers, errors as their kind.

import { closeSync, openSync, readSync } from 'node:fs';
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
  /** A pump() is scheduled or a chunk is being decrypted: do not start another. */
  busy: boolean;
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
  if (!f || f.fd < 0) return;
  const fd = f.fd;
  f.fd = -1;
  try {
    closeSync(fd);
  } catch {
    // nothing was written through it; a failed close loses nothing
  }
}

/**
 * Reads and decrypts a file job's next chunk, then schedules the next one while the
 * window allows; one chunk per turn, so other jobs' chunks and messages interleave.
 * Reads are synchronous: the blob files are local and mostly in the page cache, and a hop
 * to the libuv pool and back per chunk is what this path exists to save.
 */
function pump(id: number): void {
  const j = jobs.get(id);
  const f = j?.file;
  if (!j || !f) return;
  f.busy = false;
  if (f.pos >= f.stop || f.sent + outLength(j) - f.consumed >= f.window) return;
  const len = Math.min(f.read, f.stop - f.pos);
  const buf = Buffer.allocUnsafeSlow(len);
  let got = 0;
  try {
    while (got < len) {
      const n = readSync(f.fd, buf, got, len - got, f.pos + got);
      if (n === 0) throw new Error('the file ended before the range read');
      got += n;
    }
  } catch (e) {
    return fail(id, e);
  }
  f.pos += len;
  f.busy = true;
  j.stream.write(buf, (err) => {
    if (err) return; // the stream's 'error' reports it
    flushOut(id, j);
    if (!jobs.has(id)) return;
    if (f.pos >= f.stop) {
      f.busy = false;
      j.stream.end();
    } else setImmediate(pump, id);
  });
}

function outLength(j: Job): number {
  let n = 0;
  for (const c of j.out) n += c.length;
  return n;
}

function openFile(m: Extract<DecryptRequest, { op: 'file' }>): void {
  let fd: number;
  try {
    fd = openSync(m.path, 'r');
  } catch (e) {
    m.key.fill(0);
    return report(m.job, e);
  }
  const j = open(m.job, m.key, m.opts);
  j.file = { fd, pos: m.start, stop: m.end + 1, read: m.read, window: m.window, sent: 0, consumed: 0, busy: true };
  setImmediate(pump, m.job);
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
        const f = jobs.get(m.job)?.file;
        if (!f) break;
        f.consumed += m.bytes;
        if (!f.busy) {
          f.busy = true;
          setImmediate(pump, m.job);
        }
        break;
      }
    }
  } catch (e) {
    fail(m.job, e);
  }
});
