// Decryption of a range of a local file on a decrypt worker that reads the file itself.
// The chunk-fed offloaded decryptor (offloaded-decrypt.ts) moves every ciphertext chunk
// main thread → libuv pool (the read) → main thread → worker (the decrypt) → main thread;
// on a loaded machine each of those hops waits for a core. Here the worker opens the file
// and keeps two reads ahead (the libuv pool reads chunks n+1 and n+2 into reused buffers
// while the worker decrypts chunk n). The worker runs the same decryptor (SegmentOpener: same checks,
// same errors).
//
// Plaintext comes back through a ring: up to SLOTS slots (SharedArrayBuffers of one read's
// plaintext each; a read of one slot's worth, a 1 MiB GET, takes one), lent to the job. The worker posts a slot's number once every segment in it
// authenticated, and reuses it only after the main thread frees it ('free'). So the main
// thread allocates nothing per batch (fresh ArrayBuffers arriving from a worker cost it
// major GCs), and memory stays bounded by the ring. A reader that lends (the GET path:
// `lend`) gets Buffer views of the slots and frees each when its bytes reached the socket
// (lentRelease: the response write's callback); any other reader gets copies, and the slot
// is freed as it takes them. Slots are kept for the next read only when the job ended and
// every slot came back cleanly; a stream destroyed early drops its slots (a write still in
// the socket keeps its memory alive until it completes). Destroying the stream cancels the job: the worker
// closes the file.

import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { type DecryptStreamOptions } from './decrypt-stream.js';
import { SegmentAuthError, TruncatedCiphertextError } from './errors.js';
import type { PartKey } from './keys.js';
import { SEALED_SEGMENT_SIZE, SEGMENT_SIZE } from './layout.js';
import { decryptPool } from './offloaded-decrypt.js';
import type { DecryptReply, DecryptRequest } from './decrypt-worker.js';
import { lend } from '../io/lent.js';

/** Sealed segments per read in the worker: one read's plaintext fills at most one slot. */
const SEGMENTS_PER_READ = 16;
/** Ciphertext bytes per read (16 sealed segments, as the file reader's chunks). */
const READ_BYTES = SEGMENTS_PER_READ * SEALED_SEGMENT_SIZE;
/** Plaintext bytes per slot: a whole read's. */
const SLOT_BYTES = SEGMENTS_PER_READ * SEGMENT_SIZE;
/** Slots per ring at most: the plaintext a job may have decrypted and not yet handed back (4 MiB). */
const SLOTS = 4;
/** Slots kept for reuse (16 MiB); more reads at once allocate their own, dropped when they end. */
const MAX_SPARE_SLOTS = 16;

const spareSlots: SharedArrayBuffer[] = [];

export { lentRelease } from '../io/lent.js';

export interface FileDecryptOptions {
  /** The reader writes each chunk to a socket with lentRelease(chunk) as the write's callback (no copies). */
  lend?: boolean;
}

class FileDecryptStream extends Readable {
  private readonly w: Worker;
  private readonly job: number;
  private readonly ring: SharedArrayBuffer[];
  private readonly lend: boolean;
  private finished = false;
  /** The worker will not touch the ring again (it ended, or the job was cancelled). */
  private workerDone = false;
  /** Slots lent to the reader and not yet released. */
  private out = 0;
  /** A slot came back with an error, or the stream ended early: the ring is not reused. */
  private dropRing = false;
  /** Slots copied into the reader's buffer, freed as the reader takes the copies (it paces the worker). */
  private readonly copied: number[] = [];

  constructor(partKey: PartKey, private readonly opts: DecryptStreamOptions, private readonly file: FileRange, options: FileDecryptOptions) {
    // Object mode when lending: each chunk reaches the reader as the very Buffer pushed (a
    // byte stream may merge buffered chunks into a copy, whose release would be lost).
    super({ objectMode: options.lend === true, highWaterMark: options.lend === true ? SLOTS : SLOT_BYTES });
    this.lend = options.lend === true;
    // A slot per read, up to SLOTS: one for a read of up to 16 segments.
    const slots = Math.min(SLOTS, Math.ceil((file.end - file.start + 1) / READ_BYTES));
    this.ring = Array.from({ length: Math.max(1, slots) }, () => spareSlots.pop() ?? new SharedArrayBuffer(SLOT_BYTES));
    const { job, w } = decryptPool().open({ onReply: (m) => this.onReply(m) });
    this.job = job;
    this.w = w;
    const { onSegment: _onSegment, ...plain } = opts;
    const key = new Uint8Array(partKey);
    w.postMessage({ op: 'file', job, key, opts: plain, path: file.path, start: file.start, end: file.end, direct: file.direct === true, read: READ_BYTES, ring: this.ring, slotSize: SLOT_BYTES } satisfies DecryptRequest);
    key.fill(0);
  }

