// The job leader on PostgreSQL: the node holding the lease (leader-lease.ts) runs the jobs.
//
//   every ttl/3:  not leader -> try to take the lease (free, or its holder let it expire)
//                 leader     -> renew it; refused (someone else has it) -> stop the jobs
//   watchdog:     leader and the lease not renewed by `deadline` -> stop the jobs
//
// `deadline` is measured on this process's monotonic clock from *before* the renewal was
// sent, minus a margin; the database stamps the expiry after it received the request, so
// this node always stops its jobs before the lease expires for everyone else — whether the
// database is unreachable (a partition), slow, or this process was paused and is late.
// A node that dies (SIGKILL, power loss) stops renewing; another takes the lease once it
// expires: at most ttl + ttl/3 after the last renewal (docs/CLUSTER.md, "Job leader").

import type { Logger } from 'pino';
import type { ClusterJob, JobLeader } from './job-leader.js';
import { JobSet } from './job-leader.js';
import type { LeaderLease, LeaseHolder } from './leader-lease.js';

/** How long stop() waits for the database (a round in flight, the release) before it goes on without it. */
const STOP_WAIT_MS = 2_000;

function within(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

export interface LeaseLeaderOptions {
  lease: LeaderLease;
  /** This process (its writer instance) and node. */
  holder: string;
  node: string;
  /** Lease length in ms. */
  ttlMs: number;
  log: Logger;
  /** Monotonic milliseconds (default performance.now). */
  monotonic?: () => number;
}

export class LeaseLeader implements JobLeader {
  private readonly jobs: JobSet;
  private epoch: number | undefined;
  private deadline = 0;
  private loop: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly monotonic: () => number;
  private readonly marginMs: number;

  constructor(private readonly opts: LeaseLeaderOptions) {
    this.jobs = new JobSet((name, err) => opts.log.error({ err, job: name }, 'cluster job failed to start or stop'));
    this.monotonic = opts.monotonic ?? (() => performance.now());
    // Room for timer lateness and for clocks that tick at slightly different rates.
    this.marginMs = Math.min(2_000, Math.floor(opts.ttlMs / 5));
  }

  get leading(): boolean {
    return this.epoch !== undefined;
  }

  register(name: string, job: ClusterJob): void {
    this.jobs.add(name, job);
  }

  start(): void {
    if (this.loop || this.stopped) return;
    const every = Math.max(100, Math.floor(this.opts.ttlMs / 3));
    this.loop = setInterval(() => void this.tick(), every);
    this.loop.unref();
    void this.tick();
  }

  /** The current holder as the database sees it (for health and admin output). */
  holder(): Promise<LeaseHolder | undefined> {
    return this.opts.lease.current();
  }

  /** One round of the loop (the timer's; tests call it to not wait). */
  tick(): Promise<void> {
    // A round stuck on a dead connection is left behind after a lease's time, so the loop goes
    // on; should it finish later, its deadline (counted from when it was sent) has passed.
    this.ticking = this.ticking
      .then(() => {
        const round = this.round();
        round.catch(() => undefined); // a late failure, after the race below gave up on it
        return Promise.race([round, new Promise((_, reject) => setTimeout(() => reject(new Error('no answer from the database within a lease')), this.opts.ttlMs).unref())]);
      })
      .then(() => undefined, (err: unknown) => this.opts.log.warn({ err }, 'job leader: lease round failed'));
    return this.ticking;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.loop);
    this.loop = undefined;
    // A round stuck on an unreachable database must not hold the shutdown up.
    await within(this.ticking, STOP_WAIT_MS);
    const epoch = this.epoch;
    await this.lose('the server stops');
    // Handing over at once instead of after the lease runs out.
    if (epoch !== undefined) {
      await within(this.opts.lease.release(this.opts.holder, epoch).catch((err: unknown) => this.opts.log.warn({ err }, 'job leader: could not release the lease')), STOP_WAIT_MS);
    }
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    const sent = this.monotonic();
    const { lease, holder, node, ttlMs } = this.opts;
    if (this.epoch === undefined) {
      const epoch = await lease.tryAcquire(holder, node, ttlMs);
      if (epoch === undefined) return;
      if (this.stopped) {
        // Taken while stop() ran (a start that failed at once): given back, not left to run out.
        await lease.release(holder, epoch).catch((err: unknown) => this.opts.log.warn({ err }, 'job leader: could not release the lease'));
        return;
      }
      // An answer that came too late to lead on (a round left behind): let that lease run out.
      if (this.monotonic() >= sent + ttlMs - this.marginMs) return;
      this.epoch = epoch;
      this.extend(sent);
      this.opts.log.info({ node, epoch }, 'this node is now the job leader');
      this.jobs.startAll();
      return;
    }
    if (await lease.renew(holder, this.epoch, ttlMs)) {
      this.extend(sent);
      return;
    }
    await this.lose('another node holds the lease');
  }

  private extend(sent: number): void {
    this.deadline = sent + this.opts.ttlMs - this.marginMs;
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.epoch === undefined) return;
      if (this.monotonic() >= this.deadline) void this.lose('the lease could not be renewed in time');
      else this.arm();
    }, Math.max(1, Math.ceil(this.deadline - this.monotonic())));
    this.watchdog.unref();
  }

  private async lose(why: string): Promise<void> {
    clearTimeout(this.watchdog);
    if (this.epoch === undefined) return;
    const epoch = this.epoch;
    this.epoch = undefined;
    if (!this.stopped) this.opts.log.warn({ epoch, why }, 'this node is no longer the job leader');
    await this.jobs.stopAll();
  }
}
