// The leader's storage job (cluster mode): pending blobs of writers that stopped
// heartbeating — nodes that died, or were cut off or paused for longer than the writer
// timeout — and of unknown writers past the grace period become garbage, and garbage is
// deleted. A node's own earlier instances are reclaimed by the node itself at its start
// (storage/recovery.ts); this covers nodes that do not come back.

import type { Logger } from 'pino';
import type { BlobStore, MetadataStore } from '../storage/types.js';
import { collectGarbage } from '../storage/recovery.js';
import type { ClusterJob } from './job-leader.js';

/** Pending marks of no known writer (an older release's, in a rolling upgrade) are kept this long. */
export const UNKNOWN_WRITER_GRACE_MS = 24 * 60 * 60 * 1000;

export interface StorageSweeperOptions {
  meta: MetadataStore;
  blobs: BlobStore;
  /** A writer silent this long is dead: its pending blobs are reclaimed and its later publishing writes refused. */
  writerTimeoutMs: number;
  unknownWriterGraceMs?: number;
  intervalMs: number;
  log: Logger;
}

export class StorageSweeper implements ClusterJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: StorageSweeperOptions) {}

  start(): void {
    if (this.timer) return;
    const tick = (): void => {
      if (!this.timer) return;
      void this.runOnce().catch((err: unknown) => this.opts.log.warn({ err }, 'storage sweep failed'));
    };
    this.timer = setInterval(tick, this.opts.intervalMs);
    this.timer.unref();
    setImmediate(tick);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sweep: reclaim abandoned pending blobs, then delete garbage. Sweeps never overlap. */
  runOnce(): Promise<{ reclaimed: number; removedBlobs: number }> {
    const run = this.running.then(async () => {
      const { meta, blobs } = this.opts;
      const reclaimed = await meta.reclaimPending({
        kind: 'abandoned', writerTimeoutMs: this.opts.writerTimeoutMs, unknownWriterGraceMs: this.opts.unknownWriterGraceMs ?? UNKNOWN_WRITER_GRACE_MS,
      });
      if (reclaimed > 0) this.opts.log.info({ reclaimed }, 'reclaimed pending blobs of writers that stopped (dead or cut-off nodes)');
      const { removedBlobs } = await collectGarbage(meta, blobs);
      return { reclaimed, removedBlobs };
    });
    this.running = run.catch(() => undefined);
    return run;
  }
}
