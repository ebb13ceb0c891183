// The BlobStore contract: every implementation (files now, remote backends later) runs
// this suite through runBlobStoreContract from its own *.test.ts file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { BlobStore, BlobWriter } from '../../src/storage/types.js';

/** Reads a stream to the end; rejects on a stream error, or after `ms` if it hangs. */
export async function readAll(r: Readable, ms = 5000): Promise<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      r.destroy();
      reject(new Error(`stream neither ended nor failed within ${ms} ms`));
    }, ms);
  });
  const body = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of r) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  })();
  try {
    return await Promise.race([body, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes data in the given chunk sizes (cycled) and commits. */
export async function writeBlob(store: BlobStore, data: Buffer, chunkSizes: number[] = [64 * 1024]): Promise<BlobWriter> {
  const w = await store.create();
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = chunkSizes[i % chunkSizes.length]!;
    await w.write(data.subarray(off, off + n));
    off += n;
  }
  assert.equal(await w.commit(), data.length);
  return w;
}

const MiB = 1024 * 1024;

export function runBlobStoreContract(name: string, make: () => Promise<BlobStore>): void {
  const withStore = async (fn: (s: BlobStore) => Promise<void>) => {
    const s = await make();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };
  const missing = (r: Readable) => assert.rejects(readAll(r), (e: unknown) => e instanceof Error && !/within/.test(e.message));

  describe(`BlobStore contract: ${name}`, () => {
    it('ping resolves on a working store, again and again', () =>
      withStore(async (s) => {
        await s.ping();
        await s.ping();
      }));

    it('reads back exactly what was written, across batch and chunk boundaries', () =>
      withStore(async (s) => {
        const data = randomBytes(3 * MiB + 17);
        // Small, odd and over-1-MiB writes exercise every path of a batching writer.
        const w = await writeBlob(s, data, [1, 4096, 100_000, 2 * MiB, 7, MiB]);
        assert.ok(w.blobId.length > 0);
        assert.ok((await readAll(s.read(w.blobId))).equals(data));
      }));

    it('stores an empty blob', () =>
      withStore(async (s) => {
        const w = await s.create();
        assert.equal(await w.commit(), 0);
        assert.equal((await readAll(s.read(w.blobId))).length, 0);
      }));

    it('reads inclusive ranges: first byte, last byte, middle, across a read chunk', () =>
      withStore(async (s) => {
        const data = randomBytes(2 * MiB + 5);
        const { blobId } = await writeBlob(s, data);
        const last = data.length - 1;
        for (const [start, end] of [[0, 0], [last, last], [1000, 1999], [MiB - 3, MiB + 3], [0, last], [5, last]] as const) {
          const got = await readAll(s.read(blobId, { start, end }));
          assert.ok(got.equals(data.subarray(start, end + 1)), `range ${start}-${end}`);
        }
      }));

    it('refuses a range that is not whole numbers with 0 <= start <= end, as a failing stream', () =>
      withStore(async (s) => {
        const { blobId } = await writeBlob(s, randomBytes(100));
        for (const [start, end] of [[5, 4], [-1, 3], [0.5, 3], [0, Number.MAX_SAFE_INTEGER + 1], [Number.NaN, 3]]) {
          await assert.rejects(readAll(s.read(blobId, { start: start!, end: end! })), RangeError, `range ${start}-${end}`);
        }
      }));

    it('applies writes and commit in call order when the caller does not wait for each', () =>
      withStore(async (s) => {
        const w = await s.create();
        const parts = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i * 997));
        const done = parts.map((p) => w.write(p));
        const size = w.commit();
        await Promise.all(done);
        assert.equal(await size, parts.reduce((n, p) => n + p.length, 0));
        assert.ok((await readAll(s.read(w.blobId))).equals(Buffer.concat(parts)));
      }));

    it('does not let a chunk reused after write() resolves change the blob', () =>
      withStore(async (s) => {
        const w = await s.create();
        const buf = Buffer.alloc(1000);
        const expected: Buffer[] = [];
        for (let i = 0; i < 50; i++) {
          buf.fill(i);
          expected.push(Buffer.from(buf));
          await w.write(buf);
        }
        await w.commit();
        assert.ok((await readAll(s.read(w.blobId))).equals(Buffer.concat(expected)));
      }));

    it('keeps an uncommitted blob invisible', () =>
      withStore(async (s) => {
        const w = await s.create();
        await w.write(randomBytes(10_000));
        await missing(s.read(w.blobId));
        await w.commit();
        assert.equal((await readAll(s.read(w.blobId))).length, 10_000);
      }));

    it('abort throws the bytes away, can be repeated, and stops further writes', () =>
      withStore(async (s) => {
        const w = await s.create();
        await w.write(randomBytes(5000));
        await w.abort();
        await w.abort();
        await missing(s.read(w.blobId));
        await assert.rejects(w.write(Buffer.from('x')));
        await assert.rejects(w.commit());
      }));

    it('a read of a missing blob fails instead of hanging', () =>
      withStore(async (s) => {
        const { blobId } = await writeBlob(s, Buffer.from('exists'));
        await s.delete(blobId);
        await missing(s.read(blobId));
        await missing(s.read(blobId, { start: 0, end: 3 }));
        await missing(s.read('0'.repeat(32)));
        await s.delete(blobId); // deleting a missing blob is fine
      }));

    it('readWhole, where offered, gives the bytes read() gives for ranges up to 1 MiB and declines larger ones', () =>
      withStore(async (s) => {
        if (s.readWhole === undefined) return;
        const data = randomBytes(2 * MiB + 5);
        const { blobId } = await writeBlob(s, data);
        const small = await writeBlob(s, randomBytes(3000));
        const last = data.length - 1;
        for (const [start, end] of [[0, 0], [last, last], [1000, 1999], [0, MiB - 1], [MiB, 2 * MiB - 1], [last - MiB + 1, last]] as const) {
          const got = (await s.readWhole(blobId, { start, end }))?.data;
          assert.ok(got !== undefined, `range ${start}-${end} read whole`);
          assert.ok(got.equals(data.subarray(start, end + 1)), `range ${start}-${end}`);
          assert.ok(got.equals(await readAll(s.read(blobId, { start, end }))), `range ${start}-${end} as read() gives it`);
        }
        const all = (await s.readWhole(small.blobId, { start: 0, end: 2999 }))?.data;
        assert.equal(all?.length, 3000);
        assert.equal(s.readWhole(blobId, { start: 0, end: last }), undefined, 'a 2 MiB range is left to read()');
      }));

    it('readWhole, where offered, keeps the bytes of a read intact while it is held, whatever reads run meanwhile, and after release', () =>
      withStore(async (s) => {
        if (s.readWhole === undefined) return;
        const blobs = await Promise.all([1, 2, 3].map(async (i) => {
          const data = randomBytes(MiB - i * 1000);
          return { data, blobId: (await writeBlob(s, data)).blobId };
        }));
        const whole = (b: { data: Buffer; blobId: string }) => s.readWhole!(b.blobId, { start: 0, end: b.data.length - 1 })!;
        const held = await whole(blobs[0]!);
        for (let round = 0; round < 4; round++) {
          const reads = await Promise.all([whole(blobs[1]!), whole(blobs[2]!)]);
          assert.ok(reads[0]!.data.equals(blobs[1]!.data) && reads[1]!.data.equals(blobs[2]!.data), `round ${round}: each read has its own bytes`);
          for (const r of reads) {
            r.release();
            r.release(); // twice is harmless
          }
          assert.ok(held.data.equals(blobs[0]!.data), `round ${round}: a held read is untouched by later ones`);
        }
        held.release();
        const again = await whole(blobs[0]!);
        assert.ok(again.data.equals(blobs[0]!.data));
        again.release();
      }));

    it('readWhole, where offered, rejects a missing blob, a bad range and a range past the end instead of answering short', () =>
      withStore(async (s) => {
        if (s.readWhole === undefined) return;
        const { blobId } = await writeBlob(s, randomBytes(100_000));
        await assert.rejects(async () => s.readWhole!(blobId, { start: 90_000, end: 110_000 }), /ended before the range/);
        await assert.rejects(async () => s.readWhole!(blobId, { start: 5, end: 4 }), RangeError);
        await assert.rejects(async () => s.readWhole!(blobId, { start: Number.NaN, end: 4 }), RangeError);
        await s.delete(blobId);
        await assert.rejects(async () => s.readWhole!(blobId, { start: 0, end: 99 }), (e: unknown) => e instanceof Error);
        await assert.rejects(async () => s.readWhole!('0'.repeat(32), { start: 0, end: 99 }), (e: unknown) => e instanceof Error);
      }));

    it('hands out a fresh id per writer', () =>
      withStore(async (s) => {
        const ws = await Promise.all(Array.from({ length: 20 }, () => s.create()));
        assert.equal(new Set(ws.map((w) => w.blobId)).size, 20);
        await Promise.all(ws.map((w) => w.abort()));
      }));

    it('keeps concurrent writers apart', () =>
      withStore(async (s) => {
        const datas = Array.from({ length: 8 }, (_, i) => randomBytes(300_000 + i * 70_001));
        const ids = await Promise.all(datas.map((d, i) => writeBlob(s, d, [3000 + i * 977, 150_000]).then((w) => w.blobId)));
        for (const [i, id] of ids.entries()) assert.ok((await readAll(s.read(id))).equals(datas[i]!), `writer ${i}`);
      }));
  });
}
