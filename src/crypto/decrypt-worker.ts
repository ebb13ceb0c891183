// Worker-thread side of the offloaded decryptor (offloaded-decrypt.ts): each job is one
// DecryptStream — the same code, the same checks — fed with ciphertext chunks posted
// from the main thread; plaintext goes back as transferred buffers, errors as their kind.

import { parentPort } from 'node:worker_threads';
import type { Transform } from 'node:stream';
import { createDecryptStream, type DecryptStreamOptions } from './decrypt-stream.js';
import { ObjectCryptoError } from './errors.js';
import { asPartKey } from './keys.js';

export type DecryptRequest =
  | { op: 'open'; job: number; key: Uint8Array; opts: Omit<DecryptStreamOptions, 'onSegment'> }
  | { op: 'data'; job: number; buf: ArrayBuffer; offset: number; length: number }
  | { op: 'end'; job: number }
  | { op: 'cancel'; job: number };

export type DecryptReply =
  // `acks`: how many posted ciphertext chunks are now decrypted (the main thread's window), sent with their plaintext.
  | { op: 'data'; job: number; chunks: { buf: ArrayBuffer; offset: number; length: number }[]; segments: number[]; acks: number }
  | { op: 'end'; job: number; segments: number[] }
  | { op: 'error'; job: number; name: string; kind?: string; message: string };

interface Job {
  stream: Transform;
  segments: number[];
  /** Plaintext not yet posted: sent in one message per turn of the event loop, not one per segment. */
  out: { buf: ArrayBuffer; offset: number; length: number }[];
  /** Ciphertext chunks decrypted and not yet acknowledged. */
  acks: number;
  scheduled: boolean;
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

function post(m: DecryptReply, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(m, transfer);
}

function fail(job: number, e: unknown): void {
  if (!jobs.delete(job)) return;
  const err = e as Error;
  post({ op: 'error', job, name: err.name, kind: e instanceof ObjectCryptoError ? e.kind : undefined, message: err.message });
}

function open(job: number, key: Uint8Array, opts: Omit<DecryptStreamOptions, 'onSegment'>): void {
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
        j?.stream.destroy();
        break;
      }
    }
  } catch (e) {
    fail(m.job, e);
  }
});
