// Lifecycle against object lock, when the pass works from a bucket record read before the bucket
// changed. A lifecycle run reads each bucket once and then sweeps it (a large bucket for minutes):
// a run that read a Suspended bucket writes the "null" delete marker over an expired current
// version, which replaces the null version. If, meanwhile, versioning was re-enabled, object lock
// turned on and that null version put under retention or legal hold (all allowed, as in AWS), the
// marker must be refused in its commit, as a user's overwrite of the null version is (object-lock.ts
// replaceCheck): AWS's lifecycle never removes a locked version.
//
// Against the real stores (SQLite, and PostgreSQL when available), calling the sweep with the
// bucket record as the run read it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { PgMetadataStore } from '../../src/storage/postgres/pg-metadata-store.js';
import type { MetadataStore } from '../../src/storage/types.js';
import { LIFECYCLE_ITEM, type LifecycleConfig } from '../../src/s3/lifecycle/rules.js';
import { noCounts, sweepBucket } from '../../src/s3/lifecycle/sweep.js';
import { VERSIONING_ITEM } from '../../src/s3/versioning.js';
import { LOCK_SYS_KEY, OBJECT_LOCK_ITEM, type VersionLock } from '../../src/s3/object-lock.js';
import { bucketRec, objectRec } from '../storage/metadata-store.contract.js';
import { storeFiles } from '../helpers/store-files.js';
import { describePostgres, pgStores } from '../helpers/postgres.js';

const DAY = 86_400_000;
const T = Date.parse('2025-03-01T08:00:00.000Z');
const at = (ms: number) => new Date(ms).toISOString();
const EXPIRE_AFTER_A_DAY = JSON.stringify({
  v: 1, rules: [{ id: 'expire', enabled: true, filter: { kind: 'filter', shape: 'empty' }, expiration: { days: 1 } }], transitionMinimumSize: 'all_storage_classes_128K',
} satisfies LifecycleConfig);

const LOCKS: [string, VersionLock][] = [
  ['COMPLIANCE', { mode: 'COMPLIANCE', until: at(T + 30 * DAY) }],
  ['GOVERNANCE', { mode: 'GOVERNANCE', until: at(T + 30 * DAY) }],
  ['legal hold', { hold: true }],
];

function scenarios(make: () => Promise<MetadataStore>): void {
  for (const [name, lock] of LOCKS) {
    it(`a pass that read the bucket Suspended does not write the null delete marker over a null version locked since (${name})`, async () => {
      const s = await make();
      try {
        await s.createBucket(bucketRec('b', { config: { [VERSIONING_ITEM]: JSON.stringify({ v: 1, status: 'Suspended' }), [LIFECYCLE_ITEM]: EXPIRE_AFTER_A_DAY } }));
        const original = objectRec('b', 'k', undefined, { versionId: 'null', lastModified: at(T) });
        await s.putObject(original);
        // The run reads the bucket ...
        const read = (await s.getBucket('b'))!;
        // ... then versioning is re-enabled, object lock turned on, and the null version locked.
        await s.setBucketConfig('b', VERSIONING_ITEM, JSON.stringify({ v: 1, status: 'Enabled' }));
        await s.setBucketConfig('b', OBJECT_LOCK_ITEM, JSON.stringify({ v: 1 }));
        assert.ok(await s.replaceObjectSys('b', 'k', original, { [LOCK_SYS_KEY]: lock }));

        const counts = noCounts();
        await sweepBucket({ meta: s, owner: 'owner-1', record: () => undefined, failed: (e) => assert.fail(String(e)), stopping: () => false }, read, T + 3 * DAY, counts);

        const history = (await s.listObjectVersions('b', { prefix: '', limit: 10 })).map((v) => `${v.versionId}${v.deleteMarker ? ':marker' : ''}`);
        assert.deepEqual(history, ['null'], 'the locked null version is still there, and current');
        assert.equal((await s.getObjectVersion('b', 'k', 'null'))?.etag, original.etag);
        assert.equal(counts.markersAdded, 0);
        assert.equal(counts.locked, 1, 'counted as protected by object lock');
      } finally {
        await s.close();
      }
    });
  }
}

const files = storeFiles<MetadataStore>('coffer-lock-lifecycle-', '.db', (file) => SqliteMetadataStore.open(file));
describe('object lock against a lifecycle pass on SqliteMetadataStore', () => scenarios(files.make));

const pg = pgStores<MetadataStore>((pool) => PgMetadataStore.open(pool, { closePool: true }));
describePostgres('object lock against a lifecycle pass on PgMetadataStore', () => scenarios(pg.make));
