// Open readers per blob, so a read finishes with the bytes it started with. A GET of a
// multipart object opens each part's blob only when it reaches it; without this, an
// overwrite or delete committed meanwhile would let garbage collection delete the later
// parts and cut the response short after its headers promised the full length.
//
// The protocol: a reader calls begin() before it reads an object's record, hold() with the
// record's blob ids as soon as it has it, and release() when its response has ended
// (finished, failed or abandoned). collectGarbage (recovery.ts) deletes only blobs that are
// not busy: held by a reader, or possibly about to be (some reader has begun and not yet
// said what it holds — it may have read a record that still named them). Busy garbage
// stays on the garbage list, so a crash still leaves it to the next start, and is collected
// again once the last reader that could need it lets go.
//
// The registry is per blob store (readersOf): the one collection and every reader of a
// store meet there without another handle being passed through the layers between them.

import type { BlobStore } from './types.js';

/** One reader's claim, from before it reads a record until its response ends. */
export interface ReadClaim {
  /** The blobs of the record the reader read (call once, right after reading it). */
  hold(blobIds: readonly string[]): void;
  /** Ends the claim; safe to call more than once. */
  release(): void;
}

export class BlobReaders {
  /** Open readers per held blob id. */
  private readonly held = new Map<string, number>();
  /** Readers that have begun and hold nothing yet. */
  private starting = 0;
  /** Garbage a collection left because it was busy, and how to run the collection again. */
  private deferred = new Set<string>();
  private retry: (() => void) | undefined;

  begin(): ReadClaim {
    this.starting++;
    let ids: readonly string[] | undefined;
    let open = true;
    return {
      hold: (blobIds) => {
        if (!open || ids !== undefined) return;
        ids = blobIds;
        for (const id of ids) this.held.set(id, (this.held.get(id) ?? 0) + 1);
        this.starting--;
        this.settle();
      },
      release: () => {
        if (!open) return;
        open = false;
        if (ids === undefined) this.starting--;
        else {
          for (const id of ids) {
            const n = this.held.get(id)! - 1;
            if (n === 0) this.held.delete(id);
            else this.held.set(id, n);
          }
        }
        this.settle();
      },
    };
  }

  /** True when a reader holds the blob or might be about to. */
  busy(blobId: string): boolean {
    return this.starting > 0 || this.held.has(blobId);
  }

  /** A collection left `blobIds` on the garbage list; `retry` runs it again once one of them is free. */
  defer(blobIds: readonly string[], retry: () => void): void {
    for (const id of blobIds) this.deferred.add(id);
    this.retry = retry;
  }

  private settle(): void {
    const retry = this.retry;
    if (retry === undefined) return;
    for (const id of this.deferred) {
      if (this.busy(id)) continue;
      this.retry = undefined;
      this.deferred = new Set();
      // Not inside the reader's own release (a response's cleanup): the collection is async work of its own.
      setImmediate(retry);
      return;
    }
  }
}

const registries = new WeakMap<BlobStore, BlobReaders>();

/** The open readers of a blob store. */
export function readersOf(blobs: BlobStore): BlobReaders {
  let r = registries.get(blobs);
  if (r === undefined) {
    r = new BlobReaders();
    registries.set(blobs, r);
  }
  return r;
}
