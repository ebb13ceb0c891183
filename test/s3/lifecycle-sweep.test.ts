// One bucket's lifecycle pass (src/s3/lifecycle/sweep.ts) against the real metadata stores —
// SQLite, and PostgreSQL when it is available — with listing pages of two entries, so every
// page boundary case happens: a key's history split across pages, the last entry of a page
// deleted (the store then resumes after the whole key, so the pass re-reads the key from its
// start), a current delete marker last on a page (expired or not is known only from the next).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { PgMetadataStore } from '../../src/storage/postgres/pg-metadata-store.js';
import type { MetadataStore, MultipartUploadRecord, ObjectRecord } from '../../src/storage/types.js';
import { LIFECYCLE_ITEM, type LifecycleConfig } from '../../src/s3/lifecycle/rules.js';
import { noCounts, sweepBucket, type LifecycleEvent } from '../../src/s3/lifecycle/sweep.js';
import { VERSIONING_ITEM } from '../../src/s3/versioning.js';
import { LifecycleWorker } from '../../src/s3/lifecycle/worker.js';
import { pino } from 'pino';
import { bucketRec, objectRec } from '../storage/metadata-store.contract.js';
import { storeFiles } from '../helpers/store-files.js';
import { describePostgres, pgStores } from '../helpers/postgres.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = Date.parse('2025-03-01T08:00:00.000Z');
const at = (ms: number) => new Date(ms).toISOString();

const config = (rules: LifecycleConfig['rules']): string => JSON.stringify({ v: 1, rules, transitionMinimumSize: 'all_storage_classes_128K' } satisfies LifecycleConfig);

function marker(bucket: string, key: string, versionId: string, when: number): ObjectRecord {
  return { ...objectRec(bucket, key, []), size: 0, etag: '', lastModified: at(when), versionId, deleteMarker: true };
}

async function sweep(s: MetadataStore, bucket: string, now: number) {
  const counts = noCounts();
  const events: LifecycleEvent[] = [];
  const b = (await s.getBucket(bucket))!;
  await sweepBucket({ meta: s, owner: 'owner-1', record: (e) => events.push(e), failed: (e) => assert.fail(String(e)), stopping: () => false, pageSize: 2 }, b, now, counts);
  return { counts, events };
}

const history = async (s: MetadataStore, bucket: string) =>
  (await s.listObjectVersions(bucket, { prefix: '', limit: 1000 })).map((v) => `${v.key}:${v.versionId}${v.deleteMarker ? ':dm' : ''}`);

