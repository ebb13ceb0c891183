// The embedded KMS store: its own SQLite database (better-sqlite3, WAL), apart from the
// S3 metadata so keys can be backed up, restored and permissioned on their own. The app
// puts it at <data-dir>/kms.sqlite.
//
// Same habits as src/storage/sqlite-metadata-store.ts: synchronous=NORMAL by default
// ('FULL' on request), statements prepared once, every multi-step write in one
// BEGIN IMMEDIATE transaction, an async interface over synchronous work. KMS writes are
// rare, so SQLite's own WAL autocheckpoint is enough (no checkpointer worker).
//
// Sealed material is stored and returned as it came; it never appears in an error
// message or a log line from here.
//
// Key records and each key's grants are read on every cryptographic request, so they
// are cached in memory and dropped by every write that touches them. That is correct
// because this process is the only writer of kms.sqlite (admin commands write only the
// IAM store); callers get copies, so mutating a returned record changes nothing. A
// second store on the same file (the contract suite's twins) may hold a stale record: a
// write of it fails Changed (its revision is behind) and drops it from the cache.

import { openSqlite } from '../../storage/sqlite-database.js';
import { SqliteConnection } from '../../storage/sqlite-connection.js';
import type Database from 'better-sqlite3';
import { conflict } from './kms-conflicts.js';
import type {
  AliasRecord,
  GrantRecord,
  KeyListCursor,
  KeyMaterialRecord,
  KmsKeyRecord,
  KmsStore,
  Tag,
} from './types.js';
import {
  keyValues,
  updateKeyValues,
  prepareKmsStatements,
  toAlias,
  toGrant,
  toKey,
  toMaterial,
  toTag,
} from './sqlite-kms-rows.js';
import type { AliasRow, GrantRow, KeyRow, KmsStatements, MaterialRow } from './sqlite-kms-rows.js';
import { migrateKms } from './sqlite-kms-schema.js';

export interface SqliteKmsStoreOptions {
  /** 'NORMAL' (default): survives a process crash. 'FULL': also survives power loss, at an fsync per commit. */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a writer waits for another process's lock before failing, in ms (default 5000). */
  busyTimeoutMs?: number;
}

const CACHE_MAX = 10_000;

export class SqliteKmsStore implements KmsStore {
  private readonly s: KmsStatements;
  private readonly conn: SqliteConnection;
  private readonly keyCache = new Map<string, KmsKeyRecord>();
  private readonly grantCache = new Map<string, GrantRecord[]>();

  private constructor(db: Database.Database) {
    this.conn = new SqliteConnection(db);
    this.s = prepareKmsStatements(db);
  }

  static open(path: string, opts: SqliteKmsStoreOptions = {}): SqliteKmsStore {
    return new SqliteKmsStore(openSqlite(path, opts, migrateKms));
  }

  /** The connection's synchronous level (FULL when the server runs with fsync on). */
  get synchronous(): 'NORMAL' | 'FULL' {
    return this.conn.synchronous;
  }

  // ---- keys ----

  async createKey(key: KmsKeyRecord, material: KeyMaterialRecord | undefined, tags: Tag[]): Promise<void> {
    if (material && (material.keyId !== key.keyId || material.version !== key.currentVersion)) {
      throw new RangeError('createKey: the material must be the key\'s current version');
    }
    this.tx(() => {
      if (this.s.keyExists.get(key.keyId) !== undefined) throw conflict.keyExists(key.keyId);
      this.s.insertKey.run(...keyValues(key));
      if (material) this.insertMaterial(material);
      for (const t of tags) this.s.upsertTag.run({ keyId: key.keyId, tagKey: t.TagKey, tagValue: t.TagValue });
    });
  }

  async getKey(keyId: string): Promise<KmsKeyRecord | undefined> {
    return this.getKeyNow(keyId);
  }

  getKeyNow(keyId: string): KmsKeyRecord | undefined {
    let rec = this.keyCache.get(keyId);
    if (rec === undefined) {
      const row = this.s.getKey.get(keyId) as KeyRow | undefined;
      if (row === undefined) return undefined;
      rec = toKey(row);
      if (this.keyCache.size >= CACHE_MAX) this.keyCache.clear();
      this.keyCache.set(keyId, rec);
    }
    return { ...rec };
  }

