// A periodic job of the audit layer (delivery.ts, pg-delivery.ts, pg-prune.ts): a run
// after `firstDelayMs`, then one `intervalMs` after each run ends; at most one run at a
// time (a run asked for while one is in progress shares it); a failed run goes to
// failed() and the next goes ahead as planned. stop() cancels the timer and waits for a
// run in progress, which may check `halted` to end early. The timer never keeps the
// process alive. (The cluster's job leader starts and stops such jobs through its
// ClusterJob interface; audit/ does not import cluster/.)

export interface PeriodicTiming {
  intervalMs: number;
  /** Before the first run (default intervalMs). */
  firstDelayMs?: number;
}

export abstract class PeriodicJob<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;
  /** Counts start() calls; the timer chain of an earlier start ends (stop, then start before the last run ended). */
  private generation = 0;
  private started = false;
  private stopped = false;

  constructor(private readonly timing: PeriodicTiming) {}

  /** One run. */
  protected abstract run(): Promise<T>;

  /** What a failed run resolves to, after reporting `err`. */
  protected abstract failed(err: unknown): T;

  /** Whether stop() was called since the last start(): a long run ends at its next check. */
  protected get halted(): boolean {
    return this.stopped;
  }

  /** Whether the timer runs (between start() and stop()): on a cluster, whether this node leads. */
  get active(): boolean {
    return this.started;
  }

  /** Starts the timer; a no-op while started. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopped = false;
    this.schedule(++this.generation, this.timing.firstDelayMs ?? this.timing.intervalMs);
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.started = false;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One run now, or the one in progress. */
  protected runNow(): Promise<T> {
    this.running ??= this.run()
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private schedule(generation: number, delay: number): void {
    this.timer = setTimeout(() => {
      void this.runNow().finally(() => {
        if (this.started && generation === this.generation) this.schedule(generation, this.timing.intervalMs);
      });
    }, delay);
    this.timer.unref();
  }
}
