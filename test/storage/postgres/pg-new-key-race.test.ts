// The one-statement PUT of a new key (meta_put_new_object, metadata migration V5; review of
// pg-small2, 157b17a) racing on two nodes: two stores on one database, each its own pool and
// writer, both PUT the same new key while a test session holds the key's advisory lock, so
// both calls have begun — and taken their outer statement's snapshot — before either may
// write. The function's statements after the lock must see the first writer's commit:
// If-None-Match: * lets exactly one win (the other is PreconditionFailed, its blob left
// pending for the garbage protocol); without a condition the second overwrites the first (the
// first's blob becomes garbage). The per-bucket counts (V6's trigger) count one object.
// Real PostgreSQL.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { PgMetadataStore } from '../../../src/storage/postgres/pg-metadata-store.js';
import { keyLock } from '../../../src/storage/postgres/pg-metadata-versions.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { StorageConflictError } from '../../../src/storage/types.js';
import { bucketRec, objectRec } from '../metadata-store.contract.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';

describePostgres('a new key PUT on two nodes at once (one-statement write)', () => {
  async function twoNodes(fn: (s: [PgMetadataStore, PgMetadataStore], admin: pg.Client) => Promise<void>): Promise<void> {
    const url = await (await postgresServer()).freshDatabase();
    const a = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, heartbeatMs: 0 });
    const b = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, heartbeatMs: 0 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await a.createBucket(bucketRec('b1'));
      await fn([a, b], admin);
    } finally {
      await admin.end();
      await a.close();
      await b.close();
    }
  }

  /** Runs both puts while the key's lock is held here, released once both wait for it. */
  async function raced(admin: pg.Client, key: string, puts: () => Promise<unknown>[]): Promise<PromiseSettledResult<unknown>[]> {
    const lock = BigInt.asIntN(64, keyLock('b1', key)).toString();
    await admin.query('SELECT pg_advisory_lock($1)', [lock]);
    const running = puts();
    const deadline = Date.now() + 10_000;
    while ((await admin.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rowCount !== 2) {
      if (Date.now() > deadline) throw new Error('the two puts did not both wait for the key lock');
      await new Promise((r) => setTimeout(r, 10));
    }
    await admin.query('SELECT pg_advisory_unlock($1)', [lock]);
    return Promise.allSettled(running);
  }

  const pending = async (admin: pg.Client, blob: string) => (await admin.query('SELECT 1 FROM meta_pending_blobs WHERE blob_id = $1', [blob])).rowCount === 1;
  const garbage = async (admin: pg.Client, blob: string) => (await admin.query('SELECT 1 FROM meta_garbage_blobs WHERE blob_id = $1', [blob])).rowCount === 1;

  it('If-None-Match: * — exactly one wins; the loser is PreconditionFailed and its blob stays pending', async () => {
    await twoNodes(async ([a, b], admin) => {
      await a.markPending('blob-a');
      await b.markPending('blob-b');
      const results = await raced(admin, 'k', () => [
        a.putObject(objectRec('b1', 'k', ['blob-a']), { kind: 'ifNoneMatchStar' }),
        b.putObject(objectRec('b1', 'k', ['blob-b']), { kind: 'ifNoneMatchStar' }),
      ]);
      const won = results.findIndex((r) => r.status === 'fulfilled');
      assert.ok(won >= 0, JSON.stringify(results));
      const lost = results[1 - won]!;
      assert.equal(lost.status, 'rejected');
      assert.ok((lost as PromiseRejectedResult).reason instanceof StorageConflictError && (lost as PromiseRejectedResult).reason.kind === 'PreconditionFailed', String((lost as PromiseRejectedResult).reason));
      const [winner, loser] = won === 0 ? ['blob-a', 'blob-b'] : ['blob-b', 'blob-a'];
      assert.deepEqual((await a.getObject('b1', 'k'))?.parts.map((p) => p.blobId), [winner]);
      assert.equal(await pending(admin, winner), false, 'the written row\'s blob is no longer pending');
      assert.equal(await pending(admin, loser), true, 'the refused write\'s blob is left pending (the garbage protocol reclaims it)');
      const usage = (await a.bucketUsage()).find((u) => u.bucket === 'b1');
      assert.deepEqual([usage?.objects, usage?.bytes], [1, 10]);
    });
  });

  it('no condition — the second overwrites the first; the first\'s blob goes to garbage; one object counted', async () => {
    await twoNodes(async ([a, b], admin) => {
      await a.markPending('blob-a');
      await b.markPending('blob-b');
      const results = await raced(admin, 'k', () => [a.putObject(objectRec('b1', 'k', ['blob-a'])), b.putObject(objectRec('b1', 'k', ['blob-b']))]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled'], JSON.stringify(results));
      const current = (await a.getObject('b1', 'k'))!.parts[0]!.blobId;
      const replaced = current === 'blob-a' ? 'blob-b' : 'blob-a';
      assert.equal(await pending(admin, current), false);
      assert.equal(await pending(admin, replaced), false);
      assert.equal(await garbage(admin, replaced), true, 'the overwritten row\'s blob is garbage');
      assert.equal(await garbage(admin, current), false, 'the current row\'s blob is never garbage');
      const usage = (await a.bucketUsage()).find((u) => u.bucket === 'b1');
      assert.deepEqual([usage?.objects, usage?.bytes], [1, 10]);
    });
  });
});
