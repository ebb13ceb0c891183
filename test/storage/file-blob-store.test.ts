// Runs the BlobStore contract against FileBlobStore, plus its on-disk layout: fan-out
// paths, file modes, the temporary area.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileBlobStore } from '../../src/storage/file-blob-store.js';
import { readAll, runBlobStoreContract, writeBlob } from './blob-store.contract.js';
import { filesUnder } from './fs-helpers.js';

let root = '';
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-blobs-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
const fresh = () => path.join(root, `store-${++n}`);

runBlobStoreContract('FileBlobStore (fsync)', () => FileBlobStore.open(fresh()));
runBlobStoreContract('FileBlobStore (no fsync)', () => FileBlobStore.open(fresh(), { fsync: false }));

/** Descriptors this process has open on directories under `dir` (Linux /proc). */
async function dirFdsUnder(dir: string): Promise<number> {
  let count = 0;
  for (const fd of await fs.readdir('/proc/self/fd')) {
    const target = await fs.readlink(path.join('/proc/self/fd', fd)).catch(() => '');
    // Not the O_DIRECT probe (direct-io.ts: a file unlinked at once, its descriptor kept).
    if (target.startsWith(dir + path.sep) && !target.endsWith(' (deleted)')) count++;
  }
  return count;
}

describe('FileBlobStore directory descriptors', { skip: process.platform !== 'linux' }, () => {
  it('keeps one descriptor per fan-out directory it synced, reuses it, and closes them all on close()', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await writeBlob(s, Buffer.from(`blob ${i}`))).blobId);
    const fanOuts = new Set(ids.map((id) => id.slice(0, 2))).size;
    assert.equal(await dirFdsUnder(dir), fanOuts);
    for (const id of ids) assert.equal((await readAll(s.read(id))).toString(), `blob ${ids.indexOf(id)}`);
    await s.close();
    assert.equal(await dirFdsUnder(dir), 0);
  });

  it('keeps none with fsync off', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir, { fsync: false });
    await writeBlob(s, Buffer.from('x'));
    assert.equal(await dirFdsUnder(dir), 0);
    await s.close();
  });
});

describe('FileBlobStore layout', () => {
  it('commits to <aa>/<id> with 0600 files and 0700 directories, leaving tmp empty', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir);
    const { blobId } = await writeBlob(s, Buffer.from('secret'));
    assert.match(blobId, /^[0-9a-f]{32}$/);
    const rel = path.join(blobId.slice(0, 2), blobId);
    assert.deepEqual(await filesUnder(dir), [rel]);
    assert.equal((await fs.stat(path.join(dir, rel))).mode & 0o777, 0o600);
    for (const d of ['', 'tmp', blobId.slice(0, 2), '00', 'ff']) {
      assert.equal((await fs.stat(path.join(dir, d))).mode & 0o777, 0o700, `mode of ${d || '<dir>'}`);
    }
  });

  it('writes into tmp/ until commit, and abort leaves no file anywhere', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir);
    const w = await s.create();
    await w.write(Buffer.alloc(2 * 1024 * 1024, 1)); // larger than one batch, so bytes hit the file
    assert.deepEqual(await filesUnder(dir), [path.join('tmp', w.blobId)]);
    assert.equal((await fs.stat(path.join(dir, 'tmp', w.blobId))).mode & 0o777, 0o600);
    await w.abort();
    assert.deepEqual(await filesUnder(dir), []);
  });

  it('cleanTemporary removes leftovers of uncommitted writes and keeps committed blobs', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir);
    const kept = await writeBlob(s, Buffer.from('kept'));
    const abandoned = await s.create();
    await abandoned.write(Buffer.alloc(2 * 1024 * 1024, 2));
    await fs.writeFile(path.join(dir, 'tmp', 'stray-from-a-crash'), 'x');
    await s.cleanTemporary();
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
    assert.equal((await readAll(s.read(kept.blobId))).toString(), 'kept');
    await abandoned.abort();
  });

  it('reopening an existing directory keeps its blobs', async () => {
    const dir = fresh();
    const { blobId } = await writeBlob(await FileBlobStore.open(dir), Buffer.from('persist'));
    const again = await FileBlobStore.open(dir);
    assert.equal((await readAll(again.read(blobId))).toString(), 'persist');
  });

  it('rejects ids that are not its own instead of touching other paths', async () => {
    const s = await FileBlobStore.open(fresh());
    await assert.rejects(readAll(s.read('../../etc/passwd')), /invalid blob id/);
    await s.delete('../outside'); // a no-op: no such blob can exist
  });
});
