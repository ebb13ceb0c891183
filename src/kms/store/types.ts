// The KMS's persistent state behind one interface: keys, their versioned (sealed)
// material, aliases, grants and tags. The embedded implementation is SQLite
// (sqlite-kms-store.ts); sealed material is opaque here — it is encrypted under the
// root key before it reaches the store (src/kms/format/key-material.ts).

import type { KeySpec, KeyUsage } from '../key-specs.js';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport';
export type KeyManager = 'CUSTOMER' | 'AWS';
/** AWS_KMS: KMS made the material. EXTERNAL: the customer imports it (ImportKeyMaterial). */
export type KeyOrigin = 'AWS_KMS' | 'EXTERNAL';
export type ExpirationModel = 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';

/** An import token GetParametersForImport issued that ImportKeyMaterial has not used yet. */
export interface ImportTokenRef {
  /** The token's id (32 hex characters; docs/spec/kms-import-token.md). */
  id: string;
  /** When the token expires (epoch ms). */
  validTo: number;
}

export interface KmsKeyRecord {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  description: string;
  keyUsage: KeyUsage;
  keySpec: KeySpec;
  origin: KeyOrigin;
  keyManager: KeyManager;
  state: KeyState;
  /** Epoch milliseconds. */
  creationDate: number;
  /** Set while PendingDeletion: when the sweep deletes the key (epoch ms). */
  deletionDate?: number;
  pendingWindowInDays?: number;
  /** The key policy document (JSON text), name "default". */
  policy: string;
  rotationEnabled: boolean;
  rotationPeriodInDays?: number;
  /** When automatic rotation is next due (epoch ms). */
  nextRotationDate?: number;
  onDemandRotations: number;
  /** The material version new ciphertexts use. An EXTERNAL key never imported has no material row for it. */
  currentVersion: number;
  /** EXTERNAL keys with material: whether the current material expires, and when (validTo, epoch ms). */
  expirationModel?: ExpirationModel;
  validTo?: number;
  /** EXTERNAL symmetric keys: an imported version waiting for RotateKeyOnDemand to make it current. */
  pendingVersion?: number;
  /** EXTERNAL keys: import tokens issued and not yet used (one use each). */
  importTokens?: ImportTokenRef[];
  /**
   * The store's count of writes to this record (1 when created), as read: a write of a
   * record that carries one lands only if the stored record is still at it (compare and
   * swap), so two nodes' read-modify-writes of one key never lose one of them. Set by the
   * store on every read; ignored by createKey.
   */
  revision?: number;
}

export interface KeyMaterialRecord {
  keyId: string;
  version: number;
  /** 64 hex characters, as AWS's CurrentKeyMaterialId. */
  materialId: string;
  /**
   * The material sealed under the root key. Empty for imported material that was deleted
   * (DeleteImportedKeyMaterial, expiry): the row and its materialId stay so the same
   * material can be imported again into the same version.
   */
  sealed: Buffer;
  createdAt: number;
  rotationType?: 'AUTOMATIC' | 'ON_DEMAND';
}

export interface AliasRecord {
  aliasName: string;
  keyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

export interface GrantConstraints {
  encryptionContextEquals?: Record<string, string>;
  encryptionContextSubset?: Record<string, string>;
}

export interface GrantRecord {
  grantId: string;
  keyId: string;
  name?: string;
  granteePrincipal: string;
  retiringPrincipal?: string;
  issuingAccount: string;
  operations: string[];
  constraints?: GrantConstraints;
  creationDate: number;
  /** The token CreateGrant returned (grant tokens are usable at once). */
  grantToken: string;
}

export interface Tag {
  TagKey: string;
  TagValue: string;
}

/**
 * A write the store refused. Messages name ids only, never material.
 * - KeyExists, MaterialExists, AliasExists, GrantExists: the id (or alias name, grant
 *   token, or a grant's (keyId, name)) is taken.
 * - NotFound: the key the write refers to does not exist (or, for listKeys, the
 *   marker key id is unknown).
 * - Changed: the key record given carries a revision and the stored record has moved past
 *   it (another write, maybe on another node, came first): read it again and redo the change.
 */
export type KmsStoreConflictKind = 'KeyExists' | 'MaterialExists' | 'AliasExists' | 'GrantExists' | 'NotFound' | 'Changed';

export class KmsStoreConflict extends Error {
  constructor(readonly kind: KmsStoreConflictKind, message?: string) {
    super(message ?? kind);
    this.name = 'KmsStoreConflict';
  }
}

/** A position in listKeys order. Unlike a bare key id it stays valid if that key is deleted between pages. */
export interface KeyListCursor {
  creationDate: number;
  keyId: string;
}

export interface KmsStore {
  /**
   * Creates a key with its first material version and its tags (one transaction); an
   * EXTERNAL key waiting for its first import has no material (undefined).
   * KeyExists if the id is taken; RangeError if material is not key's current version.
   */
  createKey(key: KmsKeyRecord, material: KeyMaterialRecord | undefined, tags: Tag[]): Promise<void>;
  getKey(keyId: string): Promise<KmsKeyRecord | undefined>;
  /**
   * Optional, for a store that can answer without waiting (the embedded one): what getKey,
   * getAlias and listGrants answer, synchronously — the request path then takes no promise
   * hop. A store whose reads go to a server (PostgreSQL) leaves them out.
   */
  getKeyNow?(keyId: string): KmsKeyRecord | undefined;
  getAliasNow?(aliasName: string): AliasRecord | undefined;
  listGrantsNow?(keyId: string): GrantRecord[];
  /**
   * Keys ordered by (creationDate, keyId), those after `after`, at most limit. `after` is
   * the last key of the previous page: its id (NotFound if that key no longer exists) or
   * a KeyListCursor (works even then).
   */
  listKeys(after: string | KeyListCursor | undefined, limit: number): Promise<KmsKeyRecord[]>;
  /**
   * Replaces the mutable fields of a key (description, state, deletion and rotation
   * fields, policy, currentVersion, the import fields expirationModel, validTo,
   * pendingVersion and importTokens); id, ARN, account, region, spec, usage, origin,
   * manager and creationDate never change. Returns false if absent. With key.revision
   * set, writes only if the stored revision is still that one, else Changed; every
   * write moves the revision on.
   */
  updateKey(key: KmsKeyRecord): Promise<boolean>;
  /**
   * Deletes a key with its material, aliases, grants and tags (one transaction). Returns
   * false if absent. With `ifRevision`, only the key at that revision (Changed otherwise,
   * and nothing is deleted): the deletion sweep must not delete a key whose deletion was
   * cancelled since it was listed.
   */
  deleteKey(keyId: string, ifRevision?: number): Promise<boolean>;

