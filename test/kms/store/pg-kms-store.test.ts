// Runs the KmsStore contract against PgKmsStore on a real PostgreSQL
// (test/helpers/postgres.ts), including two stores on one database written at once, as
// two nodes of a cluster; plus what only PostgreSQL has.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PG_KMS_SQL, PgKmsStore } from '../../../src/kms/store/pg-kms-store.js';
import { PG_KMS_MIGRATIONS } from '../../../src/kms/store/pg-kms-schema.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { schemaVersion } from '../../../src/storage/postgres/migrate.js';
import type { KmsStore } from '../../../src/kms/store/types.js';
import { keyRec, materialRec, runKmsStoreContract } from './kms-store.contract.js';
import { describePostgres, pgStores, planOf, postgresServer } from '../../helpers/postgres.js';

const stores = pgStores<KmsStore>((pool) => PgKmsStore.open(pool, { closePool: true }));

describePostgres('PgKmsStore', () => {
  runKmsStoreContract('PgKmsStore', stores.make, { reopen: stores.reopen, twin: stores.twin });

  it('records its schema version under component kms; stores sealed material as BYTEA', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url);
    try {
      const s = await PgKmsStore.open(pool);
      const key = keyRec();
      const m = materialRec(key.keyId);
      await s.createKey(key, m, []);
      await s.close(); // the pool is the caller's: still usable
      assert.equal(await schemaVersion(pool, 'kms'), PG_KMS_MIGRATIONS.length);
      const r = await pool.query('SELECT sealed FROM kms_key_materials WHERE key_id = $1', [key.keyId]);
      assert.ok(Buffer.isBuffer(r.rows[0].sealed) && r.rows[0].sealed.equals(m.sealed));
    } finally {
      await pool.end();
    }
  });

  it('the sweeps, key listing and grant/alias lookups seek an index and never sort', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      await (await PgKmsStore.open(pool)).close();
      const cases: [keyof typeof PG_KMS_SQL, string, unknown[]][] = [
        ['dueForDeletion', 'kms_keys_by_deletion', [1]],
        ['dueForRotation', 'kms_keys_by_rotation', [1]],
        ['listKeysFirst', 'kms_keys_by_creation', [10]],
        ['listKeysAfter', 'kms_keys_by_creation', [1, 'a', 10]],
        ['listGrants', 'kms_grants_by_key', ['k']],
        ['listGrantsByRetiring', 'kms_grants_by_retiring_principal', ['p']],
        ['grantByName', 'kms_grants_by_name', ['k', 'n']],
        ['listAliasesOfKey', 'kms_aliases_by_key', ['k']],
      ];
      for (const [stmt, index, values] of cases) {
        const plan = await planOf(pool, PG_KMS_SQL[stmt], values);
        assert.match(plan, new RegExp(`Index (Only )?Scan using ${index} `), `${stmt}:\n${plan}`);
        assert.doesNotMatch(plan, /Sort/, `${stmt} sorts:\n${plan}`);
      }
    } finally {
      await pool.end();
    }
  });

  it('a write that fails half-way leaves nothing behind', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url);
    try {
      const s = await PgKmsStore.open(pool);
      await pool.query(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;
        CREATE TRIGGER boom BEFORE INSERT ON kms_key_tags FOR EACH ROW EXECUTE FUNCTION boom()`);
      const key = keyRec();
      await assert.rejects(s.createKey(key, materialRec(key.keyId), [{ TagKey: 'a', TagValue: 'b' }]), /boom/);
      assert.equal(await s.getKey(key.keyId), undefined);
      assert.deepEqual(await s.listMaterials(key.keyId), []);
    } finally {
      await pool.end();
    }
  });
});