  async listKeys(after: string | KeyListCursor | undefined, limit: number): Promise<KmsKeyRecord[]> {
    if (limit <= 0) return [];
    if (after === undefined) return (this.s.listKeysFirst.all(limit) as KeyRow[]).map(toKey);
    let cursor: KeyListCursor;
    if (typeof after === 'string') {
      const row = this.s.getKey.get(after) as KeyRow | undefined;
      if (row === undefined) throw conflict.noMarkerKey(after);
      cursor = { creationDate: row.creation_date, keyId: row.key_id };
    } else {
      cursor = after;
    }
    return (this.s.listKeysAfter.all(cursor.creationDate, cursor.keyId, limit) as KeyRow[]).map(toKey);
  }

  async updateKey(key: KmsKeyRecord): Promise<boolean> {
    this.keyCache.delete(key.keyId);
    return this.tx(() => {
      if (this.s.updateKey.run(...updateKeyValues(key)).changes > 0) return true;
      if (this.s.keyExists.get(key.keyId) === undefined) return false;
      throw conflict.changed(key.keyId, key.revision);
    });
  }

  async deleteKey(keyId: string, ifRevision?: number): Promise<boolean> {
    this.keyCache.delete(keyId);
    this.grantCache.delete(keyId);
    return this.tx(() => {
      if (ifRevision !== undefined) {
        const row = this.s.keyRevision.get(keyId) as { revision: number } | undefined;
        if (row === undefined) return false;
        if (row.revision !== ifRevision) throw conflict.changed(keyId, ifRevision);
      }
      this.s.deleteTagsOfKey.run(keyId);
      this.s.deleteGrantsOfKey.run(keyId);
      this.s.deleteAliasesOfKey.run(keyId);
      this.s.deleteMaterials.run(keyId);
      return this.s.deleteKey.run(keyId).changes > 0;
    });
  }

  // ---- material ----

  async getMaterial(keyId: string, version: number): Promise<KeyMaterialRecord | undefined> {
    const row = this.s.getMaterial.get(keyId, version) as MaterialRow | undefined;
    return row && toMaterial(row);
  }

  async listMaterials(keyId: string): Promise<KeyMaterialRecord[]> {
    return (this.s.listMaterials.all(keyId) as MaterialRow[]).map(toMaterial);
  }

  async resealMaterial(keyId: string, version: number, expected: Buffer, sealed: Buffer): Promise<boolean> {
    return this.s.resealMaterial.run(sealed, keyId, version, expected).changes > 0;
  }

  async addMaterial(material: KeyMaterialRecord, key: KmsKeyRecord): Promise<void> {
    if (material.keyId !== key.keyId) throw new RangeError('addMaterial: the material belongs to another key');
    this.keyCache.delete(key.keyId);
    this.tx(() => {
      this.requireKey(key.keyId);
      this.insertMaterial(material);
      if (this.s.updateKey.run(...updateKeyValues({ ...key, currentVersion: material.version })).changes === 0) throw conflict.changed(key.keyId, key.revision);
    });
  }

  async putMaterial(material: KeyMaterialRecord, key: KmsKeyRecord): Promise<void> {
    if (material.keyId !== key.keyId) throw new RangeError('putMaterial: the material belongs to another key');
    this.keyCache.delete(key.keyId);
    this.tx(() => {
      this.requireKey(key.keyId);
      if (this.s.updateKey.run(...updateKeyValues(key)).changes === 0) throw conflict.changed(key.keyId, key.revision);
      this.s.upsertMaterial.run(material.keyId, material.version, material.materialId, material.sealed, material.createdAt, material.rotationType ?? null);
    });
  }

  // ---- aliases ----

