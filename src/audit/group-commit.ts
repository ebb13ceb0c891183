// Group commit and fail-closed, shared by the audit stores (audit-log.ts, pg-audit-store.ts);
// each store brings only how a batch is made durable (append + fdatasync, one INSERT).
//
// add() queues a row and resolves once the batch holding it is durable: the rows added
// while one batch is written go out together in the next, so concurrent requests share
// one write. When a write fails the store fails closed: the rows it could not write are
// held, later rows are held and rejected with AuditUnavailableError, checkWritable()
// throws, and a timer tries the held rows again every second; once they are written the
// store accepts requests again.

import type { Logger } from 'pino';
import { AuditUnavailableError } from './sink.js';

/** How often a store that cannot write tries again. */
const RETRY_MS = 1000;

export interface GroupCommitOptions<Row> {
  /**
   * Makes `rows` durable, in order. It may remove rows from the front of `rows` once they
   * are durable: when it throws, the rows left in `rows` are the ones held for a retry.
   */
  write(rows: Row[]): Promise<void>;
  /** Writes held rows when the store tries again (default: write). */
  rewrite?(rows: Row[]): Promise<void>;
  /** Runs before the held rows are tried again; a throw means still failing. */
  beforeRetry?(): Promise<void>;
  /** Most rows in one batch. Default: everything queued. */
  maxBatch?: number;
  /** Where failure and recovery are reported. */
  log?: Logger;
}

export class GroupCommit<Row> {
  private queue: { row: Row; resolve: () => void; reject: (err: Error) => void }[] = [];
  private draining: Promise<void> | undefined;
  /** Set while the store cannot be written; requests are refused (checkWritable) until recover() succeeds. */
  private failure: unknown;
  /** Rows that could not be written, in order: written first when the store recovers. */
  private held: Row[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private recovering = false;
  /** Rows added and rows stored or held, for flush(). */
  private recorded = 0;
  private written = 0;
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private closedFlag = false;
  private readonly maxBatch: number;

  constructor(private readonly opts: GroupCommitOptions<Row>) {
    this.maxBatch = opts.maxBatch ?? Infinity;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Resolves once `row` is durable; rejects with AuditUnavailableError while the store fails (the row is held) or after close(). */
  add(row: Row): Promise<void> {
    if (this.closedFlag) return Promise.reject(new AuditUnavailableError());
    this.recorded++;
    if (this.failure !== undefined) {
      // Recorded by a request that was already acting when the store failed: kept for the recovery.
      this.held.push(row);
      this.settled(1);
      return Promise.reject(new AuditUnavailableError(this.failure));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.drain();
    });
  }

  /** Throws while the store cannot be written: requests that need a record are refused before they act. */
  checkWritable(): void {
    if (this.closedFlag || this.failure !== undefined) throw new AuditUnavailableError(this.failure);
  }

  /** Everything queued is written as one batch; the rows added meanwhile wait for the next. */
  private drain(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.queue.length > 0 && this.failure === undefined) {
        const batch = this.queue.splice(0, this.maxBatch);
        const rows = batch.map((e) => e.row);
        try {
          await this.opts.write(rows);
          for (const e of batch) e.resolve();
        } catch (err) {
          this.held.push(...rows); // the rows not yet durable
          this.fail(err);
          for (const e of batch) e.reject(new AuditUnavailableError(err));
        }
        this.settled(batch.length);
      }
      if (this.failure !== undefined && this.queue.length > 0) {
        const rest = this.queue;
        this.queue = [];
        this.held.push(...rest.map((e) => e.row));
        for (const e of rest) e.reject(new AuditUnavailableError(this.failure));
        this.settled(rest.length);
      }
    })().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0) this.drain();
    });
  }

  /** Marks the store failing (logged once per episode) and starts retrying. */
  fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.opts.log?.error({ err }, 'audit log cannot be written: KMS requests are refused until it can (retrying every second)');
    this.retryTimer = setInterval(() => void this.recover(), RETRY_MS);
    this.retryTimer.unref();
  }

  /** Writes the held rows; on success the store accepts requests again. */
  private async recover(): Promise<void> {
    if (this.recovering || this.draining || this.closedFlag) return;
    this.recovering = true;
    try {
      await this.opts.beforeRetry?.();
      const rewrite = this.opts.rewrite ?? this.opts.write;
      while (this.held.length > 0) {
        const rows = this.held.slice(0, this.maxBatch);
        const n = rows.length;
        try {
          await rewrite(rows);
          this.held.splice(0, n);
        } catch (err) {
          this.held.splice(0, n - rows.length); // those made durable before the failure
          throw err;
        }
      }
      this.failure = undefined;
      clearInterval(this.retryTimer);
      this.opts.log?.warn('audit log writable again: KMS requests are accepted');
      this.drain();
    } catch {
      // Still failing: the next tick tries again.
    } finally {
      this.recovering = false;
    }
  }

  private settled(n: number): void {
    this.written += n;
    this.waiters = this.waiters.filter((w) => (w.upTo <= this.written ? (w.resolve(), false) : true));
  }

  /** Waits until every row added so far is stored or held (not for later ones: a busy store still answers). */
  async flush(): Promise<void> {
    if (this.written >= this.recorded) return;
    await new Promise<void>((resolve) => this.waiters.push({ upTo: this.recorded, resolve }));
  }

  /** Writes what is queued, then refuses new rows and stops retrying. */
  async close(): Promise<void> {
    await this.flush();
    this.closedFlag = true;
    await this.draining;
    clearInterval(this.retryTimer);
    if (this.held.length > 0) this.opts.log?.error({ events: this.held.length }, 'audit log closed with events it could not write');
  }
}
