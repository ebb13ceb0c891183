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
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DiskReserve, DATA_RESERVE_FILE } from '../../src/storage/disk-reserve.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { isStorageFull } from '../../src/storage/storage-full.js';
import { fillDisk, mountTmpfs, tmpfsSkipReason, type Tmpfs } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;
const SKIP = tmpfsSkipReason();

describe('the data reserve on a full disk', { skip: SKIP }, () => {
  let mount: Tmpfs;
  let reserve: DiskReserve;
  let meta: SqliteMetadataStore;
  let reader: Database.Database;
  const dir = () => path.join(mount.dir, 'data');
  const filler = () => path.join(mount.dir, 'filler');
  const ids = Array.from({ length: 8 }, (_, i) => `${'ab'.repeat(15)}${String(i).padStart(2, '0')}`);

  before(async () => {
    const m = mountTmpfs(16 * MiB);
    assert.ok(typeof m !== 'string', `the full-disk tests must run in CI: ${String(m)}`);
    mount = m;
    mkdirSync(dir());
    reserve = new DiskReserve(dir());
    assert.ok(reserve.take(), 'the reserve is taken on the empty file system');
    const file = path.join(dir(), 'metadata.sqlite');
    meta = SqliteMetadataStore.open(file, { synchronous: 'FULL', reserve });
    // A read transaction left open: checkpoints cannot reset the WAL behind it.
    reader = new Database(file);
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT count(*) FROM sqlite_master').get();
    // Blobs of writes that failed: pending, then garbage (what a PUT answered 507 leaves).
    for (const id of ids) {
      await meta.markPending(id);
      await meta.discardPending(id);
    }
    assert.deepEqual((await meta.takeGarbage(false)).sort(), [...ids].sort());
    fillDisk(filler());
  });

  after(async () => {
    reader?.close();
    await meta?.close();
    reserve?.close();
    mount?.unmount();
  });

  it("the garbage list's bookkeeping fails on the full disk and keeps the reserve", async () => {
    await assert.rejects(meta.forgetGarbage(ids), (e: unknown) => isStorageFull(e));
    assert.ok(existsSync(path.join(dir(), DATA_RESERVE_FILE)), 'the reserve is still held');
    assert.ok(reserve.holding);
    // Nothing is lost: the ids stay listed for the next collection.
    assert.deepEqual((await meta.takeGarbage(false)).sort(), [...ids].sort());
  });

  it('once the disk has room the ids leave the list, and the reserve was never spent', async () => {
    unlinkSync(filler());
    await meta.forgetGarbage(ids);
    assert.deepEqual(await meta.takeGarbage(false), []);
    assert.ok(reserve.holding);
    assert.ok(existsSync(path.join(dir(), DATA_RESERVE_FILE)));
  });
});
