// Test fixtures for the KMS data-plane tests: a symmetric key made by CreateKey, key
// states and policies set through the store, and aliases.

import { CreateKeyCommand } from '@aws-sdk/client-kms';
import type { TestServer } from '../helpers/server.js';
import type { KeyState, KmsKeyRecord } from '../../src/kms/store/types.js';

/** Creates an Enabled symmetric key through CreateKey and returns its stored record. */
export async function createTestKey(srv: TestServer, description = 'crypto test key'): Promise<KmsKeyRecord> {
  const r = await srv.kms.send(new CreateKeyCommand({ Description: description }));
  const key = await srv.coffer.kms.store.getKey(r.KeyMetadata!.KeyId!);
  if (!key) throw new Error('CreateKey answered with a key the store does not have');
  return key;
}

async function update(srv: TestServer, keyId: string, change: Partial<KmsKeyRecord>): Promise<KmsKeyRecord> {
  const store = srv.coffer.kms.store;
  const key = await store.getKey(keyId);
  if (!key) throw new Error(`no key ${keyId}`);
  const next = { ...key, ...change };
  if (!(await store.updateKey(next))) throw new Error(`key ${keyId} vanished`);
  return next;
}

export function setKeyState(srv: TestServer, keyId: string, state: KeyState): Promise<KmsKeyRecord> {
  const deletion = state === 'PendingDeletion' ? { deletionDate: Date.now() + 30 * 86_400_000, pendingWindowInDays: 30 } : { deletionDate: undefined, pendingWindowInDays: undefined };
  return update(srv, keyId, { state, ...deletion });
}

export function setKeyPolicy(srv: TestServer, keyId: string, policy: unknown): Promise<KmsKeyRecord> {
  return update(srv, keyId, { policy: JSON.stringify(policy) });
}

export async function createTestAlias(srv: TestServer, aliasName: string, keyId: string): Promise<void> {
  const now = Date.now();
  await srv.coffer.kms.store.createAlias({ aliasName, keyId, creationDate: now, lastUpdatedDate: now });
}
