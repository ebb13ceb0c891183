// Runs the IamStore contract against PgIamStore on a real PostgreSQL
// (test/helpers/postgres.ts), including two stores on one database written at once, as
// two nodes of a cluster; plus what only PostgreSQL has.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PG_IAM_SQL, PgIamStore } from '../../../src/iam/store/pg-iam-store.js';
import { PG_IAM_MIGRATIONS } from '../../../src/iam/store/pg-iam-schema.js';
import { PG_GROUP_SQL } from '../../../src/iam/store/pg-iam-groups.js';
import { PG_POLICY_SQL } from '../../../src/iam/store/pg-iam-policies.js';
import { PG_SESSION_SQL } from '../../../src/iam/store/pg-iam-sessions.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { schemaVersion } from '../../../src/storage/postgres/migrate.js';
import type { AccessKeyStatus, IamStore } from '../../../src/iam/store/types.js';
import { accessKeyRec, runIamStoreContract, sessionRec, userRec } from './iam-store.contract.js';
import { scoped } from '../../helpers/store-files.js';
import { describePostgres, pgStores, planOf, postgresServer } from '../../helpers/postgres.js';

const stores = pgStores<IamStore>((pool) => PgIamStore.open(pool, { closePool: true }));
const withStore = scoped(stores.make);

describePostgres('PgIamStore', () => {
  runIamStoreContract('PgIamStore', stores.make, { reopen: stores.reopen, twin: stores.twin });

  it('records its schema version under component iam; lookups and listings seek their indexes (names folded)', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      const s = await PgIamStore.open(pool);
      await s.createUser(userRec('Alice'));
      await s.close();
      assert.equal(await schemaVersion(pool, 'iam'), PG_IAM_MIGRATIONS.length);
      const cases: [string, string, unknown[]][] = [
        [PG_IAM_SQL.getUser, 'iam_users_by_name', ['ALICE']],
        [PG_IAM_SQL.listUsers, 'iam_users_by_name', ['alice', null, 10]],
        [PG_IAM_SQL.listKeys, 'iam_access_keys_by_user', ['alice']],
        [PG_IAM_SQL.listPolicies, 'iam_user_policies_by_name', ['alice']],
        [PG_GROUP_SQL.get, 'iam_groups_by_name', ['Devs']],
        [PG_GROUP_SQL.groupsForUser, 'iam_group_members_by_user', ['alice']],
        [PG_POLICY_SQL.attachedDocuments, 'iam_policy_attachments_by_target', ['user', 'alice']],
        [PG_SESSION_SQL.deleteExpired, 'iam_sessions_by_expiry', [1]],
        [PG_SESSION_SQL.list, 'iam_sessions_pkey', ['', 10]],
        [PG_SESSION_SQL.reseal, 'iam_sessions_pkey', [Buffer.from('b'), 'k', Buffer.from('a')]],
        [PG_IAM_SQL.resealKey, 'iam_access_keys_pkey', [Buffer.from('b'), 'k', Buffer.from('a')]],
      ];
      for (const [sql, index, values] of cases) {
        const plan = await planOf(pool, sql, values);
        assert.match(plan, new RegExp(`Index (Only )?Scan using ${index} `), `${sql}:\n${plan}`);
      }
      const list = await planOf(pool, PG_IAM_SQL.listUsers, ['alice', null, 10]);
      assert.doesNotMatch(list, /Sort/, `listUsers pages in index order:\n${list}`);
      const sessions = await planOf(pool, PG_SESSION_SQL.list, ['', 10]);
      assert.doesNotMatch(sessions, /Sort/, `sessions.list pages in index order:\n${sessions}`);
    } finally {
      await pool.end();
    }
  });

  it('version() stays put for what nothing is cached from: an access key\'s last use, STS sessions', withStore(async (s) => {
    await s.createUser(userRec('alice'));
    const key = accessKeyRec('alice');
    await s.createAccessKey(key, { maxKeysPerUser: 2 });
    const v = await s.version!();
    await s.markAccessKeyUsed(key.accessKeyId, { date: Date.now(), service: 's3', region: 'us-east-1' });
    await s.sessions.create(sessionRec());
    assert.equal(await s.version!(), v);
    await s.updateAccessKeyStatus('alice', key.accessKeyId, 'Inactive');
    assert.notEqual(await s.version!(), v, 'a status change moves it');
  }));

  it('an error PostgreSQL raises over a whole row does not carry the sealed secret', withStore(async (s) => {
    await s.createUser(userRec('alice'));
    const key = accessKeyRec('alice', { status: 'Bogus' as AccessKeyStatus }); // a CHECK violation, in a transaction
    const session = sessionRec({ principal: null as unknown as string }); // a NOT NULL violation, on the pool
    const writes = [[() => s.createAccessKey(key), key.sealedSecret], [() => s.sessions.create(session), session.sealedSecret]] as const;
    for (const [write, sealed] of writes) {
      const err = await write().then(() => assert.fail('expected a constraint violation'), (e: unknown) => e as Record<string, unknown>);
      assert.ok(['23514', '23502'].includes(String(err.code)), String(err));
      const text = JSON.stringify({ ...err, message: err.message, detail: err.detail });
      assert.match(text, /values withheld/);
      assert.ok(!text.includes(sealed.toString('hex')), 'the sealed bytes are not in the error');
    }
  }));
});
