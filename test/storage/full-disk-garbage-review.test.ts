// Review of bd7bb9f (forgetGarbage no longer spends data/reserve): when the garbage list's
// bookkeeping fails on a full disk after the blobs were deleted, nothing is lost — the ids
// stay listed, the reserve is still held, and the next collection deletes them again (an
// inline row or a file already gone is not an error the second time) and empties the list.
// As in full-disk-reserve.test.ts, a reader pins the WAL so every commit needs new pages.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DiskReserve, DATA_RESERVE_FILE } from '../../src/storage/disk-reserve.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { TieredBlobStore } from '../../src/storage/tiered-blob-store.js';
import { collectGarbage } from '../../src/storage/recovery.js';
import { isStorageFull } from '../../src/storage/storage-full.js';
import { fillDisk, mountTmpfs, tmpfsSkipReason, type Tmpfs } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;
const SKIP = tmpfsSkipReason();

describe('garbage bookkeeping that fails on a full disk loses nothing', { skip: SKIP }, () => {
  let mount: Tmpfs;
  let reserve: DiskReserve;
  let meta: SqliteMetadataStore;
  let blobs: TieredBlobStore;
  let reader: Database.Database;
  const dir = () => path.join(mount.dir, 'data');
  const filler = () => path.join(mount.dir, 'filler');
  const inline = Array.from({ length: 4 }, () => `i${randomBytes(16).toString('hex')}`);
  const files = Array.from({ length: 2 }, () => randomBytes(16).toString('hex'));
  const all = [...inline, ...files];

  before(async () => {
    const m = mountTmpfs(16 * MiB);
    assert.ok(typeof m !== 'string', `the full-disk tests must run in CI: ${String(m)}`);
    mount = m;
    mkdirSync(dir());
    reserve = new DiskReserve(dir());
    assert.ok(reserve.take(), 'the reserve is taken on the empty file system');
    const file = path.join(dir(), 'metadata.sqlite');
    meta = SqliteMetadataStore.open(file, { synchronous: 'FULL', reserve });
    blobs = await TieredBlobStore.open({ dir: path.join(dir(), 'blobs'), meta });
    // Inline rows and files that became garbage (their writes failed or their objects were deleted).
    for (const id of inline) {
      await meta.inlineBlobs.putPending(id, randomBytes(3000));
      await meta.discardPending(id);
    }
    for (const id of files) {
      await meta.markPending(id);
      const at = path.join(dir(), 'blobs', id.slice(0, 2));
      mkdirSync(at, { recursive: true });
      writeFileSync(path.join(at, id), randomBytes(50_000));
      await meta.discardPending(id);
    }
    assert.deepEqual((await meta.takeGarbage(false)).sort(), [...all].sort());
    // A collection's first step ran: every blob is deleted.
    for (const id of all) await blobs.delete(id);
    assert.equal(await meta.inlineBlobs.get(inline[0]!), undefined, 'the inline row is gone');
    assert.ok(!existsSync(path.join(dir(), 'blobs', files[0]!.slice(0, 2), files[0]!)), 'the file is gone');
    reader = new Database(file);
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT count(*) FROM sqlite_master').get();
    fillDisk(filler());
  });

  after(async () => {
    reader?.close();
    await blobs?.close();
    await meta?.close();
    reserve?.close();
    mount?.unmount();
  });

  it('the bookkeeping fails on the full disk: the ids stay listed and the reserve is held', async () => {
    await assert.rejects(meta.forgetGarbage(all), (e: unknown) => isStorageFull(e));
    assert.ok(reserve.holding && existsSync(path.join(dir(), DATA_RESERVE_FILE)));
    assert.deepEqual((await meta.takeGarbage(false)).sort(), [...all].sort());
  });

  it('the next collection, once there is room, deletes the already-deleted blobs without error and empties the list', async () => {
    unlinkSync(filler());
    const { removedBlobs } = await collectGarbage(meta, blobs);
    assert.equal(removedBlobs, all.length);
    assert.deepEqual(await meta.takeGarbage(false), []);
    assert.ok(reserve.holding, 'the reserve was never spent');
  });
});
