// Test fixtures for KMS tests: keys written straight into the server's own store (with
// material sealed under its own root key, exactly as CreateKey stores them), ciphertexts
// made with a key's real material, and fabricated callers for in-process calls. They
// let a test set up a state (a key pending deletion with a past date, a rotation that
// is due) that the API cannot reach quickly; the code under test is always the real one.

import { randomBytes, randomUUID } from 'node:crypto';
import type { Principal } from '../../src/auth/types.js';
import { KmsService, type Caller } from '../../src/kms/service.js';
import type { RunningCoffer } from '../../src/app.js';
import type { KmsKeyRecord, Tag } from '../../src/kms/store/types.js';
import { generateKeyMaterial, sealKeyMaterial } from '../../src/kms/format/key-material.js';
import { encodeCiphertext } from '../../src/kms/format/ciphertext.js';
import { defaultKeyPolicyText, parsePolicyObject } from '../../src/iam/policy/index.js';

export type KeyOverrides = Partial<Omit<KmsKeyRecord, 'keyId' | 'arn' | 'accountId' | 'region'>> & { tags?: Tag[] };

/** Creates a symmetric key (version 1 material) in the service's store; overrides set state, policy, rotation fields. */
export async function createTestKey(svc: KmsService, overrides: KeyOverrides = {}): Promise<KmsKeyRecord> {
  const { tags = [], ...fields } = overrides;
  const keyId = randomUUID();
  const now = svc.now();
  const key: KmsKeyRecord = {
    keyId,
    arn: svc.keyArn(keyId),
    accountId: svc.accountId,
    region: svc.region,
    description: '',
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
    ...fields,
  };
  const material = generateKeyMaterial();
  const sealed = await sealKeyMaterial(svc.rootKey, keyId, 1, material);
  material.fill(0);
  await svc.store.createKey(key, { keyId, version: 1, materialId: randomBytes(32).toString('hex'), sealed, createdAt: now }, tags);
  return key;
}

/** A ciphertext of `plaintext` under the key's current (or given) material version, as Encrypt makes it. */
export async function encryptWithKey(svc: KmsService, keyId: string, plaintext: Buffer, context: Record<string, string> = {}, version?: number): Promise<Buffer> {
  const key = await svc.store.getKey(keyId);
  if (!key) throw new Error(`no key ${keyId}`);
  const v = version ?? key.currentVersion;
  return encodeCiphertext({ keyId, materialVersion: v, material: await svc.material(key, v), plaintext, context });
}

export function userPrincipal(accountId: string, userName: string): Principal {
  return { arn: `arn:aws:iam::${accountId}:user/${userName}`, accountId, userName, kind: 'user' };
}

export function rootPrincipal(accountId: string): Principal {
  return { arn: `arn:aws:iam::${accountId}:root`, accountId, userName: 'root', kind: 'root' };
}

/** A caller as the JSON handler builds one, for in-process callKms. */
export function callerFor(principal: Principal): Caller {
  return { principal, requestId: randomUUID(), sourceIp: '127.0.0.1', secureTransport: false, userAgent: 'coffer-test' };
}

/** A key policy: the default root delegation plus extra statements. */
export function keyPolicy(accountId: string, ...extra: object[]): string {
  const doc = JSON.parse(defaultKeyPolicyText(accountId)) as { Statement: object[] };
  doc.Statement.push(...extra);
  return JSON.stringify(doc);
}

/**
 * A KmsService over the running server's store, root key and audit log whose identity
 * policies come from a table (user name -> policy documents) instead of the IAM store:
 * the policy engine, grants and operations are the real ones.
 */
export function serviceWithIdentityPolicies(coffer: RunningCoffer, table: Record<string, object[]>): KmsService {
  const kms = coffer.kms;
  return new KmsService({
    store: kms.store,
    rootKey: kms.rootKey,
    accountId: kms.accountId,
    region: kms.region,
    identityPolicies: async (p) =>
      p.kind === 'user' ? (table[p.userName] ?? []).map((doc, i) => ({ name: `${p.userName}-policy-${i}`, document: parsePolicyObject(doc as Record<string, unknown>, { kind: 'identity' }) })) : [],
    audit: coffer.audit,
    log: coffer.log,
  });
}
