// Runs the BlobStore contract against TieredBlobStore, plus what is its own: which blobs
// become rows and which files, spilling past INLINE_MAX_BYTES, inline ranges and the
// readSmall fast path, deletes in both tiers, and a process killed after an inline blob's
// insert but before its metadata commit.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { retainSqlite } from '../../src/storage/sqlite-database.js';
import { FileBlobStore } from '../../src/storage/file-blob-store.js';
import { recoverStorage } from '../../src/storage/recovery.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { INLINE_MAX_BYTES, TieredBlobStore } from '../../src/storage/tiered-blob-store.js';
import type { InlineBlobStore } from '../../src/storage/types.js';
import { readAll, runBlobStoreContract, writeBlob } from './blob-store.contract.js';
import { SMALL_SIZE, V1_SEED, V2_SEED } from './fixtures/inline-crash-writer.js';
import { SPILL_SIZE, SPILL_V1_SEED, SPILL_V2_SEED } from './fixtures/spill-crash-writer.js';
import { filesUnder, patternBytes } from './fs-helpers.js';

let root = '';
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-tiered-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A fresh data directory with a metadata store and a tiered store on it; closing the tiered store closes both. */
async function fresh(fsync = true): Promise<{ store: TieredBlobStore; blobsDir: string; database: string }> {
  const dir = path.join(root, `store-${++n}`);
  await fs.mkdir(dir);
  const database = path.join(dir, 'meta.db');
  const meta = SqliteMetadataStore.open(database, { backgroundCheckpoint: false });
  const blobsDir = path.join(dir, 'blobs');
  const store = await TieredBlobStore.open({ dir: blobsDir, meta, fsync });
  const closeBlobs = store.close.bind(store);
  store.close = async () => {
    await closeBlobs();
    await meta.close();
  };
  return { store, blobsDir, database };
}

function inlineRows(database: string): string[] {
  const db = retainSqlite(new Database(database, { readonly: true }));
  try {
    return db.prepare('SELECT blob_id FROM inline_blobs ORDER BY blob_id').pluck().all() as string[];
  } finally {
    db.close();
  }
}

const filePath = (blobId: string) => {
  const hex = blobId.replace(/^i/, '');
  return path.join(hex.slice(0, 2), hex);
};

runBlobStoreContract('TieredBlobStore (fsync)', async () => (await fresh()).store);
runBlobStoreContract('TieredBlobStore (no fsync)', async () => (await fresh(false)).store);
// A networked metadata store reads its inline tier only asynchronously (no getNow): every
// read then goes through get, and readSmall has no fast path to offer.
runBlobStoreContract('TieredBlobStore (inline tier without getNow)', async () => {
  const { store, blobsDir } = await fresh(false);
  const tier = store.meta.inlineBlobs;
  const inlineBlobs: InlineBlobStore = { putPending: (id, data) => tier.putPending(id, data), get: (id, range) => tier.get(id, range), delete: (id) => tier.delete(id) };
  const asyncOnly = await TieredBlobStore.open({ dir: blobsDir, meta: { inlineBlobs, markPending: (id) => store.meta.markPending(id) }, fsync: false });
  asyncOnly.close = () => store.close();
  return asyncOnly;
});

