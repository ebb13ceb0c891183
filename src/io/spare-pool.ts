// Buffers kept between requests for reuse, given back once idle: the write batches of the file
// blob store (storage/file-blob-store.ts), the digest worker's batches (checksum/
// offloaded-digest.ts), the decrypt worker's ring slots (crypto/file-decrypt.ts).
//
// Why: each of those pools keeps up to 16 buffers of 1 MiB, filled by the peak of concurrent
// large requests (4 parallel 256 MiB PUTs fill two of them) and, before this, kept for the
// process's life. Measured 2026-12-07 (docs/PERFORMANCE.md): after `npm run bench -- --only s3
// --quick`, a full GC left 49 MB of ArrayBuffers on the server's main thread, 37 MB of them in
// these three pools. A steady load keeps reusing what it needs; what no request took for a
// whole sweep interval goes to the garbage collector.
//
// The sweep: the fewest buffers the pool held since the last sweep (its low-water mark) were
// never taken in that interval; the sweep drops that many from the bottom (the least recently
// used: take() pops the top). An item is so dropped after one to two intervals unused. A timer
// runs the sweep while the pool holds any; it never keeps the process alive.

/** The default sweep interval: buffers no request took for this long are dropped. */
export const SPARE_IDLE_MS = 1000;

export class SparePool<T> {
  private readonly items: T[] = [];
  /** The fewest items held since the last sweep: the bottom ones nobody took. */
  private low = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly max: number, private readonly idleMs = SPARE_IDLE_MS) {}

  /** A kept item (the most recently given), or undefined when none is kept. */
  take(): T | undefined {
    const item = this.items.pop();
    if (this.items.length < this.low) this.low = this.items.length;
    return item;
  }

  /** Keeps `item` for reuse while fewer than `max` are kept; false when it was not kept (drop it). */
  give(item: T): boolean {
    if (this.items.length >= this.max) return false;
    this.items.push(item);
    if (this.timer === undefined) {
      // The pool was empty until now (the timer stops only then): none was kept since, so far.
      this.low = 0;
      this.timer = setInterval(() => this.sweep(), this.idleMs);
      this.timer.unref();
    }
    return true;
  }

  /** Drops the items no take() reached since the last sweep (the timer's job; tests call it). */
  sweep(): void {
    this.items.splice(0, this.low);
    this.low = this.items.length;
    if (this.items.length === 0) this.stop();
  }

  /** Drops every item and stops the timer. */
  clear(): void {
    this.items.length = 0;
    this.low = 0;
    this.stop();
  }

  /** Items kept now. */
  get size(): number {
    return this.items.length;
  }

  private stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
