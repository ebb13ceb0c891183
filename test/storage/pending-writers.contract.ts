// The pending-blob part of the MetadataStore contract that several nodes rely on: pending
// marks name their writer; a node's start reclaims only its own earlier instances' marks;
// the leader reclaims the marks of writers that stopped heartbeating; a retired writer can
// no longer publish. Run by each store's test file with two stores on one database.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { BlobWriterIdentity, MetadataStore } from '../../src/storage/types.js';
import { WriterRetiredError } from '../../src/storage/types.js';
import { blobId, bucketRec, objectRec, partRec, uploadRec } from './metadata-store.contract.js';

/** Two stores on one fresh database, with these writers (and no heartbeat timer). */
export type OpenPair = (a: BlobWriterIdentity, b: BlobWriterIdentity) => Promise<[MetadataStore, MetadataStore]>;

const writer = (node: string): BlobWriterIdentity => ({ node, instance: randomUUID() });
const sorted = (ids: string[]) => [...ids].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LONG = { writerTimeoutMs: 3_600_000, unknownWriterGraceMs: 3_600_000 };
/** A writer timeout that a beat just sent cannot outlive before the next statement, even on a loaded machine. */
const ALIVE_TIMEOUT_MS = 1_000;

export function runPendingWritersContract(name: string, openPair: OpenPair): void {
  const withPair = (a: BlobWriterIdentity, b: BlobWriterIdentity, fn: (s: MetadataStore, t: MetadataStore) => Promise<void>) => async () => {
    const [s, t] = await openPair(a, b);
    try {
      await s.createBucket(bucketRec('b1'));
      await fn(s, t);
    } finally {
      await s.close();
      await t.close();
    }
  };

  describe(`${name}: pending blobs of several writers`, () => {
    it('a restarted node reclaims its earlier instance\'s pending blobs (file and inline), and that instance can no longer publish', withPair(writer('n1'), writer('n1'), async (old, restarted) => {
      const [file, inline] = [blobId(), `i${blobId()}`];
      await old.markPending(file);
      await old.inlineBlobs.putPending(inline, Buffer.from('small'));
      assert.equal(await restarted.reclaimPending({ kind: 'earlier-instances' }), 2);
      assert.deepEqual(sorted(await restarted.takeGarbage(false)), sorted([file, inline]));
      await assert.rejects(old.putObject(objectRec('b1', 'late', [file])), WriterRetiredError, 'a write of the retired instance is refused');
      assert.equal(await old.getObject('b1', 'late'), undefined);
      assert.equal(await old.heartbeatWriter(), false, 'its heartbeat says it was retired');
      assert.equal(await restarted.heartbeatWriter(), true);
      assert.equal(await restarted.reclaimPending({ kind: 'earlier-instances' }), 0, 'nothing twice');
    }));

    it('a node\'s start spares another node\'s writes in flight', withPair(writer('n1'), writer('n2'), async (busy, starting) => {
      const b = blobId();
      await busy.markPending(b);
      assert.equal(await starting.reclaimPending({ kind: 'earlier-instances' }), 0);
      await busy.putObject(objectRec('b1', 'k', [b]));
      assert.deepEqual(await starting.takeGarbage(false), []);
      assert.equal((await starting.getObject('b1', 'k'))?.parts[0]?.blobId, b);
    }));

    it('the leader reclaims the pending blobs of a writer silent past the timeout, never its own or a live writer\'s', withPair(writer('n1'), writer('n2'), async (other, leader) => {
      const [theirs, mine] = [blobId(), blobId()];
      await other.markPending(theirs);
      await leader.markPending(mine);
      assert.equal(await leader.reclaimPending({ kind: 'abandoned', ...LONG }), 0, 'a writer heard from within the timeout is alive');
      await sleep(30);
      assert.equal(await leader.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 10, unknownWriterGraceMs: 3_600_000 }), 1, 'silent for 30 ms with a 10 ms timeout: dead');
      assert.deepEqual(await leader.takeGarbage(false), [theirs], 'the leader\'s own pending blob stays though it too was silent');
      await assert.rejects(other.putObject(objectRec('b1', 'late', [theirs])), WriterRetiredError);
      await leader.putObject(objectRec('b1', 'mine', [mine]));
      assert.deepEqual(await leader.takeGarbage(false), [theirs]);
    }));

    it('a heartbeat keeps a writer alive; putPart and completeUpload of a retired writer are refused too', withPair(writer('n1'), writer('n2'), async (other, leader) => {
      const u = uploadRec('b1', 'mp');
      await other.createUpload(u);
      const p1 = partRec(u.uploadId, 1);
      await other.markPending(p1.blobId);
      await other.putPart(p1);
      // Silent for longer than the timeout, then a beat: alive. The timeout is long enough that
      // the beat cannot have aged past it before the leader looks, however loaded the machine.
      await sleep(ALIVE_TIMEOUT_MS + 100);
      assert.equal(await other.heartbeatWriter(), true);
      assert.equal(await leader.reclaimPending({ kind: 'abandoned', writerTimeoutMs: ALIVE_TIMEOUT_MS, unknownWriterGraceMs: 3_600_000 }), 0, 'beat just now');
      // (It has no pending mark left to move: whether the leader retired it shows in its next beat.)
      assert.equal(await other.heartbeatWriter(), true, 'the leader did not retire a writer that beat within the timeout');
      await sleep(30);
      await leader.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 10, unknownWriterGraceMs: 3_600_000 });
      await assert.rejects(other.putPart(partRec(u.uploadId, 2)), WriterRetiredError);
      await assert.rejects(other.completeUpload(u.uploadId, objectRec('b1', 'mp', [p1.blobId])), WriterRetiredError);
      await leader.completeUpload(u.uploadId, objectRec('b1', 'mp', [p1.blobId]));
      assert.equal((await leader.getObject('b1', 'mp'))?.parts[0]?.blobId, p1.blobId, 'a live node completes the upload');
    }));
  });
}