describe('TieredBlobStore tiers', () => {
  it('keeps a blob of up to INLINE_MAX_BYTES as a row and no file, and one byte more as a file and no row', async () => {
    const { store, blobsDir, database } = await fresh();
    try {
      const small = patternBytes(INLINE_MAX_BYTES, 1);
      const big = patternBytes(INLINE_MAX_BYTES + 1, 2);
      // Written in chunks that cross the threshold mid-chunk, so the spill copies what was buffered.
      const a = await writeBlob(store, small, [1000, 7]);
      const b = await writeBlob(store, big, [1000, 7]);
      assert.match(a.blobId, /^i[0-9a-f]{32}$/);
      assert.match(b.blobId, /^i[0-9a-f]{32}$/);
      assert.deepEqual(inlineRows(database), [a.blobId]);
      assert.deepEqual(await filesUnder(blobsDir), [filePath(b.blobId)]);
      assert.ok((await readAll(store.read(a.blobId))).equals(small));
      assert.ok((await readAll(store.read(b.blobId))).equals(big));
      assert.ok(store.readSmall(a.blobId)?.equals(small));
      assert.equal(store.readSmall(b.blobId), undefined, 'a spilled blob has no fast path');
      // localFile (the decrypt worker reads it directly): the spilled blob's file, never an inline blob.
      assert.equal(store.localFile(a.blobId, small.length), undefined, 'a blob that may be inline has no file to name');
      const file = store.localFile(b.blobId, big.length);
      assert.equal(file, path.join(blobsDir, filePath(b.blobId)));
      assert.ok((await fs.readFile(file!)).equals(big), 'the named file holds the blob');
    } finally {
      await store.close();
    }
  });

  it('spills a large stream to a file and keeps streaming: what is read back is exactly what was written', async () => {
    const { store, blobsDir, database } = await fresh(false);
    try {
      const data = patternBytes(5 * 1024 * 1024 + 3, 3);
      const w = await writeBlob(store, data, [INLINE_MAX_BYTES - 1, 3, 300_000]);
      assert.deepEqual(inlineRows(database), []);
      assert.deepEqual(await filesUnder(blobsDir), [filePath(w.blobId)]);
      assert.ok((await readAll(store.read(w.blobId, { start: 60_000, end: 70_000 }))).equals(data.subarray(60_000, 70_001)));
      assert.ok((await readAll(store.read(w.blobId))).equals(data));
    } finally {
      await store.close();
    }
  });

  it('serves inline ranges through read() and readSmall(): inclusive, clipped at the end, empty past it', async () => {
    const { store } = await fresh();
    try {
      const data = patternBytes(10_000, 4);
      const { blobId } = await writeBlob(store, data);
      for (const [start, end] of [[0, 0], [9_999, 9_999], [1_234, 5_678], [0, 9_999], [9_000, 20_000]] as const) {
        const want = data.subarray(start, end + 1);
        assert.ok((await readAll(store.read(blobId, { start, end }))).equals(want), `read ${start}-${end}`);
        assert.ok(store.readSmall(blobId, { start, end })?.equals(want), `readSmall ${start}-${end}`);
      }
      assert.equal((await readAll(store.read(blobId, { start: 10_000, end: 10_005 }))).length, 0);
      await assert.rejects(readAll(store.read(blobId, { start: 5, end: 4 })), RangeError);
    } finally {
      await store.close();
    }
  });

  it('stores an empty blob inline', async () => {
    const { store, database } = await fresh();
    try {
      const w = await store.create();
      assert.equal(await w.commit(), 0);
      assert.deepEqual(inlineRows(database), [w.blobId]);
      assert.equal(store.readSmall(w.blobId)?.length, 0);
    } finally {
      await store.close();
    }
  });

  it('delete removes the row of an inline blob and the file of a spilled one', async () => {
    const { store, blobsDir, database } = await fresh();
    try {
      const a = await writeBlob(store, patternBytes(100, 5));
      const b = await writeBlob(store, patternBytes(INLINE_MAX_BYTES * 3, 6));
      await store.delete(a.blobId);
      assert.deepEqual(inlineRows(database), []);
      assert.equal(store.readSmall(a.blobId), undefined);
      await assert.rejects(readAll(store.read(a.blobId)));
      await store.delete(b.blobId);
      assert.deepEqual(await filesUnder(blobsDir), []);
      await assert.rejects(readAll(store.read(b.blobId)));
      await store.delete(a.blobId); // a second delete is a no-op
    } finally {
      await store.close();
    }
  });

  it('abort before and after a spill leaves neither a row nor a file', async () => {
    const { store, blobsDir, database } = await fresh();
    try {
      const small = await store.create();
      await small.write(patternBytes(1000, 7));
      const big = await store.create();
      await big.write(patternBytes(INLINE_MAX_BYTES + 10, 8));
      assert.deepEqual(await filesUnder(blobsDir), [path.join('tmp', big.blobId.slice(1))], 'the spilled writer has a file');
      // Not awaited: abort must also catch a write that is still opening the spill file.
      const racing = await store.create();
      const racingWrite = racing.write(patternBytes(INLINE_MAX_BYTES + 10, 9));
      await Promise.all([small.abort(), big.abort(), racing.abort()]);
      await racingWrite.catch(() => undefined);
      assert.deepEqual(inlineRows(database), []);
      assert.deepEqual(await filesUnder(blobsDir), []);
    } finally {
      await store.close();
    }
  });

  it('reads blobs a plain FileBlobStore wrote to the same directory (data written before the inline tier)', async () => {
    const { store, blobsDir } = await fresh();
    try {
      const old = await writeBlob(await FileBlobStore.open(blobsDir), Buffer.from('from before'));
      assert.match(old.blobId, /^[0-9a-f]{32}$/);
      assert.equal((await readAll(store.read(old.blobId))).toString(), 'from before');
      assert.equal(store.readSmall(old.blobId), undefined);
      await store.delete(old.blobId);
      assert.deepEqual(await filesUnder(blobsDir), []);
    } finally {
      await store.close();
    }
  });

  it('readWhole reads a spilled blob from its file without asking the inline tier, and still finds an inline blob larger than INLINE_MAX_BYTES', async () => {
    const { store } = await fresh();
    try {
      const spilled = patternBytes(INLINE_MAX_BYTES * 4, 5);
      const { blobId } = await writeBlob(store, spilled);
      // A range reaching past INLINE_MAX_BYTES goes to the file first: the inline tier is not asked.
      const inlineBlobs = store.meta.inlineBlobs;
      const getNow = inlineBlobs.getNow!.bind(inlineBlobs);
      let asked = 0;
      inlineBlobs.getNow = (id, range) => {
        asked++;
        return getNow(id, range);
      };
      try {
        const end = spilled.length - 1;
        assert.ok((await store.readWhole(blobId, { start: 0, end }))?.data.equals(spilled));
        assert.equal(store.readSmall(blobId, { start: 0, end }), undefined);
        assert.equal(asked, 0, 'no inline lookup for a range past INLINE_MAX_BYTES');
        // A range inside the first INLINE_MAX_BYTES asks the inline tier, then reads the file.
        assert.ok((await store.readWhole(blobId, { start: 10, end: 1009 }))?.data.equals(spilled.subarray(10, 1010)));
        assert.equal(asked, 1);
      } finally {
        inlineBlobs.getNow = getNow;
      }
      // A blob kept inline under a larger maximum than today's has no file: readWhole falls
      // back to the row, and read() serves it as before.
      const legacy = patternBytes(INLINE_MAX_BYTES + 5000, 6);
      const legacyId = 'i' + 'ab'.repeat(16);
      await inlineBlobs.putPending(legacyId, legacy);
      const range = { start: 100, end: legacy.length - 1 };
      assert.ok((await store.readWhole(legacyId, range))?.data.equals(legacy.subarray(100)));
      assert.ok((await readAll(store.read(legacyId, range))).equals(legacy.subarray(100)));
      // Neither a row nor a file: the file's ENOENT.
      await assert.rejects(async () => store.readWhole('i' + 'cd'.repeat(16), range), { code: 'ENOENT' });
    } finally {
      await store.close();
    }
  });

});