  async createAlias(a: AliasRecord): Promise<void> {
    this.tx(() => {
      if (this.s.getAlias.get(a.aliasName) !== undefined) throw conflict.aliasExists(a.aliasName);
      this.requireKey(a.keyId);
      this.s.insertAlias.run(a.aliasName, a.keyId, a.creationDate, a.lastUpdatedDate);
    });
  }

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    return this.getAliasNow(aliasName);
  }

  getAliasNow(aliasName: string): AliasRecord | undefined {
    const row = this.s.getAlias.get(aliasName) as AliasRow | undefined;
    return row && toAlias(row);
  }

  async updateAlias(aliasName: string, keyId: string, now: number): Promise<boolean> {
    return this.tx(() => {
      if (this.s.getAlias.get(aliasName) === undefined) return false;
      this.requireKey(keyId);
      return this.s.updateAlias.run(keyId, now, aliasName).changes > 0;
    });
  }

  async deleteAlias(aliasName: string): Promise<boolean> {
    return this.s.deleteAlias.run(aliasName).changes > 0;
  }

  async listAliases(keyId?: string): Promise<AliasRecord[]> {
    const rows = keyId === undefined ? this.s.listAliases.all() : this.s.listAliasesOfKey.all(keyId);
    return (rows as AliasRow[]).map(toAlias);
  }

  // ---- grants ----

  async createGrant(g: GrantRecord): Promise<void> {
    this.grantCache.delete(g.keyId);
    this.tx(() => {
      this.requireKey(g.keyId);
      if (this.s.getGrant.get(g.grantId) !== undefined) throw conflict.grantExists(g.grantId);
      if (this.s.grantByToken.get(g.grantToken) !== undefined) throw conflict.grantTokenExists();
      if (g.name !== undefined && this.s.grantByName.get(g.keyId, g.name) !== undefined) {
        throw conflict.grantNameTaken(g.keyId, g.name);
      }
      this.s.insertGrant.run(
        g.grantId, g.keyId, g.name ?? null, g.granteePrincipal, g.retiringPrincipal ?? null, g.issuingAccount,
        JSON.stringify(g.operations), g.constraints === undefined ? null : JSON.stringify(g.constraints),
        g.creationDate, g.grantToken,
      );
    });
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    const row = this.s.getGrant.get(grantId) as GrantRow | undefined;
    return row && toGrant(row);
  }

  async findGrantByToken(token: string): Promise<GrantRecord | undefined> {
    const row = this.s.grantByToken.get(token) as GrantRow | undefined;
    return row && toGrant(row);
  }

  async findGrantByName(keyId: string, name: string): Promise<GrantRecord | undefined> {
    const row = this.s.grantByName.get(keyId, name) as GrantRow | undefined;
    return row && toGrant(row);
  }

  async listGrants(keyId: string): Promise<GrantRecord[]> {
    return this.listGrantsNow(keyId);
  }

  listGrantsNow(keyId: string): GrantRecord[] {
    let list = this.grantCache.get(keyId);
    if (list === undefined) {
      list = (this.s.listGrants.all(keyId) as GrantRow[]).map(toGrant);
      if (this.grantCache.size >= CACHE_MAX) this.grantCache.clear();
      this.grantCache.set(keyId, list);
    }
    return list.map((g) => ({ ...g }));
  }

  async listGrantsByRetiringPrincipal(principal: string): Promise<GrantRecord[]> {
    return (this.s.listGrantsByRetiring.all(principal) as GrantRow[]).map(toGrant);
  }

  async deleteGrant(grantId: string): Promise<boolean> {
    this.grantCache.clear();
    return this.s.deleteGrant.run(grantId).changes > 0;
  }

  // ---- tags ----

  async getTags(keyId: string): Promise<Tag[]> {
    return (this.s.getTags.all(keyId) as { tag_key: string; tag_value: string }[]).map(toTag);
  }

  async setTags(keyId: string, tags: Tag[]): Promise<void> {
    this.tx(() => {
      this.requireKey(keyId);
      for (const t of tags) this.s.upsertTag.run({ keyId, tagKey: t.TagKey, tagValue: t.TagValue });
    });
  }

  async removeTags(keyId: string, tagKeys: string[]): Promise<void> {
    this.tx(() => {
      this.requireKey(keyId);
      for (const k of tagKeys) this.s.deleteTag.run(keyId, k);
    });
  }

  // ---- sweeps ----

  async dueForDeletion(now: number): Promise<KmsKeyRecord[]> {
    return (this.s.dueForDeletion.all(now) as KeyRow[]).map(toKey);
  }

  async dueForRotation(now: number): Promise<KmsKeyRecord[]> {
    return (this.s.dueForRotation.all(now) as KeyRow[]).map(toKey);
  }

  async dueForExpiry(now: number): Promise<KmsKeyRecord[]> {
    return (this.s.dueForExpiry.all(now) as KeyRow[]).map(toKey);
  }

  async ping(): Promise<void> {
    this.conn.ping();
  }

  async close(): Promise<void> {
    this.conn.close();
  }

  // ---- internals ----

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: takes the write lock up front). */
  private tx<T>(fn: () => T): T {
    return this.conn.tx(fn);
  }

  private requireKey(keyId: string): void {
    if (this.s.keyExists.get(keyId) === undefined) throw conflict.noKey(keyId);
  }

  private insertMaterial(m: KeyMaterialRecord): void {
    if (this.s.materialExists.get(m.keyId, m.version) !== undefined) {
      throw conflict.materialExists(m.keyId, m.version);
    }
    this.s.insertMaterial.run(m.keyId, m.version, m.materialId, m.sealed, m.createdAt, m.rotationType ?? null);
  }
}
