// Start-up recovery and after-commit garbage collection (steps 4 and "on start" of the
// atomicity protocol in types.ts). Ids leave the garbage list only after their blobs
// are deleted, so a crash at any point here just leaves the work to the next run. A blob
// that an open read still needs (blob-readers.ts) stays on the list until it ends.

import { readersOf } from './blob-readers.js';
import type { BlobStore, MetadataStore } from './types.js';

/** Blob deletions in flight at once. */
const DELETE_CONCURRENCY = 16;

/**
 * Run once on start, before any request is served: empties the blob store's temporary
 * area and deletes every garbage blob and the pending blobs of interrupted writes.
 *
 * 'sole': this server is the only one on the store (embedded: the data-directory lock says
 * so), so every pending blob belongs to a write that was interrupted. 'cluster': other nodes
 * may be writing; only this node's earlier instances' pending blobs are reclaimed (the job
 * leader reclaims dead nodes', cluster/storage-sweeper.ts), and the blob store's temporary
 * area spares other nodes' uploads (shared mode of file-blob-store.ts, s3-blob-store.ts).
 */
export async function recoverStorage(meta: MetadataStore, blobs: BlobStore, scope: 'sole' | 'cluster' = 'sole'): Promise<{ removedBlobs: number }> {
  await blobs.cleanTemporary();
  if (scope === 'cluster') await meta.reclaimPending({ kind: 'earlier-instances' });
  const ids = await meta.takeGarbage(scope === 'sole');
  await deleteBlobs(blobs, ids);
  await meta.forgetGarbage(ids);
  return { removedBlobs: ids.length };
}

const running = new WeakMap<MetadataStore, { done: Promise<{ removedBlobs: number }>; again: boolean }>();

/**
 * Deletes the blobs on the garbage list (pending blobs are left alone: their writes may
 * still be running; blobs open readers still need are left until the last of them ends,
 * and collected then). Call after a commit that may have produced garbage; cheap when the
 * list is empty. Calls that arrive while a collection runs share it, and it runs once
 * more at its end to pick up what they added.
 */
export function collectGarbage(meta: MetadataStore, blobs: BlobStore): Promise<{ removedBlobs: number }> {
  const current = running.get(meta);
  if (current !== undefined) {
    current.again = true;
    return current.done;
  }
  const state = { done: Promise.resolve({ removedBlobs: 0 }), again: false };
  state.done = (async () => {
    let removedBlobs = 0;
    try {
      do {
        state.again = false;
        const garbage = await meta.takeGarbage(false);
        const readers = readersOf(blobs);
        const ids = garbage.filter((id) => !readers.busy(id));
        if (ids.length < garbage.length) {
          const busy = garbage.filter((id) => readers.busy(id));
          // A failed retry leaves the ids listed: the next collection or start deletes them.
          readers.defer(busy, () => void collectGarbage(meta, blobs).catch(() => undefined));
        }
        if (ids.length === 0) break;
        await deleteBlobs(blobs, ids);
        await meta.forgetGarbage(ids);
        removedBlobs += ids.length;
      } while (state.again);
    } finally {
      running.delete(meta);
    }
    return { removedBlobs };
  })();
  running.set(meta, state);
  return state.done;
}

async function deleteBlobs(blobs: BlobStore, ids: string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) await blobs.delete(ids[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, ids.length) }, worker));
}
