// BodyDigest on another core. MD5 (the S3 ETag) runs at about 700 MB/s on one core and
// would otherwise cap a single upload stream; large bodies are therefore hashed on a
// worker thread while the main thread moves bytes between the socket and the disk.
// Bytes are copied into 1 MiB batches that are transferred (not copied again) to the
// worker and handed back for reuse; at most MAX_IN_FLIGHT batches per body are
// outstanding, so memory stays bounded. Small bodies are hashed inline (a worker
// round trip would cost more than the hashing). MD5 and the checksum of one body run in
// one job: splitting them over the pool's two workers (each with its own copy of every
// batch) was measured slower on this shared 2-core machine (0.90× a 256 MiB PUT, +9% server
// CPU per MiB, interleaved, load average ~21): a third busy thread only adds switches there.

import { Worker } from 'node:worker_threads';
import { BodyDigest, type BodyDigestOptions, type BodyDigestResult } from './body-digest.js';
import type { DigestReply, DigestRequest } from './digest-worker.js';

/**
 * Bodies at least this large (when their size is announced) are hashed off the main thread.
 * 1 MiB PUTs at 8 in flight are bound by the main thread, where MD5 alone took 28% of its
 * samples: hashing them on the pool measured 1.38× unencrypted, 1.55× SSE-S3, 1.14× SSE-KMS
 * (CRC64NVME only) on a quiet machine (docs/PERFORMANCE.md). 256 KiB bodies gained 1.05–1.10×
 * for 13–31% more server CPU per MiB, so smaller bodies stay inline.
 */
export const OFFLOAD_MIN_BYTES = 1024 * 1024;
const BATCH = 1024 * 1024;
const MAX_IN_FLIGHT = 4;

export interface Digest {
  update(chunk: Buffer): void | Promise<void>;
  finish(): Promise<BodyDigestResult>;
  cancel(): void;
}

class InlineDigest implements Digest {
  private readonly d: BodyDigest;
  constructor(opts: BodyDigestOptions) {
    this.d = new BodyDigest(opts);
  }
  update(chunk: Buffer): void {
    this.d.update(chunk);
  }
  async finish(): Promise<BodyDigestResult> {
    return this.d.finish();
  }
  cancel(): void {}
}

interface Pending {
  /** The worker running the job: its death fails the job. */
  w: Worker;
  /** Updates waiting for a batch to come back, oldest first. */
  acks: { resolve: () => void; reject: (e: Error) => void }[];
  done?: (r: BodyDigestResult) => void;
  fail?: (e: Error) => void;
}

class DigestPool {
  private readonly workers: (Worker | undefined)[] = [];
  private readonly spare: ArrayBuffer[] = [];
  private readonly jobs = new Map<number, Pending & { inFlight: number }>();
  private nextJob = 1;
  private next = 0;

  constructor(private readonly size: number) {}

  private worker(i: number): Worker {
    if (!this.workers[i]) {
      const w = new Worker(new URL('./digest-worker.js', import.meta.url));
      w.on('message', (m: DigestReply) => this.onReply(m));
      // A worker that fails or exits (out of memory, a crash) takes its jobs with it: each
      // fails — a waiting update, a waiting finish, or the next call — and the next job
      // gets a new worker. Nothing would ever answer them otherwise.
      w.on('error', (e) => this.lost(i, w, new Error(`digest worker failed: ${e.message}`)));
      w.on('exit', (code) => this.lost(i, w, new Error(`digest worker exited (code ${code})`)));
      // An idle pool must never keep the process alive; a busy one must (see track()).
      if (this.jobs.size === 0) w.unref();
      this.workers[i] = w;
    }
    return this.workers[i]!;
  }

  private lost(i: number, w: Worker, e: Error): void {
    if (this.workers[i] === w) this.workers[i] = undefined;
    for (const [job, p] of this.jobs) {
      if (p.w !== w) continue;
      this.jobs.delete(job);
      for (const a of p.acks.splice(0)) a.reject(e);
      p.fail?.(e);
    }
    this.track();
  }

  /** Workers are ref'd while any job runs, so awaiting a digest keeps the process alive. */
  private track(): void {
    for (const w of this.workers) {
      if (!w) continue;
      if (this.jobs.size > 0) w.ref();
      else w.unref();
    }
  }