function scenarios(make: () => Promise<MetadataStore>): void {
  it('versioned, pages of two: noncurrent versions past NoncurrentDays go but the newest one kept; lone delete markers go, others stay', async () => {
    const s = await make();
    try {
      await s.createBucket(bucketRec('v', {
        config: {
          [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Enabled' }),
          [LIFECYCLE_ITEM]: config([
            { id: 'nc', enabled: true, filter: { kind: 'filter', shape: 'empty' }, noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 1 } },
            { id: 'dm', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { expiredObjectDeleteMarker: true } },
          ]),
        },
      }));
      for (const key of ['a', 'b', 'c']) {
        for (let i = 1; i <= 4; i++) await s.putObject(objectRec('v', key, undefined, { versionId: `${key}${i}`, lastModified: at(T + i * HOUR) }));
      }
      await s.putObject(marker('v', 'x', 'x1', T));
      await s.putObject(objectRec('v', 'y', undefined, { versionId: 'y1', lastModified: at(T) }));
      await s.putObject(marker('v', 'y', 'y2', T + HOUR));
      await s.putObject(marker('v', 'z', 'z1', T));
      const { counts, events } = await sweep(s, 'v', T + 10 * DAY);
      assert.deepEqual(await history(s, 'v'), ['a:a4', 'a:a3', 'b:b4', 'b:b3', 'c:c4', 'c:c3', 'y:y2:dm', 'y:y1']);
      assert.equal(counts.noncurrentExpired, 6);
      assert.equal(counts.markersRemoved, 2);
      assert.equal(events.length, 8);
      // Again: nothing more to do.
      const again = await sweep(s, 'v', T + 10 * DAY);
      assert.equal(again.events.length, 0);
    } finally {
      await s.close();
    }
  });

  it('NoncurrentDays counts from when the next newer version was written, rounded up to midnight UTC', async () => {
    const s = await make();
    try {
      await s.createBucket(bucketRec('d', {
        config: {
          [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Enabled' }),
          [LIFECYCLE_ITEM]: config([{ id: 'nc', enabled: true, filter: { kind: 'filter', shape: 'empty' }, noncurrentExpiration: { noncurrentDays: 2 } }]),
        },
      }));
      await s.putObject(objectRec('d', 'k', undefined, { versionId: 'k1', lastModified: at(T - 30 * DAY) }));
      await s.putObject(objectRec('d', 'k', undefined, { versionId: 'k2', lastModified: at(T) }));
      const midnightAfter = Math.ceil((T + 2 * DAY) / DAY) * DAY;
      assert.equal((await sweep(s, 'd', midnightAfter - 1)).counts.noncurrentExpired, 0);
      assert.equal((await sweep(s, 'd', midnightAfter)).counts.noncurrentExpired, 1);
      assert.deepEqual(await history(s, 'd'), ['k:k2']);
    } finally {
      await s.close();
    }
  });

  it('expiration and noncurrent rules together, pages of two: the new delete marker counts in the ranks across a page boundary, in one pass', async () => {
    const s = await make();
    try {
      await s.createBucket(bucketRec('e', {
        config: {
          [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Enabled' }),
          [LIFECYCLE_ITEM]: config([{ id: 'both', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 1 }, noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 1 } }]),
        },
      }));
      // Keys of three versions: with two entries a page, some current versions are a page's last entry.
      for (const key of ['a', 'b', 'c', 'd', 'e']) {
        for (let i = 1; i <= 3; i++) await s.putObject(objectRec('e', key, undefined, { versionId: `${key}${i}`, lastModified: at(T + i * HOUR) }));
      }
      const { counts } = await sweep(s, 'e', T + 10 * DAY);
      assert.equal(counts.markersAdded, 5);
      assert.equal(counts.noncurrentExpired, 10, 'the two oldest of each key: the newest noncurrent one (the old current) is kept');
      const left = await history(s, 'e');
      for (const key of ['a', 'b', 'c', 'd', 'e']) {
        assert.deepEqual(left.filter((x) => x.startsWith(`${key}:`)).map((x) => x.replace(/^\w+:/, '').replace(/^[0-9A-Za-z]{32}:dm$/, 'dm')), ['dm', `${key}3`]);
      }
      assert.equal((await sweep(s, 'e', T + 10 * DAY)).events.length, 0, 'nothing left for a second pass');
    } finally {
      await s.close();
    }
  });

  it('a delete marker that cannot be written does not count in the ranks of the versions read on the next page', async () => {
    const s = await make();
    try {
      await s.createBucket(bucketRec('f', {
        config: {
          [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Enabled' }),
          [LIFECYCLE_ITEM]: config([{ id: 'both', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 1 }, noncurrentExpiration: { noncurrentDays: 1, newerNoncurrentVersions: 2 } }]),
        },
      }));
      for (let i = 1; i <= 3; i++) await s.putObject(objectRec('f', 'a', undefined, { versionId: `a${i}`, lastModified: at(T + i * HOUR) }));
      // The store refuses delete markers (a failure, not a changed object): the current version stays current.
      const refusing = new Proxy(s, {
        get(target, prop, receiver) {
          if (prop === 'putObject') return async (rec: ObjectRecord) => (rec.deleteMarker ? Promise.reject(new Error('disk on fire')) : target.putObject(rec));
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const counts = noCounts();
      const b = (await s.getBucket('f'))!;
      await sweepBucket({ meta: refusing, owner: 'owner-1', record: () => undefined, failed: () => undefined, stopping: () => false, pageSize: 2 }, b, T + 10 * DAY, counts);
      assert.equal(counts.failed, 1);
      assert.equal(counts.noncurrentExpired, 0, 'a1 is the second newest noncurrent version, kept by NewerNoncurrentVersions 2');
      assert.deepEqual(await history(s, 'f'), ['a:a3', 'a:a2', 'a:a1']);
    } finally {
      await s.close();
    }
  });

  it('a Days expiration also removes a lone delete marker once the marker is that old, as AWS does', async () => {
    const s = await make();
    try {
      await s.createBucket(bucketRec('m', {
        config: {
          [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Enabled' }),
          [LIFECYCLE_ITEM]: config([{ id: 'days', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 5 } }]),
        },
      }));
      await s.putObject(marker('m', 'old', 'o1', T));
      await s.putObject(marker('m', 'young', 'y1', T + 9 * DAY));
      await s.putObject(objectRec('m', 'behind', undefined, { versionId: 'b1', lastModified: at(T) }));
      await s.putObject(marker('m', 'behind', 'b2', T));
      const { counts } = await sweep(s, 'm', T + 10 * DAY);
      assert.equal(counts.markersRemoved, 1);
      assert.deepEqual(await history(s, 'm'), ['behind:b2:dm', 'behind:b1', 'young:y1:dm']);
    } finally {
      await s.close();
    }
  });

  it('never versioned and uploads, pages of two: every due object and upload in the prefix goes, nothing else', async () => {
    const s = await make();
    try {
      await s.createBucket(bucketRec('u', {
        config: {
          [LIFECYCLE_ITEM]: config([
            { id: 'exp', enabled: true, filter: { kind: 'filter', shape: 'prefix', prefix: 'p/' }, expiration: { days: 1 } },
            { id: 'mpu', enabled: true, filter: { kind: 'filter', shape: 'prefix', prefix: 'p/' }, abortIncompleteDays: 1 },
          ]),
        },
      }));
      for (let i = 0; i < 5; i++) await s.putObject(objectRec('u', `p/${i}`, undefined, { lastModified: at(T) }));
      await s.putObject(objectRec('u', 'q/keep', undefined, { lastModified: at(T) }));
      for (let i = 0; i < 5; i++) {
        const u: MultipartUploadRecord = { uploadId: `up${i}`, bucket: 'u', key: `p/m${i % 2}`, initiated: at(T), owner: 'owner-1', headers: {}, userMetadata: {}, tags: [], sys: {}, storageClass: 'STANDARD' };
        await s.createUpload(u);
      }
      await s.createUpload({ uploadId: 'keep', bucket: 'u', key: 'q/m', initiated: at(T), owner: 'owner-1', headers: {}, userMetadata: {}, tags: [], sys: {}, storageClass: 'STANDARD' });
      const { counts } = await sweep(s, 'u', T + 2 * DAY);
      assert.equal(counts.expired, 5);
      assert.equal(counts.uploadsAborted, 5);
      assert.deepEqual((await s.listObjects('u', { prefix: '', limit: 100 })).map((o) => o.key), ['q/keep']);
      assert.deepEqual((await s.listUploads('u', { prefix: '', limit: 100 })).map((u) => u.uploadId), ['keep']);
    } finally {
      await s.close();
    }
  });
}

const files = storeFiles<MetadataStore>('coffer-lifecycle-', '.db', (file) => SqliteMetadataStore.open(file));
describe('lifecycle sweep on SqliteMetadataStore', () => scenarios(files.make));

const pg = pgStores<MetadataStore>((pool) => PgMetadataStore.open(pool, { closePool: true }));
describePostgres('lifecycle sweep on PgMetadataStore', () => scenarios(pg.make));

describe('the lifecycle worker on its timer', () => {
  it('runs on its interval, never two runs at once, and stop() ends it; intervalSeconds 0 never runs on its own', async () => {
    const s = await files.make();
    try {
      await s.createBucket(bucketRec('t', { config: { [LIFECYCLE_ITEM]: config([{ id: 'e', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 1 } }]) } }));
      const base = { meta: s, log: pino({ level: 'silent' }), now: () => T + 2 * DAY, collectGarbage: () => undefined, owner: 'owner-1' };
      const off = new LifecycleWorker({ ...base, intervalSeconds: 0 });
      off.start();
      await s.putObject(objectRec('t', 'a', undefined, { lastModified: at(T) }));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(off.runs, 0);
      assert.equal((await s.listObjects('t', { prefix: '', limit: 10 })).length, 1);
      const on = new LifecycleWorker({ ...base, intervalSeconds: 0.02 });
      on.start();
      const deadline = Date.now() + 10_000;
      while (on.runs < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await on.stop();
      assert.ok(on.runs >= 3, `runs: ${on.runs}`);
      assert.equal((await s.listObjects('t', { prefix: '', limit: 10 })).length, 0, 'the timer run expired the object');
      const after = on.runs;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(on.runs, after, 'no run after stop()');
    } finally {
      await s.close();
    }
  });
});
