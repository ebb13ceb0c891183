// Review of bd7bb9f (forgetGarbage no longer spends data/reserve): when the garbage list's
// bookkeeping fails on a full disk after the blobs were deleted, nothing is lost — the ids
// stay listed, the reserve is still held, and the next collection deletes them again (an
// inline row or a file already gone is not an error the second time) and empties the list.
// As in full-disk-reserve.test.ts, a reader pins the WAL so every commit needs new pages
// (test/helpers/reserved-store.ts).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DATA_RESERVE_FILE } from '../../src/storage/disk-reserve.js';
import { TieredBlobStore } from '../../src/storage/tiered-blob-store.js';
import { collectGarbage } from '../../src/storage/recovery.js';
import { isStorageFull } from '../../src/storage/storage-full.js';
import { openReservedStore, type ReservedStore } from '../helpers/reserved-store.js';
import { tmpfsSkipReason } from '../helpers/tmpfs.js';

const SKIP = tmpfsSkipReason();

describe('garbage bookkeeping that fails on a full disk loses nothing', { skip: SKIP }, () => {
  let store: ReservedStore;
  let blobs: TieredBlobStore;
  const inline = Array.from({ length: 4 }, () => `i${randomBytes(16).toString('hex')}`);
  const files = Array.from({ length: 2 }, () => randomBytes(16).toString('hex'));
  const all = [...inline, ...files];

  before(async () => {
    store = openReservedStore();
    const { meta, dir } = store;
    blobs = await TieredBlobStore.open({ dir: path.join(dir, 'blobs'), meta });
    // Inline rows and files that became garbage (their writes failed or their objects were deleted).
    for (const id of inline) {
      await meta.inlineBlobs.putPending(id, randomBytes(3000));
      await meta.discardPending(id);
    }
    for (const id of files) {
      await meta.markPending(id);
      const at = path.join(dir, 'blobs', id.slice(0, 2));
      mkdirSync(at, { recursive: true });
      writeFileSync(path.join(at, id), randomBytes(50_000));
      await meta.discardPending(id);
    }
    assert.deepEqual((await meta.takeGarbage(false)).sort(), [...all].sort());
    // A collection's first step ran: every blob is deleted.
    for (const id of all) await blobs.delete(id);
    assert.equal(await meta.inlineBlobs.get(inline[0]!), undefined, 'the inline row is gone');
    assert.ok(!existsSync(path.join(dir, 'blobs', files[0]!.slice(0, 2), files[0]!)), 'the file is gone');
    store.pinWal();
    store.fill();
  });

  after(async () => {
    await blobs?.close();
    await store?.close();
  });

  it('the bookkeeping fails on the full disk: the ids stay listed and the reserve is held', async () => {
    await assert.rejects(store.meta.forgetGarbage(all), (e: unknown) => isStorageFull(e));
    assert.ok(store.reserve.holding && existsSync(path.join(store.dir, DATA_RESERVE_FILE)));
    assert.deepEqual((await store.meta.takeGarbage(false)).sort(), [...all].sort());
  });

  it('the next collection, once there is room, deletes the already-deleted blobs without error and empties the list', async () => {
    store.unfill();
    const { removedBlobs } = await collectGarbage(store.meta, blobs);
    assert.equal(removedBlobs, all.length);
    assert.deepEqual(await store.meta.takeGarbage(false), []);
    assert.ok(store.reserve.holding, 'the reserve was never spent');
  });
});
