// Runs the MetadataStore contract against SqliteMetadataStore (NORMAL, and FULL with its
// group commit), plus what only SQLite has:
// the schema version marker and pragmas.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { retainSqlite } from '../../src/storage/sqlite-database.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { SCHEMA_VERSION, migrateTo } from '../../src/storage/sqlite-schema.js';
import type { MetadataStore } from '../../src/storage/types.js';
import { objectRec, bucketRec, runMetadataStoreContract } from './metadata-store.contract.js';
import { storeFiles } from '../helpers/store-files.js';
import { runPendingWritersContract } from './pending-writers.contract.js';

const files = storeFiles<MetadataStore>('coffer-sqlite-', '.db', (file) => SqliteMetadataStore.open(file));

runMetadataStoreContract('SqliteMetadataStore', files.make, { reopen: files.reopen });
// With synchronous=FULL (the server's setting when fsync is on) every write goes through the group commit.
const fullFiles = storeFiles<MetadataStore>('coffer-sqlite-full-', '.db', (file) => SqliteMetadataStore.open(file, { synchronous: 'FULL' }));
runMetadataStoreContract('SqliteMetadataStore (synchronous=FULL, group commit)', fullFiles.make, { reopen: fullFiles.reopen });
runPendingWritersContract('SqliteMetadataStore', async (a, b) => {
  const file = files.next();
  const s = SqliteMetadataStore.open(file, { writer: a });
  return [s, SqliteMetadataStore.open(file, { writer: b })];
});

