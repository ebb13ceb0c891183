// The data directory's reserve (storage/disk-reserve.ts) is spent only by a write that frees
// space a client asked to free (a delete), never by the garbage list's bookkeeping. The
// project's CI failed on full-disk-restart.test.ts because of it: a PUT that failed with 507
// on the full disk left a garbage id for a blob that never got a file; the collection that
// followed deleted nothing, then its forgetGarbage met a full disk and released the reserve
// to record that — so when the disk filled again, a restart had no reserve to start with.
// Whether that bookkeeping write needed new space depended on where the WAL stood, so the
// server test failed now and then; here a reader pins the WAL (no checkpoint can reset it),
// so every commit appends to it and needs new pages, every time.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DATA_RESERVE_FILE } from '../../src/storage/disk-reserve.js';
import { isStorageFull } from '../../src/storage/storage-full.js';
import { openReservedStore, type ReservedStore } from '../helpers/reserved-store.js';
import { tmpfsSkipReason } from '../helpers/tmpfs.js';

const SKIP = tmpfsSkipReason();

describe('the data reserve on a full disk', { skip: SKIP }, () => {
  let store: ReservedStore;
  const ids = Array.from({ length: 8 }, (_, i) => `${'ab'.repeat(15)}${String(i).padStart(2, '0')}`);

  before(async () => {
    store = openReservedStore();
    store.pinWal();
    // Blobs of writes that failed: pending, then garbage (what a PUT answered 507 leaves).
    for (const id of ids) {
      await store.meta.markPending(id);
      await store.meta.discardPending(id);
    }
    assert.deepEqual((await store.meta.takeGarbage(false)).sort(), [...ids].sort());
    store.fill();
  });

  after(async () => {
    await store?.close();
  });

  it("the garbage list's bookkeeping fails on the full disk and keeps the reserve", async () => {
    await assert.rejects(store.meta.forgetGarbage(ids), (e: unknown) => isStorageFull(e));
    assert.ok(existsSync(path.join(store.dir, DATA_RESERVE_FILE)), 'the reserve is still held');
    assert.ok(store.reserve.holding);
    // Nothing is lost: the ids stay listed for the next collection.
    assert.deepEqual((await store.meta.takeGarbage(false)).sort(), [...ids].sort());
  });

  it('once the disk has room the ids leave the list, and the reserve was never spent', async () => {
    store.unfill();
    await store.meta.forgetGarbage(ids);
    assert.deepEqual(await store.meta.takeGarbage(false), []);
    assert.ok(store.reserve.holding);
    assert.ok(existsSync(path.join(store.dir, DATA_RESERVE_FILE)));
  });
});
