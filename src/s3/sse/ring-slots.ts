// The slots of a first-in-first-out memo of at most `size` string keys, for the SSE memos
// that keep their values in preallocated slabs (object-key-memo.ts, kms-envelope-memo.ts):
// a new key takes the oldest slot and that slot's key is forgotten. The oldest is found
// through a ring, not through the map: map.keys().next() would walk the holes earlier
// deletions leave at the front of V8's table (microseconds per call at a few thousand keys).

export class RingSlots {
  /** Key → slot. */
  readonly map = new Map<string, number>();
  readonly #keys: (string | undefined)[];
  #next = 0;

  constructor(readonly size: number) {
    this.#keys = new Array<string | undefined>(size).fill(undefined);
  }

  /** The slot of `key`, if it is held. */
  get(key: string): number | undefined {
    return this.map.get(key);
  }

  /** The slot of `key`: its own if held, else the oldest slot, whose key leaves. */
  take(key: string): number {
    let slot = this.map.get(key);
    if (slot !== undefined) return slot;
    slot = this.#next;
    this.#next = (slot + 1) % this.size;
    const leaving = this.#keys[slot];
    if (leaving !== undefined) this.map.delete(leaving);
    this.#keys[slot] = key;
    this.map.set(key, slot);
    return slot;
  }
}
