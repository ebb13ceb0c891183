// Decryption of a range of a local file on a decrypt worker that reads the file itself.
// The chunk-fed offloaded decryptor (offloaded-decrypt.ts) moves every ciphertext chunk
// main thread → libuv pool (the read) → main thread → worker (the decrypt) → main thread;
// on a loaded machine each of those hops waits for a core. Here the worker opens the file
// and keeps one read ahead (the libuv pool reads chunk n+1 into a reused buffer while the
// worker decrypts chunk n), then posts the plaintext: the main thread is woken once per
// batch, only to write it to the socket, and allocates nothing for ciphertext. The worker runs the same
// DecryptStream (same checks, same errors); it stops reading while WINDOW bytes of its
// plaintext are not yet taken by this stream's reader (memory stays bounded), and the
// reader's progress goes back in a 'consumed' message at most every ACK_EVERY bytes.
// Destroying the stream cancels the job: the worker closes the file.

import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { type DecryptStreamOptions } from './decrypt-stream.js';
import { SegmentAuthError, TruncatedCiphertextError } from './errors.js';
import type { PartKey } from './keys.js';
import { decryptPool } from './offloaded-decrypt.js';
import type { DecryptReply, DecryptRequest } from './decrypt-worker.js';

/** Ciphertext bytes per read in the worker (16 sealed segments, as the file reader's chunks). */
const READ_BYTES = 16 * (64 * 1024 + 16);
/** Plaintext the worker may have posted and the reader not yet taken. */
const WINDOW = 4 * 1024 * 1024;
/** The reader's progress is reported to the worker in steps of this many bytes (≤ WINDOW, or the worker would wait forever). */
const ACK_EVERY = 1024 * 1024;

export interface FileRange {
  path: string;
  /** First and last (inclusive) byte of the file to read: exactly the ciphertext of the segments the read needs. */
  start: number;
  end: number;
}

class FileDecryptStream extends Readable {
  private readonly w: Worker;
  private readonly job: number;
  private finished = false;
  /** Plaintext bytes pushed, and reported to the worker as taken. */
  private pushed = 0;
  private acked = 0;

  constructor(partKey: PartKey, private readonly opts: DecryptStreamOptions, file: FileRange) {
    super({ highWaterMark: ACK_EVERY });
    const { job, w } = decryptPool().open({ onReply: (m) => this.onReply(m) });
    this.job = job;
    this.w = w;
    const { onSegment: _onSegment, ...plain } = opts;
    const key = new Uint8Array(partKey);
    w.postMessage({ op: 'file', job, key, opts: plain, path: file.path, start: file.start, end: file.end, read: READ_BYTES, window: WINDOW } satisfies DecryptRequest);
    key.fill(0);
  }

  private onReply(m: DecryptReply): void {
    switch (m.op) {
      case 'data':
        if (this.opts.onSegment) for (const i of m.segments) this.opts.onSegment(i);
        for (const c of m.chunks) {
          this.pushed += c.length;
          this.push(Buffer.from(c.buf, c.offset, c.length));
        }
        this.report();
        return;
      case 'end':
        if (this.opts.onSegment) for (const i of m.segments) this.opts.onSegment(i);
        this.finished = true;
        decryptPool().close(this.job);
        this.push(null);
        return;
      case 'error': {
        this.finished = true;
        decryptPool().close(this.job);
        this.destroy(replyError(m));
        return;
      }
    }
  }

  /** Tells the worker how much of its plaintext the reader took, once that is ACK_EVERY bytes or more. */
  private report(): void {
    if (this.finished || this.destroyed) return;
    const taken = this.pushed - this.readableLength;
    if (taken - this.acked < ACK_EVERY) return;
    this.w.postMessage({ op: 'consumed', job: this.job, bytes: taken - this.acked } satisfies DecryptRequest);
    this.acked = taken;
  }

  override _read(): void {
    // Plaintext arrives as the worker posts it; the window, not this call, paces it.
  }

  // Every consumption from the buffer goes through read() (flowing mode too); a push into
  // an empty buffer of a flowing stream is taken at once, which onReply checks.
  override read(size?: number): unknown {
    const out = super.read(size);
    this.report();
    return out;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.finished = true;
      this.w.postMessage({ op: 'cancel', job: this.job } satisfies DecryptRequest);
      decryptPool().close(this.job);
    }
    callback(err);
  }
}

/** The error a worker reported, as its kind: the crypto errors by class, a file error with its code. */
export function replyError(m: Extract<DecryptReply, { op: 'error' }>): Error {
  if (m.kind === 'truncation') return new TruncatedCiphertextError(m.message);
  if (m.kind === 'auth') return new SegmentAuthError(m.message);
  const e = new Error(m.message) as NodeJS.ErrnoException;
  if (m.code !== undefined) e.code = m.code;
  return e;
}

/**
 * createDecryptStream's contract (same options, same errors) over bytes [start, end] of a
 * local file, which a decrypt worker reads and opens. A missing or short file errors the
 * stream like a file read would (ENOENT; 'the file ended before the range read').
 */
export function createFileDecryptStream(partKey: PartKey, opts: DecryptStreamOptions, file: FileRange): Readable {
  return new FileDecryptStream(partKey, opts, file);
}
