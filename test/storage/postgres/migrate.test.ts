// Migrations of the PostgreSQL stores (src/storage/postgres/migrate.ts) on a real
// PostgreSQL: applied once per component even when nodes start at once, recorded in
// schema_migrations, all or nothing, and a newer database refused.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import type pg from 'pg';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { migrate, schemaVersion } from '../../../src/storage/postgres/migrate.js';
import { serializable } from '../../../src/storage/postgres/transaction.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';
import { PgKmsStore } from '../../../src/kms/store/pg-kms-store.js';
import { PgIamStore } from '../../../src/iam/store/pg-iam-store.js';
import { PG_USAGE_MIGRATIONS, PgUsageStore } from '../../../src/metering/pg-usage-store.js';
import { PG_KMS_MIGRATIONS } from '../../../src/kms/store/pg-kms-schema.js';
import { PG_IAM_MIGRATIONS } from '../../../src/iam/store/pg-iam-schema.js';
import { PgMetadataStore } from '../../../src/storage/postgres/pg-metadata-store.js';
import { PG_METADATA_MIGRATIONS } from '../../../src/storage/postgres/pg-metadata-schema.js';

// Each step adds a row to a log table, so a step applied twice shows as a duplicate row.
const STEPS = [
  'CREATE TABLE m_log (step INTEGER NOT NULL); INSERT INTO m_log VALUES (1)',
  'SELECT pg_sleep(0.2); INSERT INTO m_log VALUES (2)',
  'INSERT INTO m_log VALUES (3)',
];

async function withPools<T>(n: number, fn: (pools: pg.Pool[]) => Promise<T>): Promise<T> {
  const url = await (await postgresServer()).freshDatabase();
  const pools = Array.from({ length: n }, () => openPgPool(url, { max: 2 }));
  try {
    return await fn(pools);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
}

describePostgres('PostgreSQL migrations', () => {
  it('two nodes migrating at once apply each step once; both end at the latest version', () => withPools(2, async ([a, b]) => {
    const applied = await Promise.all([migrate(a!, 'test', STEPS, 'test database'), migrate(b!, 'test', STEPS, 'test database')]);
    assert.deepEqual(applied.sort(), [0, 3], 'one node applied all three steps, the other none');
    assert.deepEqual((await a!.query('SELECT step FROM m_log ORDER BY step')).rows.map((r) => r.step), [1, 2, 3]);
    assert.equal(await schemaVersion(b!, 'test'), 3);
    const recorded = await a!.query("SELECT version FROM schema_migrations WHERE component = 'test' ORDER BY version");
    assert.deepEqual(recorded.rows.map((r) => r.version), [1, 2, 3]);
  }));

  it('two nodes opening every PostgreSQL store at once on a new database both start, on one schema', () => withPools(2, async (pools) => {
    const open = (p: pg.Pool) => Promise.all([PgKmsStore.open(p), PgIamStore.open(p), PgUsageStore.open(p), PgMetadataStore.open(p)]);
    const nodes = await Promise.all(pools.map(open));
    const rows = await pools[0]!.query('SELECT component, version FROM schema_migrations ORDER BY component, version');
    const steps = (component: string, n: number) => Array.from({ length: n }, (_, i) => `${component}:${i + 1}`);
    assert.deepEqual(rows.rows.map((r) => `${r.component}:${r.version}`), [
      ...steps('iam', PG_IAM_MIGRATIONS.length), ...steps('kms', PG_KMS_MIGRATIONS.length),
      ...steps('metadata', PG_METADATA_MIGRATIONS.length), ...steps('usage', PG_USAGE_MIGRATIONS.length),
    ]);
    for (const stores of nodes) for (const s of stores) await s.close();
  }));

  it('a later build applies only the new steps; components are numbered apart', () => withPools(1, async ([p]) => {
    assert.equal(await migrate(p!, 'test', STEPS.slice(0, 1), 'test database'), 1);
    assert.equal(await migrate(p!, 'test', STEPS, 'test database'), 2);
    assert.equal(await migrate(p!, 'test', STEPS, 'test database'), 0);
    assert.equal(await schemaVersion(p!, 'other'), 0);
    assert.equal(await migrate(p!, 'other', ['CREATE TABLE other_t (x INTEGER)'], 'other database'), 1);
    assert.equal(await schemaVersion(p!, 'other'), 1);
    assert.equal(await schemaVersion(p!, 'test'), 3);
  }));

  it('a failing step leaves nothing of the run behind', () => withPools(1, async ([p]) => {
    await assert.rejects(migrate(p!, 'test', [...STEPS, 'INSERT INTO no_such_table VALUES (1)'], 'test database'), /no_such_table/);
    assert.equal(await schemaVersion(p!, 'test'), 0);
    assert.equal((await p!.query("SELECT to_regclass('m_log') AS t")).rows[0].t, null);
  }));

  it('refuses a database migrated by a newer build', () => withPools(1, async ([p]) => {
    await migrate(p!, 'test', STEPS, 'test database');
    await assert.rejects(migrate(p!, 'test', STEPS.slice(0, 2), 'test database'), /test database is at schema version 3, newer than this build supports \(2\)/);
  }));

  it('serializable() retries a transaction that lost a write conflict, so concurrent increments all count', () => withPools(2, async ([a, b]) => {
    await a!.query('CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)');
    let attempts = 0;
    const bump = (p: pg.Pool) => serializable(p, async (q) => {
      attempts++;
      const n = (await q.query('SELECT n FROM counter')).rows[0].n as number;
      await new Promise((r) => setTimeout(r, 100)); // all read before any writes
      await q.query('UPDATE counter SET n = $1', [n + 1]);
    });
    await Promise.all([bump(a!), bump(b!), bump(a!), bump(b!)]);
    assert.equal((await a!.query('SELECT n FROM counter')).rows[0].n, 4);
    assert.ok(attempts > 4, `some transaction ran again (attempts: ${attempts})`);
  }));
});