  private onReply(m: DigestReply): void {
    const p = this.jobs.get(m.job);
    if (m.op === 'ack') {
      if (this.spare.length < 16) this.spare.push(m.buf);
      if (!p) return;
      p.inFlight--;
      p.acks.shift()?.resolve();
    } else if (m.op === 'done') {
      this.jobs.delete(m.job);
      this.track();
      p?.done?.({ size: m.size, md5: buf(m.md5), checksum: buf(m.checksum), extra: buf(m.extra), sha256: buf(m.sha256) });
    } else {
      this.jobs.delete(m.job);
      this.track();
      p?.fail?.(new Error(m.message));
    }
  }

  start(opts: BodyDigestOptions): OffloadedDigest {
    const job = this.nextJob++;
    const w = this.worker(this.next++ % this.size);
    this.jobs.set(job, { w, acks: [], inFlight: 0 });
    this.track();
    w.postMessage({ op: 'start', job, opts } satisfies DigestRequest);
    return new OffloadedDigest(this, w, job);
  }

  /** @internal Terminates the workers, as a crash would (tests). */
  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.filter((w) => w !== undefined).map((w) => w.terminate()));
  }

  /** @internal Jobs started and not yet finished or cancelled (tests: none may be left behind). */
  get running(): number {
    return this.jobs.size;
  }

  /** @internal */
  takeBuffer(): ArrayBuffer {
    return this.spare.pop() ?? new ArrayBuffer(BATCH);
  }

  /** @internal Posts a batch; resolves when fewer than MAX_IN_FLIGHT batches of this job are outstanding. */
  send(w: Worker, job: number, ab: ArrayBuffer, length: number): Promise<void> | void {
    const p = this.jobs.get(job);
    if (!p) throw new Error('digest job is gone');
    p.inFlight++;
    w.postMessage({ op: 'update', job, buf: ab, length } satisfies DigestRequest, [ab]);
    if (p.inFlight < MAX_IN_FLIGHT) return;
    return new Promise<void>((resolve, reject) => p.acks.push({ resolve, reject }));
  }

  /** @internal */
  finish(w: Worker, job: number): Promise<BodyDigestResult> {
    const p = this.jobs.get(job);
    if (!p) return Promise.reject(new Error('digest job is gone'));
    return new Promise<BodyDigestResult>((resolve, reject) => {
      p.done = resolve;
      p.fail = reject;
      w.postMessage({ op: 'finish', job } satisfies DigestRequest);
    });
  }

  /** @internal */
  cancel(w: Worker, job: number): void {
    if (!this.jobs.delete(job)) return;
    this.track();
    w.postMessage({ op: 'cancel', job } satisfies DigestRequest);
  }
}

function buf(u?: Uint8Array): Buffer | undefined {
  return u ? Buffer.from(u.buffer, u.byteOffset, u.byteLength) : undefined;
}

class OffloadedDigest implements Digest {
  private batch: Buffer | undefined;
  private used = 0;

  constructor(
    private readonly pool: DigestPool,
    private readonly w: Worker,
    private readonly job: number,
  ) {}

  async update(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      this.batch ??= Buffer.from(this.pool.takeBuffer());
      const n = chunk.copy(this.batch, this.used, off);
      off += n;
      this.used += n;
      if (this.used === BATCH) await this.post();
    }
  }

  private post(): Promise<void> | void {
    const b = this.batch!;
    const length = this.used;
    this.batch = undefined;
    this.used = 0;
    return this.pool.send(this.w, this.job, b.buffer as ArrayBuffer, length);
  }

  async finish(): Promise<BodyDigestResult> {
    if (this.used > 0) await this.post();
    return this.pool.finish(this.w, this.job);
  }

  cancel(): void {
    this.pool.cancel(this.w, this.job);
  }
}

let pool: DigestPool | undefined;

/** Digest jobs on the pool not yet finished or cancelled: each keeps the pool's workers ref'd (tests). */
export function pooledDigestJobs(): number {
  return pool?.running ?? 0;
}

/** Terminates the pool's workers as if they had died (tests: the digests they ran must fail, the next ones work). */
export async function stopDigestWorkers(): Promise<void> {
  await pool?.stopWorkers();
}

/** A digest for a body of the announced size: off the main thread when it is large. */
export function createDigest(opts: BodyDigestOptions, announcedSize: number | undefined): Digest {
  if (announcedSize === undefined || announcedSize < OFFLOAD_MIN_BYTES) return new InlineDigest(opts);
  pool ??= new DigestPool(2);
  return pool.start(opts);
}
