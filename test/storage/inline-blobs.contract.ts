// The inline blob tier of a MetadataStore (MetadataStore.inlineBlobs): part of the
// metadata store's contract, run by runMetadataStoreContract for every implementation.
// That a crash keeps an inline blob whenever it keeps a later metadata commit is pinned
// by the SIGKILL test of tiered-blob-store.test.ts; here: what the tier stores, returns
// and deletes, and that its blobs take part in the pending/garbage protocol.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { MetadataStore, ObjectRecord } from '../../src/storage/types.js';

export interface InlineBlobContractOptions {
  /** Runs fn against a fresh store holding bucket "b1", closing whatever store fn ends with. */
  withStore: (fn: (s: MetadataStore) => Promise<MetadataStore | void>) => Promise<void>;
  objectRec: (bucket: string, key: string, blobs: string[]) => ObjectRecord;
  reopen?: (store: MetadataStore) => Promise<MetadataStore>;
}

const inlineId = (): string => 'i' + randomBytes(16).toString('hex');

export function runInlineBlobContract(o: InlineBlobContractOptions): void {
  const { withStore } = o;
  /** get and, where the store offers it, getNow: both must give the same answer. */
  const read = async (s: MetadataStore, id: string, range?: { start: number; end: number }): Promise<Buffer | undefined> => {
    const got = await s.inlineBlobs.get(id, range);
    if (s.inlineBlobs.getNow) assert.deepEqual(s.inlineBlobs.getNow(id, range), got, 'getNow agrees with get');
    return got;
  };

  describe('inline blobs', () => {
    it('stores bytes and returns them whole, by inclusive range clipped at the end, and empty past it', () =>
      withStore(async (s) => {
        const data = randomBytes(65_536);
        const id = inlineId();
        await s.inlineBlobs.putPending(id, data);
        assert.ok((await read(s, id))?.equals(data));
        for (const [start, end] of [[0, 0], [65_535, 65_535], [1_000, 40_000], [60_000, 99_999]] as const) {
          assert.ok((await read(s, id, { start, end }))?.equals(data.subarray(start, end + 1)), `range ${start}-${end}`);
        }
        assert.equal((await read(s, id, { start: 65_536, end: 70_000 }))?.length, 0);
        assert.equal(await read(s, inlineId()), undefined, 'an unknown id has no bytes');
      }));

    it('stores an empty blob as present and empty', () =>
      withStore(async (s) => {
        const id = inlineId();
        await s.inlineBlobs.putPending(id, Buffer.alloc(0));
        assert.equal((await read(s, id))?.length, 0);
      }));

    it('putPending marks the blob pending; the metadata commit that names it clears the mark', () =>
      withStore(async (s) => {
        const [kept, lost] = [inlineId(), inlineId()];
        await s.inlineBlobs.putPending(kept, Buffer.from('v1'));
        await s.inlineBlobs.putPending(lost, Buffer.from('v2'));
        assert.deepEqual(await s.takeGarbage(false), [], 'pending is not garbage while its write may run');
        await s.putObject(o.objectRec('b1', 'k', [kept]));
        assert.deepEqual(await s.takeGarbage(true), [lost], 'only the unpublished blob is left to recovery');
      }));

    it('getObjectVersion with the prefetch hint answers as without; bytes it prefetched are the blob\'s, whole or by range, taken once', () =>
      withStore(async (s) => {
        const data = randomBytes(4096);
        const id = inlineId();
        await s.inlineBlobs.putPending(id, data);
        await s.putObject({ ...o.objectRec('b1', 'k', [id]), size: data.length });
        const hinted = await s.getObjectVersion('b1', 'k', undefined, { prefetch: true });
        assert.deepEqual(hinted, await s.getObjectVersion('b1', 'k', undefined));
        assert.equal(await s.getObjectVersion('b1', 'absent', undefined, { prefetch: true }), undefined);
        if (s.inlineBlobs.takePrefetched === undefined) {
          assert.ok(s.inlineBlobs.getNow, 'a tier without getNow (every read a round trip) offers takePrefetched');
          return;
        }
        assert.ok(s.inlineBlobs.takePrefetched(id, { start: 10, end: 20 })?.equals(data.subarray(10, 21)), 'a range of the prefetched bytes');
        assert.equal(s.inlineBlobs.takePrefetched(id), undefined, 'taken once');
        await s.getObjectVersion('b1', 'k', undefined, { prefetch: true });
        assert.ok(s.inlineBlobs.takePrefetched(id)?.equals(data), 'whole');
        await s.getObjectVersion('b1', 'k', undefined);
        assert.equal(s.inlineBlobs.takePrefetched(id), undefined, 'nothing is prefetched without the hint');
      }));

    it('delete removes a blob once; deleting an unknown one is false', () =>
      withStore(async (s) => {
        const id = inlineId();
        await s.inlineBlobs.putPending(id, Buffer.from('bytes'));
        assert.equal(await s.inlineBlobs.delete(id), true);
        assert.equal(await read(s, id), undefined);
        assert.equal(await s.inlineBlobs.delete(id), false);
        assert.equal(await s.inlineBlobs.delete(inlineId()), false);
      }));

    it('keeps inline blobs and their pending marks across a restart', { skip: o.reopen === undefined && 'store cannot be reopened' }, () =>
      withStore(async (s) => {
        const [published, pending] = [inlineId(), inlineId()];
        const a = randomBytes(4096);
        const b = randomBytes(100);
        await s.inlineBlobs.putPending(published, a);
        await s.putObject(o.objectRec('b1', 'k', [published]));
        await s.inlineBlobs.putPending(pending, b);
        s = await o.reopen!(s);
        assert.ok((await read(s, published))?.equals(a));
        assert.ok((await read(s, pending))?.equals(b));
        assert.deepEqual(await s.takeGarbage(true), [pending]);
        return s;
      }));
  });
}
