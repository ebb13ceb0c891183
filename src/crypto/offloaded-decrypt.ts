// Decryption on another core. AES-256-GCM opens about 1.7 GB/s on one core here, and on
// the main thread it competes with moving bytes to the socket; a large read therefore
// hands its ciphertext chunks to a worker thread, which runs the same DecryptStream
// (decrypt-worker.ts) and hands the plaintext back. Chunks the file reader allocated
// are transferred, not copied; at most MAX_IN_FLIGHT_BYTES per read are outstanding,
// so memory stays bounded. Errors keep their kind (auth, truncation). Small reads stay
// on the main thread (a worker round trip costs more than they do).

import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createDecryptStream, type DecryptStreamOptions } from './decrypt-stream.js';
import { SegmentAuthError, TruncatedCiphertextError } from './errors.js';
import type { PartKey } from './keys.js';
import type { DecryptReply, DecryptRequest } from './decrypt-worker.js';

/** Reads of at least this many bytes decrypt off the main thread. */
export const OFFLOAD_DECRYPT_MIN_BYTES = 4 * 1024 * 1024;
/** Ciphertext posted to the worker and not yet decrypted, at most (two of the file reader's ~1 MiB chunks). */
const MAX_IN_FLIGHT_BYTES = 2 * 1024 * 1024;
/** Plaintext waiting for the reader beyond this stops more ciphertext going to the worker. */
const OUTPUT_HIGH_WATER = 1024 * 1024;

interface JobHandlers {
  onReply(m: DecryptReply): void;
}

export class DecryptPool {
  private readonly workers: (Worker | undefined)[] = [];
  private readonly jobs = new Map<number, JobHandlers & { w: Worker }>();
  private nextJob = 1;
  private next = 0;

  constructor(private readonly size: number) {}

  private worker(i: number): Worker {
    let w = this.workers[i];
    if (!w) {
      w = new Worker(new URL('./decrypt-worker.js', import.meta.url));
      w.on('message', (m: DecryptReply) => this.jobs.get(m.job)?.onReply(m));
      // A worker that fails or exits (out of memory, a crash) ends the reads it served with
      // an error — nothing would answer them otherwise — and the next read gets a new one.
      const dead = w;
      w.on('error', (e) => this.lost(i, dead, `decrypt worker failed: ${e.message}`));
      w.on('exit', (code) => this.lost(i, dead, `decrypt worker exited (code ${code})`));
      w.unref();
      this.workers[i] = w;
    }
    return w;
  }

  private lost(i: number, w: Worker, message: string): void {
    if (this.workers[i] === w) this.workers[i] = undefined;
    for (const [job, h] of this.jobs) if (h.w === w) h.onReply({ op: 'error', job, name: 'Error', message });
  }

  private track(): void {
    for (const w of this.workers) {
      if (!w) continue;
      if (this.jobs.size > 0) w.ref();
      else w.unref();
    }
  }

  open(handlers: JobHandlers): { job: number; w: Worker } {
    const job = this.nextJob++;
    const w = this.worker(this.next++ % this.size);
    this.jobs.set(job, { onReply: (m) => handlers.onReply(m), w });
    this.track();
    return { job, w };
  }

  close(job: number): void {
    if (this.jobs.delete(job)) this.track();
  }

  /** Terminates the workers, as a crash would (tests). */
  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.filter((w) => w !== undefined).map((w) => w.terminate()));
  }

  /** Jobs open now (tests check that a cancelled read leaves none behind). */
  get openJobs(): number {
    return this.jobs.size;
  }
}

let pool: DecryptPool | undefined;

/** Terminates the decrypt workers as if they had died (tests: the reads they served must fail, the next ones work). */
export async function stopDecryptWorkers(): Promise<void> {
  await pool?.stopWorkers();
}

/** The process's decrypt workers (one fewer than the cores, at least one), started on first use. */
export function decryptPool(): DecryptPool {
  pool ??= new DecryptPool(Math.max(1, availableParallelism() - 1));
  return pool;
}

class OffloadedDecryptStream extends Transform {
  private readonly w: Worker;
  private readonly job: number;
  /** Sizes of the chunks posted and not yet acknowledged, oldest first (the worker acknowledges in order). */
  private readonly inFlight: number[] = [];
  private inFlightBytes = 0;
  private waiting: TransformCallback | undefined;
  private flushed: TransformCallback | undefined;
  private finished = false;

