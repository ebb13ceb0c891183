// A small blob on PostgreSQL is stored by the transaction of the record that names it
// (PgInlineBlobs.stage, pg-inline-blobs.ts): one transaction per small PUT, nothing of the
// blob in the database before that commit, nothing left by a write that fails, and the
// fallback to a commit of its own (putPending) past the bound on held bytes, whose
// asynchronous commit a PostgreSQL crash does not lose under an acknowledged record. On a
// real PostgreSQL with the tiered blob store the server uses over it.
// (test/cluster/postgres-crash.test.ts crashes PostgreSQL under the server's small PUTs, which
// take the staged path.)

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type pg from 'pg';
import { PgMetadataStore } from '../../../src/storage/postgres/pg-metadata-store.js';
import { STAGE_MAX_BYTES } from '../../../src/storage/postgres/pg-inline-blobs.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { TieredBlobStore } from '../../../src/storage/tiered-blob-store.js';
import { StorageConflictError } from '../../../src/storage/types.js';
import { bucketRec, objectRec, partRec, uploadRec } from '../metadata-store.contract.js';
import { readAll } from '../blob-store.contract.js';
import { describePostgres, ownPostgresServer, postgresServer } from '../../helpers/postgres.js';

let root = '';
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-pg-staging-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

interface Setup {
  meta: PgMetadataStore;
  blobs: TieredBlobStore;
  /** A pool of its own for looking at the tables. */
  look: pg.Pool;
  url: string;
  close(): Promise<void>;
}

async function setup(): Promise<Setup> {
  const url = await (await postgresServer()).freshDatabase();
  const meta = await PgMetadataStore.open(openPgPool(url, { max: 4 }), { closePool: true, heartbeatMs: 0 });
  const blobs = await TieredBlobStore.open({ dir: await fs.mkdtemp(path.join(root, 'blobs-')), meta, fsync: false });
  const look = openPgPool(url, { max: 1 });
  await meta.createBucket(bucketRec('b1'));
  return {
    meta, blobs, look, url,
    async close() {
      await blobs.close();
      await meta.close();
      await look.end();
    },
  };
}

async function writeSmall(blobs: TieredBlobStore, data: Buffer): Promise<string> {
  const w = await blobs.create();
  await w.write(data);
  await w.commit();
  return w.blobId;
}

async function count(look: pg.Pool, table: string, blobId: string): Promise<number> {
  return (await look.query(`SELECT count(*)::int AS n FROM ${table} WHERE blob_id = $1`, [blobId])).rows[0].n as number;
}

/** The next transaction id PostgreSQL will assign (reading it assigns none). */
async function nextXid(look: pg.Pool): Promise<bigint> {
  return BigInt((await look.query('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x')).rows[0].x as string);
}

