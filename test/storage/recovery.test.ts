// recoverStorage and collectGarbage against the real stores.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileBlobStore } from '../../src/storage/file-blob-store.js';
import { readersOf } from '../../src/storage/blob-readers.js';
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

describe('collectGarbage with open readers', () => {
  /** Waits for the collection a released reader schedules (it runs on a later turn). */
  async function until(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail('the deferred collection did not run');
  }

  it('leaves a blob a reader holds on the garbage list and deletes it once the reader releases it', async () => {
    const { meta, blobs } = await stores();
    const held = await writeBlob(blobs, Buffer.from('held'));
    const free = await writeBlob(blobs, Buffer.from('free'));
    await meta.putObject(objectRec('b', 'k', [held.blobId, free.blobId]));
    const claim = readersOf(blobs).begin();
    claim.hold([held.blobId]);
    await meta.deleteObject('b', 'k');
    assert.deepEqual(await collectGarbage(meta, blobs), { removedBlobs: 1 });
    assert.equal((await readAll(blobs.read(held.blobId))).toString(), 'held');
    await assert.rejects(readAll(blobs.read(free.blobId)));
    assert.deepEqual(await meta.takeGarbage(false), [held.blobId], 'the held blob stays listed (a crash leaves it to the next start)');
    claim.release();
    claim.release(); // twice is harmless
    await until(async () => (await meta.takeGarbage(false)).length === 0);
    await assert.rejects(readAll(blobs.read(held.blobId)));
    await meta.close();
  });

  it('deletes nothing while a reader has begun but not yet said which blobs it reads', async () => {
    const { meta, blobs } = await stores();
    const old = await writeBlob(blobs, Buffer.from('old'));
    await meta.putObject(objectRec('b', 'k', [old.blobId]));
    const claim = readersOf(blobs).begin(); // may have read the record naming `old`
    await meta.deleteObject('b', 'k');
    assert.deepEqual(await collectGarbage(meta, blobs), { removedBlobs: 0 });
    claim.hold([]); // it had read nothing that names `old`
    await until(async () => (await meta.takeGarbage(false)).length === 0);
    await assert.rejects(readAll(blobs.read(old.blobId)));
    await meta.close();
  });
});
