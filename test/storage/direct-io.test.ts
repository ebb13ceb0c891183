// The file blob store writes with O_DIRECT where the filesystem takes it (with fsync on, in
// the single-node layout and in a shared directory: storage/direct-io.ts): whole batches go
// direct, a blob's unaligned tail through a buffered descriptor, and every size reads back
// byte for byte. Where the filesystem refuses O_DIRECT the store writes buffered.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeDirectProbe, openDirectProbe } from '../../src/storage/direct-io.js';
import { FileBlobStore, type FileBlobStoreOptions } from '../../src/storage/file-blob-store.js';
import { readAll, runBlobStoreContract, writeBlob } from './blob-store.contract.js';
import { patternBytes } from './fs-helpers.js';

// O_DIRECT differs by architecture: 0o40000 on x86-64, 0o200000 on arm64.
const oDirect = process.arch === 'arm64' ? 0o200000 : 0o40000;

let root = '';
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-direct-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
const fresh = () => path.join(root, `store-${++n}`);

/** The open flags (octal, from /proc/self/fdinfo) of this process's descriptors on `file`. */
async function flagsOf(file: string): Promise<number[]> {
  const out: number[] = [];
  for (const fd of await fs.readdir('/proc/self/fd')) {
    if ((await fs.readlink(path.join('/proc/self/fd', fd)).catch(() => '')) !== file) continue;
    const info = await fs.readFile(path.join('/proc/self/fdinfo', fd), 'utf8').catch(() => '');
    const m = /^flags:\s+([0-7]+)/m.exec(info);
    if (m) out.push(parseInt(m[1]!, 8));
  }
  return out;
}