describe('SqliteMetadataStore specifics', () => {
  it('counts the objects of a database written before per-bucket usage existed, once, on the first open after the upgrade', async () => {
    const file = files.next();
    // A database as schema 3 left it: no usage table, no versions.
    const db = retainSqlite(new Database(file));
    migrateTo(db, 3);
    const insertObject = db.prepare(
      `INSERT INTO objects (bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys)
       VALUES ('old', ?, ?, ?, ?, 'owner-1', 'STANDARD', '{}', '{}', '[]', NULL, ?, '{}')`,
    );
    const rec = objectRec('old', 'a');
    db.prepare("INSERT INTO buckets (name, region, created_at, owner, config) VALUES ('old', 'us-east-1', ?, 'owner-1', '{}')").run(rec.lastModified);
    insertObject.run('a', 123, rec.etag, rec.lastModified, JSON.stringify(rec.parts));
    insertObject.run('b', 7, rec.etag, rec.lastModified, JSON.stringify(rec.parts));
    db.close();
    const upgraded = SqliteMetadataStore.open(file);
    try {
      assert.deepEqual(await upgraded.bucketUsage(), [{ bucket: 'old', objects: 2, bytes: 130 }]);
      await upgraded.putObject(objectRec('old', 'c', undefined, { size: 1 }));
      assert.deepEqual(await upgraded.bucketUsage(), [{ bucket: 'old', objects: 3, bytes: 131 }]);
    } finally {
      await upgraded.close();
    }
  });

  it('counts every stored version of an object and its bytes, and no delete marker', async () => {
    const s = SqliteMetadataStore.open(files.next());
    try {
      await s.createBucket(bucketRec('v'));
      await s.putObject(objectRec('v', 'k', undefined, { size: 10, versionId: 'v1' }));
      await s.putObject(objectRec('v', 'k', undefined, { size: 5, versionId: 'v2' }));
      assert.deepEqual(await s.bucketUsage(), [{ bucket: 'v', objects: 2, bytes: 15 }], 'the noncurrent version is stored and counted');
      await s.deleteObjectVersion('v', 'k', 'v1');
      assert.deepEqual(await s.bucketUsage(), [{ bucket: 'v', objects: 1, bytes: 5 }]);
    } finally {
      await s.close();
    }
  });

  it('records the schema version and runs in WAL mode with foreign keys', async () => {
    const file = files.next();
    const s = SqliteMetadataStore.open(file);
    await s.close();
    const db = retainSqlite(new Database(file, { readonly: true }));
    try {
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: SCHEMA_VERSION }]);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
    const again = SqliteMetadataStore.open(file); // reopening an up-to-date database migrates nothing
    await again.close();
  });

  it('migration 4 (versioning) makes every existing object the current null version of its key', async () => {
    const file = files.next();
    const db = retainSqlite(new Database(file));
    migrateTo(db, 3);
    const rec = objectRec('old', 'photo.jpg');
    db.prepare("INSERT INTO buckets (name, region, created_at, owner, config) VALUES ('old', 'us-east-1', ?, 'owner-1', '{}')").run(rec.lastModified);
    db.prepare(
      `INSERT INTO objects (bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys)
       VALUES ('old', 'photo.jpg', ?, ?, ?, 'owner-1', 'STANDARD', ?, '{}', '[]', NULL, ?, '{}')`,
    ).run(rec.size, rec.etag, rec.lastModified, JSON.stringify(rec.headers), JSON.stringify(rec.parts));
    db.close();
    const s = SqliteMetadataStore.open(file);
    try {
      assert.deepEqual(await s.getObject('old', 'photo.jpg'), rec);
      assert.deepEqual((await s.getObjectVersion('old', 'photo.jpg', 'null'))?.etag, rec.etag);
      await s.putObject(objectRec('old', 'photo.jpg', undefined, { versionId: 'new1' }));
      assert.deepEqual(
        (await s.listObjectVersions('old', { prefix: '', limit: 10 })).map((v) => [v.versionId, v.isLatest]),
        [['new1', true], ['null', false]],
        'the migrated object is older than any version written after',
      );
    } finally {
      await s.close();
    }
  });

  it('refuses a database from a newer schema version', async () => {
    const file = files.next();
    await SqliteMetadataStore.open(file).close();
    const db = retainSqlite(new Database(file));
    db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => SqliteMetadataStore.open(file), /newer than this build supports/);
  });

  it('reads tags stored as a JSON object (before they kept their order) and writes them back as [key, value] pairs', async () => {
    const file = files.next();
    let s = SqliteMetadataStore.open(file);
    try {
      await s.createBucket(bucketRec('old'));
      const rec = objectRec('old', 'tagged');
      // The text the earlier build wrote: JSON.stringify of a plain object, integer-like keys first.
      const oldTags = '{"7":"seven","env":"prod","team":""}';
      const db = retainSqlite(new Database(file));
      db.prepare(
        `INSERT INTO objects (bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys)
         VALUES ('old', 'tagged', 10, ?, ?, 'owner-1', 'STANDARD', '{}', '{}', ?, NULL, ?, '{}')`,
      ).run(rec.etag, rec.lastModified, oldTags, JSON.stringify(rec.parts));
      db.prepare(
        `INSERT INTO uploads (upload_id, bucket, key, initiated, owner, storage_class, headers, user_meta, tags, checksum_algorithm, checksum_type, sys)
         VALUES ('u-old', 'old', 'mpu', ?, 'owner-1', 'STANDARD', '{}', '{}', ?, NULL, NULL, '{}')`,
      ).run(rec.lastModified, oldTags);
      const asRead = [['7', 'seven'], ['env', 'prod'], ['team', '']];
      await s.close();
      s = SqliteMetadataStore.open(file);
      assert.deepEqual((await s.getObject('old', 'tagged'))?.tags, asRead);
      assert.deepEqual((await s.listObjects('old', { prefix: '', limit: 10 }))[0]?.tags, asRead);
      assert.deepEqual((await s.getUpload('old', 'mpu', 'u-old'))?.tags, asRead);
      // A write stores the array form.
      assert.equal(await s.updateObject('old', 'tagged', { tags: [['10', 'a'], ['2', 'b']] }), true);
      assert.equal((db.prepare(`SELECT tags FROM objects WHERE key = 'tagged'`).get() as { tags: string }).tags, '[["10","a"],["2","b"]]');
      db.close();
      // Neither shape is a refusal, not a guess.
      const bad = retainSqlite(new Database(file));
      bad.prepare(`UPDATE objects SET tags = '"k=v"' WHERE key = 'tagged'`).run();
      bad.close();
      await assert.rejects(s.getObject('old', 'tagged'), /stored object tags/);
    } finally {
      await s.close();
    }
  });

  it('lists one page of a 100k-key bucket quickly, from any starting point', async () => {
    const file = files.next();
    const s = SqliteMetadataStore.open(file);
    try {
      await s.createBucket(bucketRec('big'));
      const db = retainSqlite(new Database(file));
      // Bulk-load through the store's own putObject would take seconds; rows are what matter here.
      const rec = objectRec('big', 'x');
      const ins = db.prepare(
        `INSERT INTO objects (bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys)
         VALUES ('big', ?, 1, '"e"', ?, 'o', 'STANDARD', '{}', '{}', '{}', NULL, ?, '{}')`,
      );
      db.transaction(() => {
        for (let i = 0; i < 100_000; i++) ins.run(`dir${i % 10}/key-${String(i).padStart(6, '0')}`, rec.lastModified, JSON.stringify(rec.parts));
      })();
      db.close();
      const list = async () => [
        await s.listObjects('big', { prefix: '', limit: 1000 }),
        await s.listObjects('big', { prefix: 'dir5/', after: 'dir5/key-050005', limit: 1000 }),
        await s.listObjects('big', { prefix: 'dir9/', after: 'dir9/key-099989', limit: 1000 }),
      ] as const;
      // The fastest of three rounds: a machine busy with other work (CI runs test files side by
      // side) stretches a round now and then, while a listing that reads the whole bucket is
      // slow in every round.
      let ms = Infinity;
      let pages: Awaited<ReturnType<typeof list>> | undefined;
      for (let round = 0; round < 3; round++) {
        const t0 = performance.now();
        pages = await list();
        ms = Math.min(ms, performance.now() - t0);
      }
      const [first, middle, last] = pages!;
      assert.equal(first.length, 1000);
      assert.equal(first[0]!.key, 'dir0/key-000000');
      assert.equal(middle[0]!.key, 'dir5/key-050015');
      assert.equal(middle.length, 1000);
      assert.deepEqual(last.map((r) => r.key), ['dir9/key-099999']);
      assert.ok(ms < 200, `three page listings took ${ms.toFixed(1)} ms (the fastest of three rounds)`);
    } finally {
      await s.close();
    }
  });
});

describe('SqliteMetadataStore bucket cache', () => {
  it('a cached bucket record follows setBucketConfig, deleteBucket and createBucket, and callers cannot edit it', async () => {
    const s = SqliteMetadataStore.open(files.next());
    try {
      await s.createBucket(bucketRec('b1'));
      const first = await s.getBucket('b1'); // now cached
      assert.ok(first);
      first.config.policy = 'edited by a caller';
      first.region = 'nowhere';
      assert.deepEqual(await s.getBucket('b1'), bucketRec('b1'));
      await s.setBucketConfig('b1', 'encryption', '{"a":1}');
      assert.deepEqual((await s.getBucket('b1'))?.config, { encryption: '{"a":1}' });
      await s.deleteBucket('b1');
      assert.equal(await s.getBucket('b1'), undefined);
      await s.createBucket({ ...bucketRec('b1'), region: 'eu-west-1' });
      assert.equal((await s.getBucket('b1'))?.region, 'eu-west-1');
    } finally {
      await s.close();
    }
  });
});