  constructor(partKey: PartKey, private readonly opts: DecryptStreamOptions) {
    super({ readableHighWaterMark: OUTPUT_HIGH_WATER });
    const { job, w } = decryptPool().open({ onReply: (m) => this.onReply(m) });
    this.job = job;
    this.w = w;
    const { onSegment: _onSegment, ...plain } = opts;
    const key = new Uint8Array(partKey);
    w.postMessage({ op: 'open', job, key, opts: plain } satisfies DecryptRequest);
    key.fill(0);
  }

  private count(segments: number[]): void {
    if (this.opts.onSegment) for (const i of segments) this.opts.onSegment(i);
  }

  private onReply(m: DecryptReply): void {
    switch (m.op) {
      case 'data':
        this.count(m.segments);
        for (const c of m.chunks) this.push(Buffer.from(c.buf, c.offset, c.length));
        for (let i = 0; i < m.acks; i++) this.inFlightBytes -= this.inFlight.shift() ?? 0;
        this.release();
        return;
      case 'end':
        this.count(m.segments);
        this.finished = true;
        pool!.close(this.job);
        this.flushed?.();
        return;
      case 'error': {
        pool!.close(this.job);
        const err = m.kind === 'truncation' ? new TruncatedCiphertextError(m.message) : m.kind === 'auth' ? new SegmentAuthError(m.message) : new Error(m.message);
        this.destroy(err);
        return;
      }
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    // The file reader gives each chunk its own memory: transfer it; anything else is copied.
    const own = chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length;
    const b = own ? chunk : Buffer.from(chunk);
    this.inFlight.push(b.length);
    this.inFlightBytes += b.length;
    postTransferring(this.w, { op: 'data', job: this.job, buf: b.buffer as ArrayBuffer, offset: b.byteOffset, length: b.length } satisfies DecryptRequest);
    this.waiting = callback;
    this.release();
  }

  /** Lets the next chunk in while the worker has room and the reader keeps up (bounded memory). */
  private release(): void {
    if (!this.waiting || this.inFlightBytes >= MAX_IN_FLIGHT_BYTES || this.readableLength >= OUTPUT_HIGH_WATER) return;
    const cb = this.waiting;
    this.waiting = undefined;
    cb();
  }

  // Every consumption goes through read() (flowing mode too): the moment to let more in.
  // (_read alone is not enough: the reader may drain the buffer without calling it again.)
  override read(size?: number): unknown {
    const out = super.read(size);
    this.release();
    return out;
  }

  override _flush(callback: TransformCallback): void {
    if (this.finished) return callback();
    this.flushed = callback;
    this.w.postMessage({ op: 'end', job: this.job } satisfies DecryptRequest);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.finished) {
      this.w.postMessage({ op: 'cancel', job: this.job } satisfies DecryptRequest);
      pool?.close(this.job);
    }
    callback(err);
  }
}

/**
 * createDecryptStream's contract (same options, same errors), decrypting on a worker
 * thread when the read is at least OFFLOAD_DECRYPT_MIN_BYTES of plaintext.
 */
export function createReadDecryptStream(partKey: PartKey, opts: DecryptStreamOptions): Transform {
  const length = opts.length ?? opts.plaintextSize;
  if (length < OFFLOAD_DECRYPT_MIN_BYTES) return createDecryptStream(partKey, opts);
  return new OffloadedDecryptStream(partKey, opts);
}

/**
 * Posts `m` with `buf` in its transfer list when this Node lets that memory move (Node 20
 * does for the file reader's and the decipher's buffers; newer Nodes mark Buffer memory
 * untransferable): otherwise a copy into fresh, transferable memory goes instead.
 */
export function postTransferring<T extends { buf: ArrayBuffer; offset: number; length: number }>(
  port: { postMessage(m: unknown, transfer: ArrayBuffer[]): void },
  m: T,
): void {
  if (transferable) {
    try {
      port.postMessage(m, [m.buf]);
      return;
    } catch (e) {
      if ((e as Error).name !== 'DataCloneError') throw e;
      transferable = false;
    }
  }
  const copy = new ArrayBuffer(m.length);
  new Uint8Array(copy).set(new Uint8Array(m.buf, m.offset, m.length));
  port.postMessage({ ...m, buf: copy, offset: 0 }, [copy]);
}
let transferable = true;
