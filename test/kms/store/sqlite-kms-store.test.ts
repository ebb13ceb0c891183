// Runs the KmsStore contract against SqliteKmsStore, plus what only SQLite has: the
// schema version marker, WAL, and that the sweeps and lookups are index-backed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { retainSqlite } from '../../../src/storage/sqlite-database.js';
import { SqliteKmsStore } from '../../../src/kms/store/sqlite-kms-store.js';
import { KMS_SQL } from '../../../src/kms/store/sqlite-kms-rows.js';
import { KMS_SCHEMA_VERSION } from '../../../src/kms/store/sqlite-kms-schema.js';
import type { KmsStore } from '../../../src/kms/store/types.js';
import { keyRec, materialRec, runKmsStoreContract } from './kms-store.contract.js';
import { storeFiles } from '../../helpers/store-files.js';
import { preparesDuring } from '../../helpers/sqlite-prepares.js';

const files = storeFiles<KmsStore>('coffer-kms-sqlite-', '.sqlite', (file) => SqliteKmsStore.open(file));

runKmsStoreContract('SqliteKmsStore', files.make, { reopen: files.reopen, twin: files.twin });

/** The query plan's detail lines for sql with placeholder params. */
function plan(db: Database.Database, sql: string, ...params: unknown[]): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
}

describe('SqliteKmsStore specifics', () => {
  it('records the schema version and runs in WAL mode', async () => {
    const file = files.next();
    await SqliteKmsStore.open(file).close();
    const db = retainSqlite(new Database(file, { readonly: true }));
    try {
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: KMS_SCHEMA_VERSION }]);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
    await SqliteKmsStore.open(file).close(); // reopening an up-to-date database migrates nothing
  });

  it('refuses a database from a newer schema version', async () => {
    const file = files.next();
    await SqliteKmsStore.open(file).close();
    const db = retainSqlite(new Database(file));
    db.prepare('UPDATE schema_version SET version = ?').run(KMS_SCHEMA_VERSION + 1);
    db.close();
    assert.throws(() => SqliteKmsStore.open(file), /newer than this build supports/);
  });

  it('the sweeps, key listing and grant/alias lookups the store runs seek an index, never scan a table or sort', async () => {
    const file = files.next();
    await SqliteKmsStore.open(file).close();
    const db = retainSqlite(new Database(file, { readonly: true }));
    try {
      const cases: [keyof typeof KMS_SQL, string, unknown[]][] = [
        ['dueForDeletion', 'keys_by_deletion', [1]],
        ['dueForRotation', 'keys_by_rotation', [1]],
        ['listKeysFirst', 'keys_by_creation', [10]],
        ['listKeysAfter', 'keys_by_creation', [1, 'a', 10]],
        ['listGrants', 'grants_by_key', ['k']],
        ['listGrantsByRetiring', 'grants_by_retiring_principal', ['p']],
        ['grantByName', 'grants_by_name', ['k', 'n']],
        ['listAliasesOfKey', 'aliases_by_key', ['k']],
      ];
      for (const [stmt, index, params] of cases) {
        const p = plan(db, KMS_SQL[stmt], ...params);
        // SEARCH: a seek into the index. The first page of listKeys may walk the index from its start (it has a LIMIT).
        const how = stmt === 'listKeysFirst' ? '(SEARCH|SCAN)' : 'SEARCH';
        assert.match(p, new RegExp(`^${how} \\w+ USING (COVERING )?INDEX ${index}\\b`, 'm'), `${stmt}:\n${p}`);
        assert.doesNotMatch(p, /USE TEMP B-TREE/, `${stmt} sorts:\n${p}`);
      }
    } finally {
      db.close();
    }
  });

  it('a write that fails half-way leaves nothing behind', async () => {
    const file = files.next();
    const s = SqliteKmsStore.open(file);
    try {
      const db = retainSqlite(new Database(file));
      // A trigger makes the tag insert fail after the key and material rows went in.
      db.exec(`CREATE TRIGGER boom BEFORE INSERT ON key_tags BEGIN SELECT RAISE(ABORT, 'boom'); END`);
      db.close();
      const key = keyRec();
      await assert.rejects(s.createKey(key, materialRec(key.keyId), [{ TagKey: 'a', TagValue: 'b' }]), /boom/);
      assert.equal(await s.getKey(key.keyId), undefined);
      assert.deepEqual(await s.listMaterials(key.keyId), []);
    } finally {
      await s.close();
    }
  });

  it('ping and resealMaterial prepare no statement per call (each would be kept for the process on Node 22+)', async () => {
    const s = SqliteKmsStore.open(files.next());
    try {
      const key = keyRec();
      const m = materialRec(key.keyId);
      await s.createKey(key, m, []);
      const n = await preparesDuring(async () => {
        for (let i = 0; i < 3; i++) await s.ping();
        assert.equal(await s.resealMaterial(key.keyId, 1, m.sealed, Buffer.from('resealed')), true);
      });
      assert.equal(n, 0);
    } finally {
      await s.close();
    }
  });
});
