// Runs the IamStore contract against PgIamStore on a real PostgreSQL
// (test/helpers/postgres.ts), including two stores on one database written at once, as
// two nodes of a cluster; plus what only PostgreSQL has.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PG_IAM_SQL, PgIamStore } from '../../../src/iam/store/pg-iam-store.js';
import { PG_IAM_MIGRATIONS } from '../../../src/iam/store/pg-iam-schema.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { schemaVersion } from '../../../src/storage/postgres/migrate.js';
import type { IamStore } from '../../../src/iam/store/types.js';
import { runIamStoreContract, userRec } from './iam-store.contract.js';
import { describePostgres, pgStores, postgresServer } from '../../helpers/postgres.js';

const stores = pgStores<IamStore>((pool) => PgIamStore.open(pool, { closePool: true }));

describePostgres('PgIamStore', () => {
  runIamStoreContract('PgIamStore', stores.make, { reopen: stores.reopen, twin: stores.twin });

  it('records its schema version under component iam; name lookups seek the folded-name index', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      const s = await PgIamStore.open(pool);
      await s.createUser(userRec('Alice'));
      await s.close();
      assert.equal(await schemaVersion(pool, 'iam'), PG_IAM_MIGRATIONS.length);
      // A table this small is read whole whatever the indexes: forbid that, to see whether the index serves.
      const c = await pool.connect();
      let plan: string;
      try {
        await c.query('SET enable_seqscan = off');
        plan = (await c.query(`EXPLAIN ${PG_IAM_SQL.getUser}`, ['ALICE'])).rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        c.release(true);
      }
      assert.match(plan, /Index Scan using iam_users_by_name/, plan);
    } finally {
      await pool.end();
    }
  });
});
