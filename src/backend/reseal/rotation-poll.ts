// Runs a cluster rotation's round (a node following the row, the leader moving it on) one at
// a time: after `every()` milliseconds, or at once when woken by a notification
// (cluster/pg-channel-listener.ts). A wake during a round runs one more round right after it,
// so a change that arrived while the row was being read is not missed.

export class RotationPoll {
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #stopped = true;
  #done: Promise<void> = Promise.resolve();

  constructor(
    private readonly round: () => Promise<void>,
    private readonly every: () => number,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  /** Runs a round now (or right after the one running). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#run();
  }

  /** No round starts after this; resolves once the one running has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#done;
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#run(), this.every());
    this.#timer.unref();
  }

  #run(): void {
    this.#running = true;
    this.#again = false;
    this.#done = this.round()
      .catch(() => undefined)
      .finally(() => {
        this.#running = false;
        if (this.#again && !this.#stopped) this.#run();
        else this.#schedule();
      });
  }
}