  private onReply(m: DecryptReply): void {
    switch (m.op) {
      case 'slot': {
        if (this.destroyed) return;
        if (m.end) this.workerDone = true; // no 'free' for this job any more
        if (this.opts.onSegment) for (const i of m.segments) this.opts.onSegment(i);
        const view = Buffer.from(this.ring[m.slot]!, 0, m.length);
        if (!this.lend) {
          // A copy out of shared memory by fill() (one memcpy), as the worker's copy in.
          this.push(Buffer.allocUnsafeSlow(view.length).fill(view));
          this.copied.push(m.slot);
          this.pump();
          if (m.end) this.ended();
          return;
        }
        this.out++;
        let released = false;
        lend(view, (err) => {
          if (released) return;
          released = true;
          this.out--;
          if (err) this.dropRing = true;
          this.free(m.slot);
          this.recycle();
        });
        this.push(view);
        if (m.end) this.ended();
        return;
      }
      case 'end':
        if (this.opts.onSegment) for (const i of m.segments) this.opts.onSegment(i);
        this.ended();
        return;
      case 'refused':
        this.file.onDirectRefused?.(this.file.path);
        return;
      case 'error': {
        this.finished = true;
        this.workerDone = true;
        this.dropRing = true;
        decryptPool().close(this.job);
        this.destroy(replyError(m));
        return;
      }
      default:
        return;
    }
  }

  /** The worker ended the job: nothing more comes, and it no longer touches the ring. */
  private ended(): void {
    this.finished = true;
    this.workerDone = true;
    decryptPool().close(this.job);
    this.push(null);
    this.recycle();
  }

  /** Gives a slot back to the worker while its job runs. */
  private free(slot: number): void {
    if (!this.workerDone) this.w.postMessage({ op: 'free', job: this.job, slot } satisfies DecryptRequest);
  }

  /** Keeps the ring for the next read once nobody can touch it: the worker ended and every slot came back cleanly. */
  private recycle(): void {
    if (!this.workerDone || this.dropRing || this.out > 0) return;
    this.dropRing = true; // once
    for (const slot of this.ring) if (spareSlots.length < MAX_SPARE_SLOTS) spareSlots.push(slot);
  }

  /** Frees copied slots while the reader keeps up: its buffer holds at most about one slot's copy. */
  private pump(): void {
    while (this.copied.length > 0 && this.readableLength < SLOT_BYTES) this.free(this.copied.shift()!);
  }

  override _read(): void {
    // Plaintext arrives as the worker posts it; the ring's free slots, not this call, pace it.
  }

  // Every consumption from the buffer goes through read() (flowing mode too): the moment to free copied slots.
  override read(size?: number): unknown {
    const out = super.read(size);
    if (!this.lend) this.pump();
    return out;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      // The worker may still write into the ring until it reads the cancel: the ring is dropped.
      this.finished = true;
      this.workerDone = true;
      this.dropRing = true;
      this.w.postMessage({ op: 'cancel', job: this.job } satisfies DecryptRequest);
      decryptPool().close(this.job);
    } else if (this.readableLength > 0) {
      // Chunks pushed and never read: their slots never come back.
      this.dropRing = true;
    }
    callback(err);
  }
}

export interface FileRange {
  path: string;
  /** First and last (inclusive) byte of the file to read: exactly the ciphertext of the segments the read needs. */
  start: number;
  end: number;
  /** Read with O_DIRECT where the filesystem takes it: the file was written so (BlobStore.readsDirect). */
  direct?: boolean;
  /** Told when O_DIRECT was refused for the file (EINVAL) and the worker reads it buffered (BlobStore.directReadRefused). */
  onDirectRefused?: (path: string) => void;
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
export function createFileDecryptStream(partKey: PartKey, opts: DecryptStreamOptions, file: FileRange, options: FileDecryptOptions = {}): Readable {
  return new FileDecryptStream(partKey, opts, file, options);
}
