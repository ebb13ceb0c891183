// FileBlobStore in shared mode (`--blobs file:///path`): the BlobStore contract, the
// two-level layout, and two stores as two nodes on one directory — concurrent writers, and
// one node's cleanTemporary leaving the other's upload in flight alone.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBlobTierUnavailable } from '../../src/storage/blob-unavailable.js';
import { FileBlobStore, SHARED_TEMP_GRACE_MS } from '../../src/storage/file-blob-store.js';
import { readAll, runBlobStoreContract, writeBlob } from './blob-store.contract.js';
import { filesUnder } from './fs-helpers.js';

let root = '';
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-shared-blobs-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
const fresh = () => path.join(root, `shared-${++n}`);

runBlobStoreContract('FileBlobStore shared (fsync)', () => FileBlobStore.open(fresh(), { shared: { nodeId: 'node-a' } }));
runBlobStoreContract('FileBlobStore shared (no fsync)', () => FileBlobStore.open(fresh(), { fsync: false, shared: { nodeId: 'node-a' } }));

/** The pid of a process that has exited (so no live process has it, for a while). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('FileBlobStore shared layout', () => {
  it('commits to <aa>/<bb>/<id>, made on first use, with 0700 directories and a 0600 file', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir, { shared: { nodeId: 'node-a' } });
    assert.deepEqual((await fs.readdir(dir)).sort(), ['tmp'], 'no fan-out directories made up front');
    const { blobId } = await writeBlob(s, Buffer.from('sealed'));
    const rel = path.join(blobId.slice(0, 2), blobId.slice(2, 4), blobId);
    assert.deepEqual(await filesUnder(dir), [rel]);
    assert.equal((await fs.stat(path.join(dir, rel))).mode & 0o777, 0o600);
    for (const d of [blobId.slice(0, 2), path.join(blobId.slice(0, 2), blobId.slice(2, 4))]) assert.equal((await fs.stat(path.join(dir, d))).mode & 0o777, 0o700);
    // The decrypt worker reads the file itself (off the event loop), as in the single-node layout.
    assert.equal(s.localFile(blobId, 6), path.join(dir, rel));
  });

  it("translates a file reader's errors as read()'s: the directory gone is the blob tier unavailable, a missing blob stays missing", async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir, { shared: { nodeId: 'node-a' } });
    const { blobId } = await writeBlob(s, Buffer.from('sealed'));
    const file = s.localFile(blobId, 6)!;
    const enoent = async () => fs.open(file, 'r').then((h) => h.close(), (e: unknown) => e);
    const missing = Object.assign(new Error('gone'), { code: 'ENOENT' });
    assert.equal(await s.localFileError(missing), missing, 'a missing blob in a directory that is there');
    await fs.rename(dir, `${dir}.away`); // as an unmounted share
    try {
      assert.ok(isBlobTierUnavailable(await s.localFileError(await enoent())), 'the directory is not there: 503');
    } finally {
      await fs.rename(`${dir}.away`, dir);
    }
    assert.ok(isBlobTierUnavailable(await s.localFileError(Object.assign(new Error('stale'), { code: 'ESTALE' }))));
  });

  it('names a temporary after its node and process', async () => {
    const dir = fresh();
    const s = await FileBlobStore.open(dir, { shared: { nodeId: 'node.a/1' } });
    const w = await s.create();
    await w.write(Buffer.alloc(2 * 1024 * 1024, 1));
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), [`node_a_1.${process.pid}.${w.blobId}`]);
    await w.abort();
    assert.deepEqual(await filesUnder(dir), []);
  });
});

describe('two nodes on one shared directory', () => {
  it('write at once without colliding, and each reads what the other committed', async () => {
    const dir = fresh();
    const a = await FileBlobStore.open(dir, { fsync: false, shared: { nodeId: 'node-a' } });
    const b = await FileBlobStore.open(dir, { fsync: false, shared: { nodeId: 'node-b' } });
    const datas = Array.from({ length: 16 }, (_, i) => randomBytes(100_000 + i * 50_021));
    const ids = await Promise.all(datas.map((d, i) => writeBlob(i % 2 ? a : b, d, [7000, 65_536]).then((w) => w.blobId)));
    assert.equal(new Set(ids).size, ids.length);
    for (const [i, id] of ids.entries()) {
      assert.ok((await readAll((i % 2 ? b : a).read(id))).equals(datas[i]!), `blob ${i} through the other node`);
    }
    await a.delete(ids[0]!);
    await assert.rejects(readAll(b.read(ids[0]!)));
  });

  it("one node's cleanTemporary leaves the other's upload in flight, which then commits", async () => {
    const dir = fresh();
    const a = await FileBlobStore.open(dir, { shared: { nodeId: 'node-a' } });
    const b = await FileBlobStore.open(dir, { shared: { nodeId: 'node-b' } });
    const data = randomBytes(3 * 1024 * 1024);
    const inFlight = await b.create();
    await inFlight.write(data.subarray(0, 2 * 1024 * 1024));
    await a.cleanTemporary();
    await inFlight.write(data.subarray(2 * 1024 * 1024));
    assert.equal(await inFlight.commit(), data.length);
    assert.ok((await readAll(a.read(inFlight.blobId))).equals(data));
  });

  it("removes this node's temporaries of a dead process, keeps its own live ones", async () => {
    const dir = fresh();
    const a = await FileBlobStore.open(dir, { shared: { nodeId: 'node-a' } });
    const mine = await a.create();
    await mine.write(Buffer.alloc(2 * 1024 * 1024, 3));
    const crashed = `node-a.${deadPid()}.${'1'.repeat(32)}`;
    const otherNodes = `node-b.${deadPid()}.${'2'.repeat(32)}`; // a pid means nothing on another host
    const stray = 'stray-from-a-crash';
    for (const f of [crashed, otherNodes, stray]) await fs.writeFile(path.join(dir, 'tmp', f), 'x');
    await a.cleanTemporary();
    assert.deepEqual((await fs.readdir(path.join(dir, 'tmp'))).sort(), [`node-a.${process.pid}.${mine.blobId}`, otherNodes, stray].sort());
    assert.equal(await mine.commit(), 2 * 1024 * 1024);
  });

  it("removes any node's temporary untouched for the grace period", async () => {
    const dir = fresh();
    let now = Date.now();
    const a = await FileBlobStore.open(dir, { shared: { nodeId: 'node-a', now: () => now } });
    const b = await FileBlobStore.open(dir, { shared: { nodeId: 'node-b' } });
    const abandoned = await b.create();
    await abandoned.write(Buffer.alloc(2 * 1024 * 1024, 4));
    await fs.writeFile(path.join(dir, 'tmp', 'stray'), 'x');
    now += SHARED_TEMP_GRACE_MS - 60_000;
    await a.cleanTemporary();
    assert.equal((await fs.readdir(path.join(dir, 'tmp'))).length, 2, 'kept within the grace period');
    now += 120_000;
    await a.cleanTemporary();
    assert.deepEqual(await fs.readdir(path.join(dir, 'tmp')), []);
    await abandoned.abort();
  });
});