  getMaterial(keyId: string, version: number): Promise<KeyMaterialRecord | undefined>;
  /** Ordered by version. */
  listMaterials(keyId: string): Promise<KeyMaterialRecord[]>;
  /**
   * Adds a new material version and writes `key` as updateKey does, with currentVersion
   * set to material.version (one transaction). NotFound if the key is absent,
   * MaterialExists if the version is taken, Changed as updateKey.
   */
  addMaterial(material: KeyMaterialRecord, key: KmsKeyRecord): Promise<void>;
  /**
   * Writes a material version whether or not it exists (an import, a re-import, a deletion
   * that empties `sealed`) and writes `key` as updateKey does, currentVersion as given
   * (one transaction). NotFound if the key is absent, Changed as updateKey (and then
   * nothing is written).
   */
  putMaterial(material: KeyMaterialRecord, key: KmsKeyRecord): Promise<void>;
  /**
   * Root-key rotation (backend/reseal/): replaces one version's sealed bytes only if they
   * are still `expected` (compare-and-swap). False if absent or changed.
   */
  resealMaterial(keyId: string, version: number, expected: Buffer, sealed: Buffer): Promise<boolean>;

  /** AliasExists if the name is taken, NotFound if the target key is absent. */
  createAlias(a: AliasRecord): Promise<void>;
  getAlias(aliasName: string): Promise<AliasRecord | undefined>;
  /** Points the alias at keyId. False if the alias is absent; NotFound if the key is. */
  updateAlias(aliasName: string, keyId: string, now: number): Promise<boolean>;
  deleteAlias(aliasName: string): Promise<boolean>;
  /** Ordered by alias name; keyId filters to one key. */
  listAliases(keyId?: string): Promise<AliasRecord[]>;

  /**
   * GrantExists if the grant id, the token, or (keyId, name) is taken — CreateGrant's
   * Name idempotency is the caller's: look first with findGrantByName. NotFound if the
   * key is absent.
   */
  createGrant(g: GrantRecord): Promise<void>;
  getGrant(grantId: string): Promise<GrantRecord | undefined>;
  findGrantByToken(token: string): Promise<GrantRecord | undefined>;
  findGrantByName(keyId: string, name: string): Promise<GrantRecord | undefined>;
  /** Grants of a key in the order they were created. */
  listGrants(keyId: string): Promise<GrantRecord[]>;
  /** In the order they were created, across keys. */
  listGrantsByRetiringPrincipal(principal: string): Promise<GrantRecord[]>;
  deleteGrant(grantId: string): Promise<boolean>;

  /** Tags in the order their keys were first added; [] for an unknown key. */
  getTags(keyId: string): Promise<Tag[]>;
  /** TagResource: adds tags, replacing the value (not the position) of existing keys. NotFound if the key is absent. */
  setTags(keyId: string, tags: Tag[]): Promise<void>;
  /** UntagResource: unknown tag keys are ignored. NotFound if the key is absent. */
  removeTags(keyId: string, tagKeys: string[]): Promise<void>;

  /** PendingDeletion keys whose deletionDate <= now, ordered by (deletionDate, keyId). */
  dueForDeletion(now: number): Promise<KmsKeyRecord[]>;
  /**
   * Enabled keys with automatic rotation on whose nextRotationDate <= now, ordered by
   * (nextRotationDate, keyId). Disabled keys wait: they are due again once re-enabled.
   */
  dueForRotation(now: number): Promise<KmsKeyRecord[]>;
  /**
   * Enabled or Disabled keys whose imported material expires (validTo) at or before now,
   * ordered by (validTo, keyId).
   */
  dueForExpiry(now: number): Promise<KmsKeyRecord[]>;

  /** Readiness: resolves when the store answers a query; rejects with the cause. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
