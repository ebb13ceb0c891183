// A SqliteMetadataStore holding a real data reserve (storage/disk-reserve.ts) on a small
// tmpfs of its own, for tests of what a full disk may spend the reserve on. pinWal() leaves a
// read transaction open on a second connection: no checkpoint can reset the WAL behind it,
// so every later commit appends and needs new pages — on a full disk, every time.

import assert from 'node:assert/strict';
import { mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DiskReserve } from '../../src/storage/disk-reserve.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { fillDisk, mountTmpfs } from './tmpfs.js';

export interface ReservedStore {
  /** The data directory (holding `reserve` and `metadata.sqlite`). */
  dir: string;
  reserve: DiskReserve;
  meta: SqliteMetadataStore;
  /** Leaves a read transaction open so the WAL cannot be reset. */
  pinWal(): void;
  /** Fills the file system to its last page; unfill() gives that space back. */
  fill(): void;
  unfill(): void;
  close(): Promise<void>;
}

/** Mounts 16 MiB, takes the reserve (asserted) and opens the store with it (synchronous=FULL). */
export function openReservedStore(): ReservedStore {
  const mount = mountTmpfs(16 * 1024 * 1024);
  assert.ok(typeof mount !== 'string', `the full-disk tests must run in CI: ${String(mount)}`);
  const dir = path.join(mount.dir, 'data');
  const filler = path.join(mount.dir, 'filler');
  mkdirSync(dir);
  const reserve = new DiskReserve(dir);
  assert.ok(reserve.take(), 'the reserve is taken on the empty file system');
  const file = path.join(dir, 'metadata.sqlite');
  const meta = SqliteMetadataStore.open(file, { synchronous: 'FULL', reserve });
  let reader: Database.Database | undefined;
  return {
    dir, reserve, meta,
    pinWal() {
      reader = new Database(file);
      reader.prepare('BEGIN').run();
      reader.prepare('SELECT count(*) FROM sqlite_master').get();
    },
    fill: () => void fillDisk(filler),
    unfill: () => unlinkSync(filler),
    async close() {
      reader?.close();
      await meta.close();
      reserve.close();
      mount.unmount();
    },
  };
}
