// Runs the IamStore contract against SqliteIamStore, plus what only SQLite has (schema
// version marker, WAL, index-backed lookups), and the user id / ARN helpers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { retainSqlite } from '../../../src/storage/sqlite-database.js';
import { isUserId, newUserId, userArn } from '../../../src/iam/store/ids.js';
import { IAM_SCHEMA_VERSION } from '../../../src/iam/store/sqlite-iam-schema.js';
import { IAM_SQL, SqliteIamStore } from '../../../src/iam/store/sqlite-iam-store.js';
import type { IamStore } from '../../../src/iam/store/types.js';
import { accessKeyRec, runIamStoreContract, userRec } from './iam-store.contract.js';
import { storeFiles } from '../../helpers/store-files.js';
import { preparesDuring } from '../../helpers/sqlite-prepares.js';

const files = storeFiles<IamStore>('coffer-iam-sqlite-', '.sqlite', (file) => SqliteIamStore.open(file));

runIamStoreContract('SqliteIamStore', files.make, { reopen: files.reopen, twin: files.twin });

describe('SqliteIamStore specifics', () => {
  it('records the schema version and runs in WAL mode', async () => {
    const file = files.next();
    await SqliteIamStore.open(file).close();
    const db = retainSqlite(new Database(file, { readonly: true }));
    try {
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: IAM_SCHEMA_VERSION }]);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
    await SqliteIamStore.open(file).close(); // reopening an up-to-date database migrates nothing
  });

  it('refuses a database from a newer schema version', async () => {
    const file = files.next();
    await SqliteIamStore.open(file).close();
    const db = retainSqlite(new Database(file));
    db.prepare('UPDATE schema_version SET version = ?').run(IAM_SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => SqliteIamStore.open(file), /newer than this build supports/);
  });

  it('the lookups the store runs seek an index, never scan a table or sort', async () => {
    const file = files.next();
    await SqliteIamStore.open(file).close();
    const db = retainSqlite(new Database(file, { readonly: true }));
    try {
      const cases: [keyof typeof IAM_SQL, RegExp, unknown[]][] = [
        ['getKey', /^SEARCH access_keys USING PRIMARY KEY/m, ['AKIA']],
        ['listKeys', /^SEARCH access_keys USING INDEX access_keys_by_user/m, ['alice']],
        ['userHasKey', /^SEARCH access_keys USING (COVERING )?INDEX access_keys_by_user/m, ['alice']],
        ['getUser', /^SEARCH users USING PRIMARY KEY/m, ['alice']],
        ['listUsers', /^SEARCH users USING PRIMARY KEY/m, [{ after: '', prefix: null, limit: 10 }]],
        ['listPolicies', /^SEARCH user_policies USING PRIMARY KEY/m, ['alice']],
      ];
      for (const [stmt, want, params] of cases) {
        const p = (db.prepare(`EXPLAIN QUERY PLAN ${IAM_SQL[stmt]}`).all(...params) as { detail: string }[])
          .map((r) => r.detail)
          .join('\n');
        assert.match(p, want, `${stmt}:\n${p}`);
        assert.doesNotMatch(p, /USE TEMP B-TREE/, `${stmt} sorts:\n${p}`);
      }
    } finally {
      db.close();
    }
  });

  it('ping and resealAccessKey prepare no statement per call (each would be kept for the process on Node 22+)', async () => {
    const s = SqliteIamStore.open(files.next());
    try {
      await s.createUser(userRec('alice'));
      const k = accessKeyRec('alice');
      await s.createAccessKey(k);
      const n = await preparesDuring(async () => {
        for (let i = 0; i < 3; i++) await s.ping();
        assert.equal(await s.resealAccessKey(k.accessKeyId, k.sealedSecret, Buffer.from('resealed')), true);
      });
      assert.equal(n, 0);
    } finally {
      await s.close();
    }
  });
});

describe('IAM user ids and ARNs', () => {
  it('newUserId makes AIDA and 17 upper-case letters or digits, different each time', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newUserId()));
    assert.equal(ids.size, 200);
    for (const id of ids) assert.ok(isUserId(id), id);
    // Across 200 ids every one of the 36 characters turns up.
    const chars = new Set([...ids].flatMap((id) => [...id.slice(4)]));
    assert.equal(chars.size, 36);
  });

  it('isUserId rejects other shapes', () => {
    for (const bad of ['AIDA', 'AIDAabcdefghijklmnopq', 'AKIAABCDEFGHIJKLMNOPQ', 'AIDAABCDEFGHIJKLMNOPQR', 'AIDAABCDEFGHIJKLMNOP']) {
      assert.equal(isUserId(bad), false, bad);
    }
  });

  it('userArn puts the path between user and the name', () => {
    assert.equal(userArn('111122223333', 'alice'), 'arn:aws:iam::111122223333:user/alice');
    assert.equal(userArn('111122223333', 'alice', '/eng/web/'), 'arn:aws:iam::111122223333:user/eng/web/alice');
  });
});
