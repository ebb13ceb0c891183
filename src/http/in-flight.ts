// Requests in flight, by when they began: `settled()` resolves once every request that had
// begun when it was called has finished (its handler settled), whatever began later.
// An online root-key rotation (backend/reseal/online-rotation.ts) waits on it after it
// switches the sealing key: a request that sealed a key under the old one just before the
// switch may commit it only later, and the pass that re-seals must start after that.

export class InFlightRequests {
  #generation = 0;
  /** Requests in flight per generation (the generation current when they began). */
  readonly #counts = new Map<number, number>();
  #waiters: { generation: number; resolve: () => void }[] = [];

  /** Marks a request as begun; call the returned function (once) when its handler settles. */
  begin(): () => void {
    const g = this.#generation;
    this.#counts.set(g, (this.#counts.get(g) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const n = this.#counts.get(g)! - 1;
      if (n === 0) this.#counts.delete(g);
      else this.#counts.set(g, n);
      this.#wake();
    };
  }

  /** How many requests are in flight now. */
  get count(): number {
    let n = 0;
    for (const c of this.#counts.values()) n += c;
    return n;
  }

  /** Resolves once every request begun before this call has finished. */
  settled(): Promise<void> {
    const generation = this.#generation++;
    return new Promise((resolve) => {
      this.#waiters.push({ generation, resolve });
      this.#wake();
    });
  }

  #wake(): void {
    // Every request's end comes here; with nobody waiting (all but a rotation's moments) there is nothing to work out.
    if (this.#waiters.length === 0) return;
    const oldest = this.#counts.size === 0 ? Infinity : Math.min(...this.#counts.keys());
    const ready = this.#waiters.filter((w) => w.generation < oldest);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.generation >= oldest);
    for (const w of ready) w.resolve();
  }
}
