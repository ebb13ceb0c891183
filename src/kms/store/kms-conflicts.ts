// The writes the KMS stores refuse, and why, written once for both (sqlite-kms-store.ts
// and pg-kms-store.ts run the checks in their own transactions and throw what is here).
// Ids and names only; never key material.

import { KmsStoreConflict } from './types.js';

export const conflict = {
  keyExists: (keyId: string) => new KmsStoreConflict('KeyExists', `key ${keyId} exists`),
  noKey: (keyId: string) => new KmsStoreConflict('NotFound', `key ${keyId} does not exist`),
  noMarkerKey: (keyId: string) => new KmsStoreConflict('NotFound', `marker key ${keyId} does not exist`),
  /** The stored record moved past the revision the writer read (given as `revision`; '?' when unknown). */
  changed: (keyId: string, revision: number | undefined) => new KmsStoreConflict('Changed', `key ${keyId} changed since revision ${revision ?? '?'} was read`),
  materialExists: (keyId: string, version: number) => new KmsStoreConflict('MaterialExists', `key ${keyId} has material version ${version}`),
  aliasExists: (aliasName: string) => new KmsStoreConflict('AliasExists', `alias ${aliasName} exists`),
  grantExists: (grantId: string) => new KmsStoreConflict('GrantExists', `grant ${grantId} exists`),
  grantTokenExists: () => new KmsStoreConflict('GrantExists', 'grant token exists'),
  grantNameTaken: (keyId: string, name: string) => new KmsStoreConflict('GrantExists', `key ${keyId} has a grant named ${name}`),
} as const;
