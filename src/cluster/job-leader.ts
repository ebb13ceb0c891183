// The background jobs of a Coffer deployment — the KMS scheduler (key deletions, rotations,
// expiring imported material), the storage sweeper (dead writers' pending blobs, garbage),
// the lifecycle worker — run on exactly one node at a time: the job leader. A job is
// anything with start() and stop(); register() is all it takes to add one.
//
// Embedded (SQLite) mode has one server, which always leads (SoleLeader). On PostgreSQL the
// nodes take a lease in the database (lease-leader.ts; docs/CLUSTER.md, "Job leader").

/** What the leader runs: started when this node becomes leader, stopped when it stops being one. */
export interface ClusterJob {
  start(): void;
  /** Stops scheduling new work. Work in flight may finish after it returns: jobs are idempotent (docs/CLUSTER.md). */
  stop(): void | Promise<void>;
}

export interface JobLeader {
  /** Adds a job: started now if this node leads, else when it becomes leader. */
  register(name: string, job: ClusterJob): void;
  /** Whether this node leads now. */
  readonly leading: boolean;
  /** Starts taking part (a sole leader starts its jobs). */
  start(): void;
  /** Stops every job and gives leadership up (another node may take it at once). */
  stop(): Promise<void>;
}

/** Runs registered jobs and stops them; the bookkeeping both leaders share. */
export class JobSet {
  private readonly jobs = new Map<string, ClusterJob>();
  private running = false;

  constructor(private readonly onError: (name: string, err: unknown) => void) {}

  add(name: string, job: ClusterJob): void {
    if (this.jobs.has(name)) throw new Error(`a job named ${name} is registered already`);
    this.jobs.set(name, job);
    if (this.running) this.startOne(name, job);
  }

  startAll(): void {
    if (this.running) return;
    this.running = true;
    for (const [name, job] of this.jobs) this.startOne(name, job);
  }

  async stopAll(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const [name, job] of this.jobs) {
      try {
        await job.stop();
      } catch (err) {
        this.onError(name, err);
      }
    }
  }

  private startOne(name: string, job: ClusterJob): void {
    try {
      job.start();
    } catch (err) {
      this.onError(name, err);
    }
  }
}

/** The one server of an embedded deployment: always the leader. */
export class SoleLeader implements JobLeader {
  readonly leading = true;
  private readonly jobs: JobSet;

  constructor(onError: (name: string, err: unknown) => void) {
    this.jobs = new JobSet(onError);
  }

  register(name: string, job: ClusterJob): void {
    this.jobs.add(name, job);
  }

  start(): void {
    this.jobs.startAll();
  }

  stop(): Promise<void> {
    return this.jobs.stopAll();
  }
}