/** Pages of `file` in the page cache (util-linux fincore); undefined where fincore is missing. */
function cachedPages(file: string): number | undefined {
  try {
    return Number(execFileSync('fincore', ['--noheadings', '--raw', '--output', 'PAGES', file], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

const BATCH = 1024 * 1024 + 4096;
const SIZES = [0, 1, 4095, 4096, 4097, 64 * 1024 + 1, 1024 * 1024, 1024 * 1024 + 256, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 4096 * 3 + 17];

/** Whether the filesystem of `dir` takes O_DIRECT (asked apart from the store). */
function takesDirect(dir: string): boolean {
  const probe = openDirectProbe(dir);
  closeDirectProbe(probe);
  return probe !== undefined;
}

/** The single-node layout and a shared directory (`--blobs file://`), each as FileBlobStore.open's options. */
const LAYOUTS: { name: string; opts: FileBlobStoreOptions; temp: (id: string) => string; final: (id: string) => string }[] = [
  { name: 'single-node layout', opts: {}, temp: (id) => id, final: (id) => path.join(id.slice(0, 2), id) },
  { name: 'shared directory', opts: { shared: { nodeId: 'node-a' } }, temp: (id) => `node-a.${process.pid}.${id}`, final: (id) => path.join(id.slice(0, 2), id.slice(2, 4), id) },
];

for (const layout of LAYOUTS) describe(`FileBlobStore with O_DIRECT, ${layout.name}`, { skip: process.platform !== 'linux' }, () => {
  it('writes a blob through an O_DIRECT descriptor when fsync is on and the filesystem takes it', async (t) => {
    if (!takesDirect(root)) return t.skip(`${os.tmpdir()} does not take O_DIRECT`);
    const s = await FileBlobStore.open(fresh(), layout.opts);
    try {
      assert.equal(s.writesDirect, true, 'the filesystem takes O_DIRECT: the store writes that way');
      const w = await s.create();
      await w.write(patternBytes(BATCH + 10, 1));
      const tmp = path.join(s.dir, 'tmp', layout.temp(w.blobId));
      const flags = await flagsOf(tmp);
      assert.ok(flags.length >= 1 && flags.some((f) => (f & oDirect) !== 0), `descriptors of the temporary: ${flags.map((f) => f.toString(8)).join(', ')}`);
      await w.commit();
      assert.deepEqual(await readAll(s.read(w.blobId)), patternBytes(BATCH + 10, 1));
    } finally {
      await s.close();
    }
  });

  it('reads back every size byte for byte: whole batches direct, unaligned tails buffered, any chunking', async () => {
    const s = await FileBlobStore.open(fresh(), layout.opts);
    try {
      for (const [i, size] of SIZES.entries()) {
        for (const chunks of [[64 * 1024], [1000, 7, 65536 + 3]]) {
          const data = patternBytes(size, i + 1);
          const w = await writeBlob(s, data, chunks);
          assert.deepEqual(await readAll(s.read(w.blobId)), data, `size ${size}, chunks ${chunks.join('/')}`);
          assert.equal((await fs.stat(path.join(s.dir, layout.final(w.blobId)))).size, size);
        }
      }
      assert.deepEqual(await fs.readdir(path.join(s.dir, 'tmp')), [], 'nothing left in tmp (the probe file is unlinked at once)');
    } finally {
      await s.close();
    }
  });

  it('a blob of one batch ending off a block boundary (an encrypted 1 MiB object) goes direct but for its last partial block', async (t) => {
    const s = await FileBlobStore.open(fresh());
    try {
      if (!s.writesDirect) return t.skip(`${os.tmpdir()} does not take O_DIRECT`);
      // 1 MiB of plaintext sealed: 16 segments of 64 KiB and their 16-byte tags.
      const data = patternBytes(1024 * 1024 + 256, 5);
      const w = await writeBlob(s, data, [64 * 1024 + 16]);
      const file = path.join(s.dir, w.blobId.slice(0, 2), w.blobId);
      const pages = cachedPages(file);
      if (pages === undefined) return t.skip('fincore (util-linux) is not installed');
      // Written buffered whole, all 257 pages would sit in the page cache after the commit.
      assert.ok(pages <= 1, `${pages} pages of the blob in the page cache`);
      assert.deepEqual(await readAll(s.read(w.blobId)), data);
    } finally {
      await s.close();
    }
  });

  it('an aborted direct write leaves nothing behind', async () => {
    const s = await FileBlobStore.open(fresh(), layout.opts);
    try {
      const w = await s.create();
      await w.write(patternBytes(2 * BATCH + 5, 9));
      await w.abort();
      assert.deepEqual(await fs.readdir(path.join(s.dir, 'tmp')), []);
      assert.ok(!existsSync(path.join(s.dir, layout.final(w.blobId))));
    } finally {
      await s.close();
    }
  });

  it('writes buffered with fsync off', async () => {
    const s = await FileBlobStore.open(fresh(), { ...layout.opts, fsync: false });
    try {
      assert.equal(s.writesDirect, false);
    } finally {
      await s.close();
    }
  });
});

// tmpfs refuses O_DIRECT before Linux 6.6 and takes it since: the store asks at open and
// writes whichever way the filesystem answered.
const SHM = '/dev/shm';
describe('FileBlobStore on tmpfs', { skip: !existsSync(SHM) }, () => {
  let shmRoot = '';
  before(async () => {
    shmRoot = await fs.mkdtemp(path.join(SHM, 'coffer-direct-'));
  });
  after(async () => {
    await fs.rm(shmRoot, { recursive: true, force: true });
  });

  for (const layout of LAYOUTS) {
    it(`reads back every size, direct or buffered (${layout.name})`, async () => {
      const s = await FileBlobStore.open(path.join(shmRoot, `store-${++n}`), layout.opts);
      try {
        for (const [i, size] of SIZES.entries()) {
          const data = patternBytes(size, i + 1);
          const w = await writeBlob(s, data);
          assert.deepEqual(await readAll(s.read(w.blobId)), data, `size ${size}`);
        }
      } finally {
        await s.close();
      }
    });
  }

  runBlobStoreContract('FileBlobStore (fsync, tmpfs)', () => FileBlobStore.open(path.join(shmRoot, `c-${++n}`)));
  runBlobStoreContract('FileBlobStore shared (fsync, tmpfs)', () => FileBlobStore.open(path.join(shmRoot, `c-${++n}`), { shared: { nodeId: 'node-a' } }));
});