/** Runs a crash fixture in a child process until it prints its ready line, then SIGKILLs it; returns the line's words after "ready". */
async function runUntilReady(fixtureName: string, dir: string): Promise<string[]> {
  const fixture = fileURLToPath(new URL(`./fixtures/${fixtureName}`, import.meta.url));
  const child = spawn(process.execPath, [fixture, dir], { env: { ...process.env, COFFER_CRASH_FIXTURE: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('exit', (code) => reject(new Error(`fixture exited (${code}) before it was ready`)));
    setTimeout(() => reject(new Error('fixture not ready within 20 s')), 20_000).unref();
  }).finally(() => child.kill('SIGKILL'));
  assert.equal(await exited, 'SIGKILL');
  const [word, ...rest] = line.split(' ');
  assert.equal(word, 'ready');
  return rest;
}

describe('TieredBlobStore crash recovery', () => {
  it('removes an inline blob that was inserted but whose metadata commit never happened (SIGKILL), keeping v1', async () => {
    const dir = path.join(root, `crash-${++n}`);
    await fs.mkdir(dir);
    const [v1, v2] = await runUntilReady('inline-crash-writer.js', dir);

    const database = path.join(dir, 'meta.db');
    const meta = SqliteMetadataStore.open(database, { backgroundCheckpoint: false });
    const blobs = await TieredBlobStore.open({ dir: path.join(dir, 'blobs'), meta });
    try {
      // The crash really left v2's row behind, so the assertions below can fail.
      assert.deepEqual(inlineRows(database), [v1!, v2!].sort());
      assert.deepEqual(await recoverStorage(meta, blobs), { removedBlobs: 1 });
      assert.deepEqual(inlineRows(database), [v1!]);
      assert.equal(blobs.readSmall(v2!), undefined);
      const rec = await meta.getObject('crash', 'small');
      assert.deepEqual(rec?.parts.map((p) => p.blobId), [v1]);
      assert.ok(blobs.readSmall(v1!)?.equals(patternBytes(SMALL_SIZE, V1_SEED)), 'v1 bytes intact');
      assert.ok(!patternBytes(SMALL_SIZE, V1_SEED).equals(patternBytes(SMALL_SIZE, V2_SEED)));
      assert.deepEqual(await meta.takeGarbage(true), []);
    } finally {
      await blobs.close();
      await meta.close();
    }
  });
});

describe('TieredBlobStore crash recovery, spilled blobs', () => {
  it('removes a file committed under an id marked ahead whose metadata commit never happened (SIGKILL), and the unused ids, keeping v1', async () => {
    const dir = path.join(root, `crash-${++n}`);
    await fs.mkdir(dir);
    const [v1, created, v2] = await runUntilReady('spill-crash-writer.js', dir);
    assert.notEqual(v2, created, 'v2 was committed under an id marked ahead, not the one it was created with');
    const blobsDir = path.join(dir, 'blobs');
    const meta = SqliteMetadataStore.open(path.join(dir, 'meta.db'), { backgroundCheckpoint: false });
    const blobs = await TieredBlobStore.open({ dir: blobsDir, meta });
    try {
      // The crash really left v2's file in place, so the assertions below can fail.
      assert.deepEqual(await filesUnder(blobsDir), [filePath(v1!), filePath(v2!)].sort());
      // v2 and the 15 ids marked ahead that no writer took: all pending, nothing else.
      assert.deepEqual(await recoverStorage(meta, blobs), { removedBlobs: 16 });
      assert.deepEqual(await filesUnder(blobsDir), [filePath(v1!)]);
      const rec = await meta.getObject('crash', 'small');
      assert.deepEqual(rec?.parts.map((p) => p.blobId), [v1]);
      assert.deepEqual(await readAll(blobs.read(v1!)), patternBytes(SPILL_SIZE, SPILL_V1_SEED), 'v1 bytes intact');
      assert.ok(!patternBytes(SPILL_SIZE, SPILL_V1_SEED).equals(patternBytes(SPILL_SIZE, SPILL_V2_SEED)));
      assert.deepEqual(await meta.takeGarbage(true), []);
    } finally {
      await blobs.close();
      await meta.close();
    }
  });
});

describe('a spilled blob and its pending mark', () => {
  /** A tiered store over a metadata store whose markPending settles only when the test says. */
  async function gated(): Promise<{ store: TieredBlobStore; blobsDir: string; settle: (error?: Error) => void; close: () => Promise<void> }> {
    const dir = path.join(root, `gated-${++n}`);
    await fs.mkdir(dir);
    const meta = SqliteMetadataStore.open(path.join(dir, 'meta.db'), { backgroundCheckpoint: false });
    let settle: (error?: Error) => void = () => undefined;
    const gate = new Promise<void>((resolve, reject) => (settle = (e) => (e ? reject(e) : resolve())));
    const gatedMeta = { inlineBlobs: meta.inlineBlobs, markPending: async (id: string) => { await gate; await meta.markPending(id); } };
    const blobsDir = path.join(dir, 'blobs');
    const store = await TieredBlobStore.open({ dir: blobsDir, meta: gatedMeta, fsync: true });
    return { store, blobsDir, settle: (e) => settle(e), close: async () => { await store.close(); await meta.close(); } };
  }

  it('streams into the temporary area while the mark commits, and puts nothing in place before the mark is durable', async () => {
    const { store, blobsDir, settle, close } = await gated();
    try {
      const w = await store.create();
      await w.write(patternBytes(INLINE_MAX_BYTES + 4096, 7));
      let committed = false;
      const commit = w.commit().then((size) => ((committed = true), size));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(committed, false, 'commit waits for the pending mark');
      assert.deepEqual((await filesUnder(blobsDir)).filter((f) => !f.startsWith('tmp')), [], 'nothing under the blob id yet');
      settle();
      assert.equal(await commit, INLINE_MAX_BYTES + 4096);
      assert.deepEqual(await readAll(store.read(w.blobId)), patternBytes(INLINE_MAX_BYTES + 4096, 7));
    } finally {
      await close();
    }
  });

  it('spills after the first take ids marked ahead, 16 in one batch: no mark of their own, and each id is used once', async () => {
    const dir = path.join(root, `ahead-${++n}`);
    await fs.mkdir(dir);
    const meta = SqliteMetadataStore.open(path.join(dir, 'meta.db'), { backgroundCheckpoint: false });
    const marks: string[] = [];
    const counting = { inlineBlobs: meta.inlineBlobs, markPending: (id: string) => (marks.push(id), meta.markPending(id)) };
    const store = await TieredBlobStore.open({ dir: path.join(dir, 'blobs'), meta: counting, fsync: false, premark: true });
    try {
      const first = await writeBlob(store, patternBytes(INLINE_MAX_BYTES + 1, 1));
      assert.equal(marks.length, 17, 'the first spill marks its own id and 16 ahead');
      assert.ok(marks.includes(first.blobId));
      const ahead = new Set(marks.filter((id) => id !== first.blobId));
      const used: string[] = [];
      for (let i = 0; i < 13; i++) {
        const w = await store.create();
        const created = w.blobId;
        await w.write(patternBytes(INLINE_MAX_BYTES + 100, i + 2));
        await w.commit();
        assert.notEqual(w.blobId, created);
        used.push(w.blobId);
        assert.deepEqual(await readAll(store.read(w.blobId)), patternBytes(INLINE_MAX_BYTES + 100, i + 2));
      }
      assert.ok(used.every((id) => ahead.has(id)), 'every later spill took an id marked ahead');
      assert.equal(new Set(used).size, used.length, 'no id twice');
      await new Promise((r) => setTimeout(r, 50)); // the 13th spill left 3: a new batch is being marked
      assert.equal(marks.length, 17 + 16, 'a new batch once fewer than 4 were left, nothing per blob');
      const small = await writeBlob(store, patternBytes(100, 5));
      assert.ok(!ahead.has(small.blobId), 'a blob that stays inline keeps its own id');
    } finally {
      await store.close();
      await meta.close();
    }
  });

  it('without the premark option (a cluster\'s stores), every spill marks its own id and nothing more', async () => {
    const dir = path.join(root, `own-${++n}`);
    await fs.mkdir(dir);
    const meta = SqliteMetadataStore.open(path.join(dir, 'meta.db'), { backgroundCheckpoint: false });
    const marks: string[] = [];
    const counting = { inlineBlobs: meta.inlineBlobs, markPending: (id: string) => (marks.push(id), meta.markPending(id)) };
    const store = await TieredBlobStore.open({ dir: path.join(dir, 'blobs'), meta: counting, fsync: false });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await writeBlob(store, patternBytes(INLINE_MAX_BYTES + 1, i))).blobId);
      assert.deepEqual(marks, ids);
    } finally {
      await store.close();
      await meta.close();
    }
  });

  it('a mark that fails fails the commit and leaves no file', async () => {
    const { store, blobsDir, settle, close } = await gated();
    try {
      const w = await store.create();
      await w.write(patternBytes(INLINE_MAX_BYTES + 1, 3));
      settle(new Error('disk full'));
      await assert.rejects(w.commit(), /disk full/);
      assert.deepEqual(await filesUnder(blobsDir), []);
    } finally {
      await close();
    }
  });
});
