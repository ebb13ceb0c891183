// The lifecycle worker: applies every bucket's enabled lifecycle rules (sweep.ts) on a timer —
// daily by default (COFFER_LIFECYCLE_INTERVAL_SECONDS; 0 turns the timer off and leaves
// `coffer lifecycle run`) — and on demand (runOnce, the admin route behind `coffer lifecycle
// run`). Runs never overlap; time is the S3 services' clock, so tests move it instead of
// waiting. Nothing here may crash the process: a failure is logged and the run goes on.
//
// Each action is recorded as a user's delete is: one structured log line shaped like the
// access log's (access: true, service s3, the operation AWS's server access logs name for
// lifecycle actions — S3.EXPIRE.OBJECT, S3.CREATE.DELETEMARKER, S3.DELETE.UPLOAD —, the
// bucket, key, version and rule), and a count by action (coffer_lifecycle_actions_total);
// the buckets' object and byte counts change with the store as for any delete.
//
// A cluster runs the worker where its job leader says: start() and stop() are the switch.

import type { Logger } from 'pino';
import type { MetadataStore } from '../../storage/types.js';
import { lifecycleOf } from './rules.js';
import { noCounts, sweepBucket, type LifecycleEvent, type SweepCounts } from './sweep.js';

export const DEFAULT_LIFECYCLE_INTERVAL_SECONDS = 86_400;
/** The first run after start: soon, so what fell due while Coffer was down is done, but not in the start's rush. */
const FIRST_RUN_DELAY_MS = 60_000;

export interface LifecycleSummary extends SweepCounts {
  /** When the run counted from (ISO 8601). */
  asOf: string;
  /** Buckets with a lifecycle configuration that were swept. */
  buckets: number;
  /** False when stop() cut the run short (the next run finishes it). */
  complete: boolean;
  seconds: number;
}

export interface LifecycleWorkerOptions {
  meta: MetadataStore;
  log: Logger;
  now(): number;
  /** Deletes the blobs of what was removed, after the run (storage/recovery.ts). */
  collectGarbage(): void;
  /** Canonical id of the account: the owner of the delete markers lifecycle writes. */
  owner: string;
  /** 0: no timer. */
  intervalSeconds: number;
  /** Counts each action (metering/metrics.ts). */
  observe?(action: LifecycleEvent['action']): void;
}

export class LifecycleWorker {
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopRequested = false;
  /** Runs started or waiting: a timer tick while one is pending is skipped, never queued behind it. */
  private pending = 0;
  /** Runs completed (timer and runOnce alike). */
  runs = 0;

  constructor(private readonly opts: LifecycleWorkerOptions) {}

  start(): void {
    if (this.timer || this.opts.intervalSeconds === 0) return;
    this.stopRequested = false;
    const intervalMs = this.opts.intervalSeconds * 1000;
    const tick = (): void => {
      if (!this.timer || this.pending > 0) return;
      void this.runOnce().catch((err: unknown) => this.opts.log.error({ err }, 'lifecycle run failed'));
    };
    this.first = setTimeout(tick, Math.min(FIRST_RUN_DELAY_MS, intervalMs));
    this.first.unref();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and cuts a run in progress short after its current action; resolves when it has ended. */
  async stop(): Promise<void> {
    if (this.first) clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
    this.first = undefined;
    this.timer = undefined;
    this.stopRequested = true;
    await this.running;
    this.stopRequested = false;
  }

  /** One run over every bucket, or only `bucket`, as of `now` (default: the clock). Waits for a run in progress first. */
  runOnce(opts: { bucket?: string; now?: number } = {}): Promise<LifecycleSummary> {
    this.pending += 1;
    const run = this.running.then(() => this.run(opts.bucket, opts.now ?? this.opts.now())).finally(() => {
      this.pending -= 1;
      this.runs += 1;
    });
    this.running = run.catch(() => undefined);
    return run;
  }

  private async run(only: string | undefined, now: number): Promise<LifecycleSummary> {
    const started = performance.now();
    const counts = noCounts();
    const { meta, log } = this.opts;
    let buckets = 0;
    const list = only !== undefined ? [await meta.getBucket(only)].filter((b) => b !== undefined) : await meta.listBuckets();
    const deps = {
      meta,
      owner: this.opts.owner,
      stopping: () => this.stopRequested,
      record: (e: LifecycleEvent) => {
        log.info({ access: true, service: 's3', lifecycle: true, principal: 'coffer:lifecycle', ...e }, 'lifecycle');
        this.opts.observe?.(e.action);
      },
      failed: (err: unknown, what: string) => log.warn({ err }, `lifecycle: ${what} failed`),
    };
    for (const b of list) {
      if (this.stopRequested) break;
      if (!lifecycleOf(b)) continue;
      buckets += 1;
      try {
        await sweepBucket(deps, b, now, counts);
      } catch (err) {
        counts.failed += 1;
        log.error({ err, bucket: b.name }, 'lifecycle: bucket sweep failed');
      }
    }
    this.opts.collectGarbage();
    const summary: LifecycleSummary = {
      asOf: new Date(now).toISOString(), buckets, ...counts, complete: !this.stopRequested, seconds: Math.round(performance.now() - started) / 1000,
    };
    log.info({ lifecycleRun: summary }, 'lifecycle run done');
    return summary;
  }
}
