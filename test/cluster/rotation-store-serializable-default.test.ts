// The cluster's rotation rows (cluster/rotation-store.ts) on a database whose default
// isolation is SERIALIZABLE (review of pg-small2, 157b17a, which supports such a database):
// the row-locking transactions (cancel, trySwitch, joinRead) are written for READ COMMITTED —
// after the row's lock, a statement sees what the previous holder committed. A cancel that
// waited for a switch in progress must see the switch and refuse ('past-switch'), not fail
// with a serialization error. Real PostgreSQL.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { PgRotationStore } from '../../src/cluster/rotation-store.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';

describePostgres('the cluster rotation rows on a SERIALIZABLE-default database', () => {
  it('a cancel that waited for a switch in progress sees it and refuses', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query('DO $$ BEGIN EXECUTE format($f$ALTER DATABASE %I SET default_transaction_isolation = serializable$f$, current_database()); END $$');
    await admin.end();
    const pool = new pg.Pool({ connectionString: url });
    try {
      const store = await PgRotationStore.open(pool);
      assert.equal(await store.begin('r1', 'key:0000000000000001', 'key:0000000000000002', { target: 'file' }), true);
      const c = await pool.connect();
      let cancelling: Promise<{ outcome: string }>;
      try {
        await c.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        await c.query(`SELECT id FROM cluster_rotation WHERE id = 'r1' FOR UPDATE`);
        cancelling = store.cancel('cancelled', async () => undefined);
        cancelling.catch(() => undefined);
        const deadline = Date.now() + 10_000;
        while ((await c.query("SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.datname = current_database()")).rowCount === 0) {
          if (Date.now() > deadline) throw new Error('the cancel did not wait for the row');
          await new Promise((r) => setTimeout(r, 20));
        }
        await c.query(`UPDATE cluster_rotation SET phase = 'sealing', barrier = 1 WHERE id = 'r1'`);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
      assert.equal((await cancelling).outcome, 'past-switch');
    } finally {
      await pool.end();
    }
  });
});
