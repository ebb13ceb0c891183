// recoverStorage and collectGarbage against the real stores.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileBlobStore } from '../../src/storage/file-blob-store.js';
import { collectGarbage, recoverStorage } from '../../src/storage/recovery.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { readAll, writeBlob } from './blob-store.contract.js';
import { filesUnder } from './fs-helpers.js';
import { bucketRec, objectRec } from './metadata-store.contract.js';

let root = '';
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-recovery-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function stores() {
  const dir = path.join(root, `r${++n}`);
  await fs.mkdir(dir);
  const meta = SqliteMetadataStore.open(path.join(dir, 'meta.db'));
  const blobs = await FileBlobStore.open(path.join(dir, 'blobs'), { fsync: false });
  await meta.createBucket(bucketRec('b'));
  return { meta, blobs, blobsDir: path.join(dir, 'blobs') };
}

describe('recoverStorage', () => {
  it('deletes garbage and pending blobs and temporary files, keeps referenced blobs', async () => {
    const { meta, blobs, blobsDir } = await stores();
    const live = await writeBlob(blobs, Buffer.from('live'));
    await meta.putObject(objectRec('b', 'live', [live.blobId]));
    const deleted = await writeBlob(blobs, Buffer.from('deleted'));
    await meta.putObject(objectRec('b', 'deleted', [deleted.blobId]));
    await meta.deleteObject('b', 'deleted');
    const pending = await writeBlob(blobs, Buffer.from('pending'));
    await meta.markPending(pending.blobId);
    const unfinished = await blobs.create();
    await meta.markPending(unfinished.blobId);
    await unfinished.write(Buffer.alloc(2 * 1024 * 1024));

    assert.deepEqual(await recoverStorage(meta, blobs), { removedBlobs: 3 });
    assert.equal((await readAll(blobs.read(live.blobId))).toString(), 'live');
    assert.deepEqual(await filesUnder(blobsDir), [path.join(live.blobId.slice(0, 2), live.blobId)]);
    assert.deepEqual(await meta.takeGarbage(true), []);
    assert.deepEqual(await recoverStorage(meta, blobs), { removedBlobs: 0 });
    await meta.close();
  });
});

describe('collectGarbage', () => {
  it('deletes garbage blobs but leaves pending ones to their writers', async () => {
    const { meta, blobs } = await stores();
    const old = await writeBlob(blobs, Buffer.from('old'));
    await meta.putObject(objectRec('b', 'k', [old.blobId]));
    const inFlight = await writeBlob(blobs, Buffer.from('in flight'));
    await meta.markPending(inFlight.blobId);
    const fresh = await writeBlob(blobs, Buffer.from('new'));
    await meta.putObject(objectRec('b', 'k', [fresh.blobId]));

    assert.deepEqual(await collectGarbage(meta, blobs), { removedBlobs: 1 });
    await assert.rejects(readAll(blobs.read(old.blobId)));
    assert.equal((await readAll(blobs.read(inFlight.blobId))).toString(), 'in flight');
    assert.equal((await readAll(blobs.read(fresh.blobId))).toString(), 'new');
    assert.deepEqual(await collectGarbage(meta, blobs), { removedBlobs: 0 });
    await meta.close();
  });

  it('calls that overlap a running collection share it and nothing is left behind', async () => {
    const { meta, blobs } = await stores();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const w = await writeBlob(blobs, Buffer.from(`blob ${i}`));
      ids.push(w.blobId);
      await meta.putObject(objectRec('b', `k${i}`, [w.blobId]));
      await meta.deleteObject('b', `k${i}`);
    }
    const results = await Promise.all([collectGarbage(meta, blobs), collectGarbage(meta, blobs), collectGarbage(meta, blobs)]);
    assert.equal(results[0], results[1]);
    assert.equal(results[0]!.removedBlobs, 20);
    assert.deepEqual(await meta.takeGarbage(true), []);
    for (const id of ids) await assert.rejects(readAll(blobs.read(id)));
    await meta.close();
  });
});
