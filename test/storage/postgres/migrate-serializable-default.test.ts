// Migrations on a database whose default isolation is SERIALIZABLE (review of pg-small2,
// 157b17a, which supports such a database for the one-statement PUT): two nodes starting at
// once must still apply each step once and both start. migrate() takes its advisory lock in
// its first statement; at SERIALIZABLE or REPEATABLE READ the transaction's snapshot is taken
// when that statement begins — before the lock is granted — so the node that waited must not
// read schema_migrations with it (it would apply the other node's steps again and fail).
// Real PostgreSQL; the steps are the metadata store's own (V5's CREATE FUNCTION among them).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { MIGRATION_LOCK, migrate, schemaVersion } from '../../../src/storage/postgres/migrate.js';
import { PG_METADATA_MIGRATIONS } from '../../../src/storage/postgres/pg-metadata-schema.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';

describePostgres('migrations on a database whose default isolation is SERIALIZABLE', () => {
  it('two nodes migrating at once: each step applied once, both succeed', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const pools = [openPgPool(url, { max: 1 }), openPgPool(url, { max: 1 })];
    try {
      await admin.query('DO $$ BEGIN EXECUTE format($f$ALTER DATABASE %I SET default_transaction_isolation = serializable$f$, current_database()); END $$');
      // Both wait for the migration lock (held here), so both took their snapshots before it was theirs.
      await admin.query('SELECT pg_advisory_lock($1)', [BigInt.asIntN(64, MIGRATION_LOCK).toString()]);
      const runs = pools.map((p) => migrate(p, 'metadata', PG_METADATA_MIGRATIONS, 'metadata store'));
      const deadline = Date.now() + 10_000;
      while ((await admin.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rowCount !== 2) {
        if (Date.now() > deadline) throw new Error('the two migrations did not both wait for the lock');
        await new Promise((r) => setTimeout(r, 20));
      }
      await admin.query('SELECT pg_advisory_unlock($1)', [BigInt.asIntN(64, MIGRATION_LOCK).toString()]);
      const results = await Promise.allSettled(runs);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled'], JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.value))));
      const applied = results.map((r) => (r as PromiseFulfilledResult<number>).value).sort();
      assert.deepEqual(applied, [0, PG_METADATA_MIGRATIONS.length], 'one node applied every step, the other none');
      assert.equal(await schemaVersion(pools[0]!, 'metadata'), PG_METADATA_MIGRATIONS.length);
    } finally {
      await admin.end();
      for (const p of pools) await p.end();
    }
  });
});
