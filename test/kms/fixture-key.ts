// Test fixtures for the KMS data-plane tests: a symmetric key (through CreateKey when
// the server offers it, else written to the store the way CreateKey would), key states
// and policies set through the store, and aliases.

import { randomBytes, randomUUID } from 'node:crypto';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import type { TestServer } from '../helpers/server.js';
import { defaultKeyPolicyText } from '../../src/iam/policy/index.js';
import { generateKeyMaterial, sealKeyMaterial } from '../../src/kms/custody/key-material.js';
import type { KeyState, KmsKeyRecord } from '../../src/kms/store/types.js';

/** Creates an Enabled symmetric key and returns its record. */
export async function createTestKey(srv: TestServer, description = 'crypto test key'): Promise<KmsKeyRecord> {
  const svc = srv.coffer.kms;
  try {
    const r = await srv.kms.send(new CreateKeyCommand({ Description: description }));
    const key = await svc.store.getKey(r.KeyMetadata!.KeyId!);
    if (key) return key;
  } catch (e) {
    if ((e as { name?: string }).name !== 'UnsupportedOperationException') throw e;
  }
  const keyId = randomUUID();
  const now = svc.now();
  const key: KmsKeyRecord = {
    keyId,
    arn: svc.keyArn(keyId),
    accountId: svc.accountId,
    region: svc.region,
    description,
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'AWS_KMS',
    keyManager: 'CUSTOMER',
    state: 'Enabled',
    creationDate: now,
    policy: defaultKeyPolicyText(svc.accountId),
    rotationEnabled: false,
    onDemandRotations: 0,
    currentVersion: 1,
  };
  const material = generateKeyMaterial();
  try {
    const sealed = await sealKeyMaterial(svc.rootKey, keyId, 1, material);
    await svc.store.createKey(key, { keyId, version: 1, materialId: randomBytes(32).toString('hex'), sealed, createdAt: now }, []);
  } finally {
    material.fill(0);
  }
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
