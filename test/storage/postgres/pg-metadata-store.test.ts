// Runs the MetadataStore contract against PgMetadataStore on a real PostgreSQL
// (test/helpers/postgres.ts), including two stores on one database written at once, as
// two nodes of a cluster; plus what only PostgreSQL has.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PgMetadataStore } from '../../../src/storage/postgres/pg-metadata-store.js';
import { PG_METADATA_MIGRATIONS } from '../../../src/storage/postgres/pg-metadata-schema.js';
import { PG_METADATA_SQL } from '../../../src/storage/postgres/pg-metadata-sql.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { transactionRetries } from '../../../src/storage/postgres/transaction.js';
import { schemaVersion } from '../../../src/storage/postgres/migrate.js';
import { StorageConflictError, type MetadataStore } from '../../../src/storage/types.js';
import { bucketRec, objectRec, partRec, runMetadataStoreContract, uploadRec } from '../metadata-store.contract.js';
import { describePostgres, pgStores, planOf, postgresServer } from '../../helpers/postgres.js';
import { runPendingWritersContract } from '../pending-writers.contract.js';

const stores = pgStores<MetadataStore>((pool) => PgMetadataStore.open(pool, { closePool: true }));

describePostgres('PgMetadataStore', () => {
  runMetadataStoreContract('PgMetadataStore', stores.make, { reopen: stores.reopen, twin: stores.twin });
  runPendingWritersContract('PgMetadataStore', async (a, b) => {
    const url = await (await postgresServer()).freshDatabase();
    const s = await PgMetadataStore.open(openPgPool(url, { max: 4 }), { closePool: true, writer: a, heartbeatMs: 0 });
    return [s, await PgMetadataStore.open(openPgPool(url, { max: 4 }), { closePool: true, writer: b, heartbeatMs: 0 })];
  });

  /** Waits until `n` backends of this database wait on a lock. */
  async function lockWaiters(c: { query: (sql: string) => Promise<{ rows: Array<{ n: number }> }> }, n: number): Promise<void> {
    for (let i = 0; i < 250; i++) {
      const waiting = (await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).rows[0]!.n;
      if (waiting >= n) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`fewer than ${n} backends waiting on a lock`);
  }

  /** Two stores on a fresh database, a writer node and the leader, and a third connection `c` to hold locks with. */
  async function writerAndLeader() {
    const url = await (await postgresServer()).freshDatabase();
    const writer = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, writer: { node: 'w', instance: 'w-1' }, heartbeatMs: 0 });
    const leader = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, writer: { node: 'l', instance: 'l-1' }, heartbeatMs: 0 });
    const locker = openPgPool(url, { max: 1 });
    const c = await locker.connect();
    const close = async (): Promise<void> => {
      c.release();
      await locker.end();
      await writer.close();
      await leader.close();
    };
    return { writer, leader, c, close };
  }

  // The write waits after its fence on the bucket row, which `c` holds FOR UPDATE: both the
  // one-statement write of a new key (newObject) and the full one (objectWriteState) lock the
  // writer row first, then the bucket row.
  for (const [what, existing, cond] of [
    ['a new key (one round trip)', false, { kind: 'none' }],
    ['an existing key, If-Match (the full write)', true, { kind: 'ifMatch', etag: '*' }],
  ] as const) {
    it(`an object write that passed its fence holds the leader's reclamation of its writer off until it commits: the blob stays, published — ${what}`, async () => {
      const { writer, leader, c, close } = await writerAndLeader();
      try {
        await writer.createBucket(bucketRec('b1'));
        if (existing) await writer.putObject(objectRec('b1', 'raced'));
        await writer.markPending('raced-blob');
        await c.query('BEGIN');
        await c.query("SELECT 1 FROM meta_buckets WHERE name = 'b1' FOR UPDATE");
        const put = writer.putObject(objectRec('b1', 'raced', ['raced-blob']), cond);
        put.catch(() => undefined);
        await lockWaiters(c, 1);
        // Silent past the leader's 10 ms timeout however fast the machine ran the set-up (a
        // writer still within it is not reclaimed, so the reclamation would not wait at all).
        await new Promise((r) => setTimeout(r, 20));
        const reclaim = leader.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 10, unknownWriterGraceMs: 3_600_000 });
        reclaim.catch(() => undefined);
        await lockWaiters(c, 2); // the reclamation waits for the write
        await c.query('COMMIT');
        await put;
        assert.equal(await reclaim, 0, 'the write ended the mark before the reclamation could move it');
        assert.deepEqual((await leader.getObject('b1', 'raced'))?.parts.map((p) => p.blobId), ['raced-blob']);
        assert.ok(!(await leader.takeGarbage(false)).includes('raced-blob'), 'the published blob is not garbage');
        await assert.rejects(writer.putObject(objectRec('b1', 'later')), (e: unknown) => e instanceof Error && e.name === 'WriterRetiredError');
      } finally {
        await close();
      }
    });
  }

  it('with a garbage grace, a blob a record stopped naming is returned only once the grace has passed; a blob no record named, at once', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const graceMs = 1500;
    const s = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, heartbeatMs: 0, garbageGraceMs: graceMs });
    try {
      await s.createBucket(bucketRec('b1'));
      await s.markPending('old-blob');
      await s.putObject(objectRec('b1', 'k', ['old-blob']));
      await s.markPending('new-blob');
      await s.putObject(objectRec('b1', 'k', ['new-blob']));
      await s.markPending('failed-write');
      await s.discardPending('failed-write');
      const overwritten = Date.now();
      assert.deepEqual(await s.takeGarbage(false), ['failed-write'], 'the overwritten blob waits; the failed write\'s goes at once');
      await s.forgetGarbage(['failed-write']);
      await new Promise((r) => setTimeout(r, graceMs - (Date.now() - overwritten) + 100));
      assert.deepEqual(await s.takeGarbage(false), ['old-blob']);
    } finally {
      await s.close();
    }
  });

  it('a part upload that passed its fence before the leader reclaimed its blob fails (serialization), never recording a reclaimed blob', async () => {
    const { writer, leader, c, close } = await writerAndLeader();
    try {
      await writer.createBucket(bucketRec('b1'));
      const u = uploadRec('b1', 'raced');
      await writer.createUpload(u);
      await writer.markPending('raced-part');
      // The part's transaction reads its writer row, then waits to write meta_parts.
      await c.query('BEGIN');
      await c.query('LOCK TABLE meta_parts IN EXCLUSIVE MODE');
      const put = writer.putPart(partRec(u.uploadId, 1, 'raced-part'));
      put.catch(() => undefined);
      await lockWaiters(c, 1);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(await leader.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 10, unknownWriterGraceMs: 3_600_000 }), 1, 'the leader reclaims the blob meanwhile');
      await c.query('COMMIT');
      await assert.rejects(put, (e: unknown) => e instanceof Error && e.name === 'WriterRetiredError');
      assert.deepEqual(await leader.listParts(u.uploadId, 0, 10), [], 'nothing names the reclaimed blob');
      assert.deepEqual(await leader.takeGarbage(false), ['raced-part']);
    } finally {
      await close();
    }
  });

  /** Counts round trips on the pool's connections: a query sent while none is in flight on its connection starts one. */
  function countRoundTrips(pool: ReturnType<typeof openPgPool>): { n: number } {
    const count = { n: 0 };
    const seen = new WeakSet<object>();
    pool.on('acquire', (client) => {
      if (seen.has(client)) return;
      seen.add(client);
      let inFlight = 0;
      const query = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        if (inFlight++ === 0) count.n++;
        const cb = args[args.length - 1];
        if (typeof cb === 'function') {
          args[args.length - 1] = (err: unknown, res: unknown) => {
            inFlight--;
            (cb as (e: unknown, r: unknown) => void)(err, res);
          };
          return query(...args);
        }
        const r = query(...args) as Promise<unknown>;
        void r.then(() => inFlight--, () => inFlight--);
        return r;
      };
    });
    return count;
  }

  it('a PUT of a new key is one round trip (one statement, meta_put_new_object), with or without a staged blob; an overwrite five (was four), If-Match four', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 1 });
    const s = await PgMetadataStore.open(pool, { closePool: true, heartbeatMs: 0 });
    try {
      await s.createBucket(bucketRec('b1'));
      await s.markPending('blob-1');
      const trips = countRoundTrips(pool);
      const at = async (put: () => Promise<unknown>): Promise<number> => {
        const before = trips.n;
        await put();
        return trips.n - before;
      };
      assert.equal(await at(() => s.putObject(objectRec('b1', 'new', ['blob-1']))), 1, 'a new key');
      s.inlineBlobs.stage('inline-1', Buffer.from('small'));
      assert.equal(await at(() => s.putObject(objectRec('b1', 'new-inline', ['inline-1']), { kind: 'ifNoneMatchStar' })), 1, 'a new key, its blob staged');
      assert.equal(await at(() => s.putObject(objectRec('b1', 'new'))), 5, 'an overwrite: the one-statement write finds the row, then the full write (4)');
      assert.equal(await at(() => s.putObject(objectRec('b1', 'new'), { kind: 'ifMatch', etag: '*' })), 4, 'If-Match: the full write only (the read; the upsert; the old blob to garbage; COMMIT)');
      // Overwrites in a row: once most tries missed, the try is skipped but for one put in 16.
      const costs: number[] = [];
      for (let i = 0; i < 40; i++) costs.push(await at(() => s.putObject(objectRec('b1', 'new'))));
      assert.ok(costs.slice(10).filter((c) => c === 5).length <= 2, `after a run of overwrites, few try the new-key write first: ${costs.join(' ')}`);
      assert.ok(costs.slice(10).filter((c) => c === 4).length >= 28, 'the others make the full write only');
      for (let i = 0; i < 17; i++) await s.putObject(objectRec('b1', `again-${i}`)); // a probe among them
      assert.equal(await at(() => s.putObject(objectRec('b1', 'again-new'))), 1, 'new keys again: one round trip again');
      assert.deepEqual((await s.getObject('b1', 'new'))?.size, 10);
      assert.ok(await s.getObject('b1', 'new-inline'));
      assert.equal((await pool.query("SELECT data FROM meta_inline_blobs WHERE blob_id = 'inline-1'")).rows[0]?.data.toString(), 'small', 'the staged bytes stored with the record');
      assert.ok((await s.takeGarbage(false)).includes('blob-1'), 'the overwrite made the first blob garbage');
    } finally {
      await s.close();
    }
  });

  it('a PUT of a new key sends its pipelined statements in one socket write (was one write per statement)', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 1 });
    const s = await PgMetadataStore.open(pool, { closePool: true, heartbeatMs: 0 });
    try {
      await s.createBucket(bucketRec('b1'));
      await s.putObject(objectRec('b1', 'warm')); // the connection made, its statements prepared
      const writes = { n: 0 };
      const c = await pool.connect();
      const stream = (c as unknown as { connection: { stream: Record<'_write' | '_writev', (...a: unknown[]) => unknown> } }).connection.stream;
      for (const m of ['_write', '_writev'] as const) {
        const original = stream[m].bind(stream);
        stream[m] = (...a: unknown[]) => {
          writes.n++;
          return original(...a);
        };
      }
      c.release();
      for (let i = 0; i < 5; i++) await s.putObject(objectRec('b1', `new-${i}`));
      assert.equal(writes.n, 5, 'one write per PUT');
    } finally {
      await s.close();
    }
  });

  /** Counts the statements sent on the pool's one connection from now on. */
  async function countStatements(pool: ReturnType<typeof openPgPool>): Promise<{ n: number }> {
    const sent = { n: 0 };
    const c = await pool.connect();
    const original = c.query.bind(c) as (...a: unknown[]) => unknown;
    (c as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      sent.n++;
      return original(...a);
    };
    c.release();
    return sent;
  }

  it('a PUT of a new key is one statement in its own transaction (was four: BEGIN, the key lock, the write, COMMIT), with or without a staged blob', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 1 });
    const s = await PgMetadataStore.open(pool, { closePool: true, heartbeatMs: 0 });
    try {
      await s.createBucket(bucketRec('b1'));
      await s.putObject(objectRec('b1', 'warm'));
      const sent = await countStatements(pool);
      await s.markPending('blob-1');
      const before = sent.n;
      await s.putObject(objectRec('b1', 'new', ['blob-1']));
      assert.equal(sent.n - before, 1, 'a new key');
      s.inlineBlobs.stage('inline-1', Buffer.from('small'));
      const staged = sent.n;
      await s.putObject(objectRec('b1', 'new-inline', ['inline-1']), { kind: 'ifNoneMatchStar' });
      assert.equal(sent.n - staged, 1, 'a new key, its blob staged');
      assert.equal((await pool.query("SELECT count(*)::int AS n FROM meta_pending_blobs WHERE blob_id = 'blob-1'")).rows[0]?.n, 0, 'its pending mark cleared');
      assert.equal((await pool.query("SELECT data FROM meta_inline_blobs WHERE blob_id = 'inline-1'")).rows[0]?.data.toString(), 'small');
      assert.equal((await s.bucketUsage()).find((u) => u.bucket === 'b1')?.objects, 3, 'counted by the usage trigger');
    } finally {
      await s.close();
    }
  });

  it('on a database whose default isolation is SERIALIZABLE, a PUT of a new key still writes (the one-statement write declines, the full write runs at READ COMMITTED)', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const admin = openPgPool(url, { max: 1 });
    await admin.query('DO $$ BEGIN EXECUTE format($f$ALTER DATABASE %I SET default_transaction_isolation = serializable$f$, current_database()); END $$');
    await admin.end();
    const pool = openPgPool(url, { max: 1 });
    const s = await PgMetadataStore.open(pool, { closePool: true, heartbeatMs: 0 });
    try {
      assert.equal((await pool.query('SHOW default_transaction_isolation')).rows[0]?.default_transaction_isolation, 'serializable');
      await s.createBucket(bucketRec('b1'));
      const sent = await countStatements(pool);
      s.inlineBlobs.stage('inline-1', Buffer.from('small'));
      await s.putObject(objectRec('b1', 'new', ['inline-1']), { kind: 'ifNoneMatchStar' });
      assert.ok(sent.n > 1, `the full write ran after the one-statement try (${sent.n} statements)`);
      assert.equal((await s.getObject('b1', 'new'))?.size, 10);
      assert.equal((await pool.query("SELECT data FROM meta_inline_blobs WHERE blob_id = 'inline-1'")).rows[0]?.data.toString(), 'small');
      await assert.rejects(s.putObject(objectRec('b1', 'new'), { kind: 'ifNoneMatchStar' }), (e: unknown) => e instanceof StorageConflictError && e.kind === 'PreconditionFailed');
    } finally {
      await s.close();
    }
  });

  it('16 PUTs at once of new keys into one bucket, from two nodes, commit each on its first run: no transaction retried', async () => {
    // Under SERIALIZABLE, neighbouring new keys read absent and inserted into one index page
    // made most of these abort (40001) and run again, and some lose every retry (a 500).
    const url = await (await postgresServer()).freshDatabase();
    const pools = [openPgPool(url, { max: 8 }), openPgPool(url, { max: 8 })];
    const nodes = await Promise.all(pools.map((p, i) => PgMetadataStore.open(p, { closePool: true, writer: { node: `n${i}`, instance: `n${i}-1` }, heartbeatMs: 0 })));
    try {
      await nodes[0]!.createBucket(bucketRec('b1'));
      const before = pools.map(transactionRetries);
      for (let round = 0; round < 8; round++) {
        await Promise.all(Array.from({ length: 16 }, (_, i) => nodes[i % 2]!.putObject(objectRec('b1', `r${round}/k${String(i).padStart(2, '0')}`))));
      }
      assert.deepEqual(pools.map((p, i) => transactionRetries(p) - before[i]!), [0, 0], 'transactions run again');
      assert.equal((await nodes[1]!.listObjects('b1', { prefix: '', limit: 1000 })).length, 128);
      assert.deepEqual(await nodes[0]!.bucketUsage(), [{ bucket: 'b1', objects: 128, bytes: 128 * 10 }]);
    } finally {
      for (const n of nodes) await n.close();
    }
  });

  it('judges a writer by its own heartbeat period too: a node beating slowly is not declared dead by a shorter timeout', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const slow = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, writer: { node: 'slow', instance: 'slow-1' }, heartbeatMs: 60_000 });
    const silent = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, writer: { node: 'silent', instance: 'silent-1' }, heartbeatMs: 0 });
    const leader = await PgMetadataStore.open(openPgPool(url, { max: 2 }), { closePool: true, writer: { node: 'leader', instance: 'leader-1' }, heartbeatMs: 0 });
    try {
      await slow.markPending('slow-blob');
      await silent.markPending('silent-blob');
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(await leader.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 10, unknownWriterGraceMs: 3_600_000 }), 1);
      assert.deepEqual(await leader.takeGarbage(false), ['silent-blob'], 'only the writer silent past both its timeout and 4 of its own periods');
      assert.equal(await slow.heartbeatWriter(), true);
    } finally {
      for (const s of [slow, silent, leader]) await s.close();
    }
  });

  it('reclaims pending marks of no known writer (an older release\'s) only past the grace period', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      const s = await PgMetadataStore.open(pool, { heartbeatMs: 0 });
      // What a node of the previous release writes: no writer, the database's time.
      await pool.query('INSERT INTO meta_pending_blobs (blob_id) VALUES ($1)', ['old-release-blob']);
      assert.equal(await s.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 60_000, unknownWriterGraceMs: 3_600_000 }), 0, 'within the grace period');
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(await s.reclaimPending({ kind: 'abandoned', writerTimeoutMs: 60_000, unknownWriterGraceMs: 10 }), 1);
      assert.deepEqual(await s.takeGarbage(false), ['old-release-blob']);
      await s.close();
    } finally {
      await pool.end();
    }
  });

  it('records its schema version under component metadata; lists keys in UTF-8 byte order (COLLATE "C" on the key columns)', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      const s = await PgMetadataStore.open(pool);
      await s.createBucket(bucketRec('b'));
      const keys = ['a', 'B', 'b', 'é', '\u{1F600}', '\uFFFD', 'a/b', 'a-b', 'Z'];
      for (const k of keys) await s.putObject(objectRec('b', k));
      const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual((await s.listObjects('b', { prefix: '', limit: 100 })).map((o) => o.key), byBytes);
      await s.close(); // the pool is the caller's: still usable
      assert.equal(await schemaVersion(pool, 'metadata'), PG_METADATA_MIGRATIONS.length);
    } finally {
      await pool.end();
    }
  });

  it('object reads and the version lookups seek an index and never sort', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      await (await PgMetadataStore.open(pool)).close();
      const cases: [keyof typeof PG_METADATA_SQL, string, unknown[]][] = [
        ['getObject', 'meta_objects_pkey', ['b', 'k']],
        ['getObjectPrefetch', 'meta_objects_pkey', [65_536, 'b', 'k']],
        ['getObjectPrefetch', 'meta_inline_blobs_pkey', [65_536, 'b', 'k']],
        ['objectWriteState', 'meta_objects_pkey', ['w', 'b', 'b', 'k', 'b', 'k', 'v', 'v']],
        ['objectWriteState', 'meta_object_versions_by_id', ['w', 'b', 'b', 'k', 'b', 'k', 'v', 'v']],
        ['getVersion', 'meta_object_versions_by_id', ['b', 'k', 'v']],
        ['newestVersion', 'meta_object_versions_order', ['b', 'k']],
        ['olderVersionsOf', 'meta_object_versions_order', ['b', 'k', 5, 10]],
        ['listParts', 'meta_parts_pkey', ['u', 0, 10]],
        // After every PUT that replaced a version, and every sweep: only the garbage past the grace, with an hour's garbage in the table.
        ['listGarbage', 'meta_garbage_blobs_by_age', [3_600_000]],
      ];
      for (const [stmt, index, values] of cases) {
        const plan = await planOf(pool, PG_METADATA_SQL[stmt], values);
        assert.match(plan, new RegExp(`Index (Only )?Scan( Backward)? using ${index} `), `${stmt}:\n${plan}`);
        assert.doesNotMatch(plan, /Sort/, `${stmt} sorts:\n${plan}`);
      }
    } finally {
      await pool.end();
    }
  });
});