describePostgres('PostgreSQL inline blobs stored with their record', () => {
  it('a small PUT (blob commit, then putObject) assigns one transaction id, not one for the blob and one for the record', async () => {
    const s = await setup();
    try {
      await s.meta.putObject(objectRec('b1', 'warm', [await writeSmall(s.blobs, randomBytes(4096))])); // the pool's connections, prepared
      const n = 20;
      const x0 = await nextXid(s.look);
      for (let i = 0; i < n; i++) {
        const id = await writeSmall(s.blobs, randomBytes(4096));
        await s.meta.putObject({ ...objectRec('b1', `k${i}`, [id]), size: 4096 });
      }
      const used = Number((await nextXid(s.look)) - x0);
      // Autovacuum's ANALYZE may take a few of its own meanwhile; two per PUT would be 2n.
      assert.ok(used >= n && used <= n + 5, `${used} transaction ids for ${n} small PUTs`);
    } finally {
      await s.close();
    }
  });

  it('nothing of a committed small blob is in the database before its record: no row, no pending mark; the record\'s commit stores the bytes and leaves none held', async () => {
    const s = await setup();
    try {
      const data = randomBytes(4096);
      const id = await writeSmall(s.blobs, data);
      assert.equal(await count(s.look, 'meta_inline_blobs', id), 0, 'no row before the record commits');
      assert.equal(await count(s.look, 'meta_pending_blobs', id), 0, 'no pending mark: there is nothing to recover');
      assert.ok((await readAll(s.blobs.read(id))).equals(data), 'this node reads its committed blob back before the record');
      await s.meta.putObject({ ...objectRec('b1', 'k', [id]), size: data.length });
      assert.equal(await count(s.look, 'meta_inline_blobs', id), 1);
      assert.equal(s.meta.inlineBlobs.stagedSize, 0, 'no bytes held once published');
      const other = await PgMetadataStore.open(openPgPool(s.url, { max: 1 }), { closePool: true, heartbeatMs: 0 });
      try {
        assert.ok((await other.inlineBlobs.get(id))?.equals(data), 'another node reads the published bytes');
      } finally {
        await other.close();
      }
      assert.deepEqual(await s.meta.takeGarbage(true), [], 'no garbage, nothing pending');
    } finally {
      await s.close();
    }
  });

  it('a publish that fails (its condition) stores nothing; discardPending then drops the held bytes; a later overwrite makes the published blob garbage', async () => {
    const s = await setup();
    try {
      const first = await writeSmall(s.blobs, Buffer.from('v1'));
      await s.meta.putObject(objectRec('b1', 'k', [first]));
      const lost = await writeSmall(s.blobs, Buffer.from('v2'));
      await assert.rejects(s.meta.putObject(objectRec('b1', 'k', [lost]), { kind: 'ifNoneMatchStar' }), (e: unknown) => e instanceof StorageConflictError);
      assert.equal(await count(s.look, 'meta_inline_blobs', lost), 0, 'the failed transaction stored no bytes');
      await s.meta.discardPending(lost);
      assert.equal(s.meta.inlineBlobs.stagedSize, 0, 'discardPending dropped the held bytes');
      assert.equal(await s.meta.inlineBlobs.get(lost), undefined);
      assert.deepEqual(await s.meta.takeGarbage(false), [], 'a blob never stored is nobody\'s garbage');
      const second = await writeSmall(s.blobs, Buffer.from('v3'));
      await s.meta.putObject(objectRec('b1', 'k', [second]));
      assert.deepEqual(await s.meta.takeGarbage(false), [first], 'the overwritten version\'s inline blob is garbage');
      await s.blobs.delete(first);
      assert.equal(await count(s.look, 'meta_inline_blobs', first), 0);
    } finally {
      await s.close();
    }
  });

  it('a part\'s small blob is stored by putPart\'s transaction, and completeUpload publishes it', async () => {
    const s = await setup();
    try {
      const up = uploadRec('b1', 'mp');
      await s.meta.createUpload(up);
      const data = randomBytes(1000);
      const id = await writeSmall(s.blobs, data);
      await s.meta.putPart(partRec(up.uploadId, 1, id, { size: data.length }));
      assert.equal(await count(s.look, 'meta_inline_blobs', id), 1);
      assert.equal(s.meta.inlineBlobs.stagedSize, 0);
      await s.meta.completeUpload(up.uploadId, { ...objectRec('b1', 'mp', [id]), size: data.length });
      assert.ok((await readAll(s.blobs.read(id))).equals(data));
      assert.deepEqual(await s.meta.takeGarbage(true), []);
    } finally {
      await s.close();
    }
  });

  it('past the bound on held bytes a small blob is committed at once with its pending mark (putPending), as before', async () => {
    const s = await setup();
    try {
      assert.equal(s.meta.inlineBlobs.stage('i' + '0'.repeat(32), Buffer.alloc(STAGE_MAX_BYTES)), true);
      const id = await writeSmall(s.blobs, Buffer.from('small'));
      assert.equal(await count(s.look, 'meta_inline_blobs', id), 1, 'stored by its own commit');
      assert.equal(await count(s.look, 'meta_pending_blobs', id), 1, 'and marked pending');
      await s.meta.putObject(objectRec('b1', 'k', [id]));
      assert.equal(await count(s.look, 'meta_pending_blobs', id), 0, 'the record\'s commit ended the mark');
      await s.meta.discardPending('i' + '0'.repeat(32));
      assert.equal(s.meta.inlineBlobs.stagedSize, 0);
    } finally {
      await s.close();
    }
  });

  it('past the bound, a PostgreSQL crash during a burst of small PUTs loses no blob of an acknowledged record (the blob\'s asynchronous commit is flushed by its record\'s)', async () => {
    const server = await ownPostgresServer(); // durable defaults: fsync and synchronous_commit on
    const url = await server.freshDatabase();
    const meta = await PgMetadataStore.open(openPgPool(url, { max: 8 }), { closePool: true, heartbeatMs: 0 });
    const blobs = await TieredBlobStore.open({ dir: await fs.mkdtemp(path.join(root, 'blobs-')), meta, fsync: false });
    try {
      await meta.createBucket(bucketRec('b1'));
      assert.equal(meta.inlineBlobs.stage('i' + 'f'.repeat(32), Buffer.alloc(STAGE_MAX_BYTES)), true, 'the bound reached: every blob takes putPending');
      const acknowledged = new Map<string, Buffer>();
      let stop = false;
      let n = 0;
      const writer = async () => {
        while (!stop) {
          const key = `k${n++}`;
          const data = randomBytes(1 + ((n * 7919) % 8192));
          try {
            const id = await writeSmall(blobs, data);
            await meta.putObject({ ...objectRec('b1', key, [id]), size: data.length });
            acknowledged.set(key, data);
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      };
      const writers = Array.from({ length: 8 }, writer);
      while (acknowledged.size < 200) await new Promise((r) => setTimeout(r, 10));
      await server.crash();
      stop = true;
      await Promise.all(writers);
      await server.start();
      // The first reads after the restart may meet a connection the pool took before it saw the
      // crash ("Connection terminated unexpectedly", a 503 at the S3 layer): read again, as a client would.
      const read = async (key: string): Promise<Buffer | undefined> => {
        for (let attempt = 1; ; attempt++) {
          try {
            const rec = await meta.getObject('b1', key);
            return rec && (await meta.inlineBlobs.get(rec.parts[0]!.blobId));
          } catch (e) {
            if (attempt >= 5 || !/Connection terminated|not queryable/.test(String(e))) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };
      const lost: string[] = [];
      for (const [key, data] of acknowledged) {
        const got = await read(key);
        if (got === undefined || !got.equals(data)) lost.push(key);
      }
      assert.deepEqual(lost, [], `of ${acknowledged.size} acknowledged PUTs, every one reads back byte-exact`);
    } finally {
      await blobs.close();
      await meta.close();
    }
  });
});
