// Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
// UpdateKeyDescription. Coffer creates symmetric, RSA, ECC (NIST, secg, Ed25519), HMAC and,
// where the Node runtime's crypto has ML-DSA, ML-DSA keys with KMS-generated material
// (key-specs.ts) or, with Origin EXTERNAL, without material in PendingImport (ops/import.ts);
// SM2, ML-DSA on a runtime without it, multi-Region keys and custom key stores are a clear
// UnsupportedOperationException.
//
//   createKey:
//     check members (AWS's model constraints, then Coffer's symmetric-only rule)
//     authorize kms:CreateKey against the caller's identity policies (no key exists yet)
//     check the policy (parse, lockout) and the tags
//     keyId = random UUID; material v1 = 256 random bits, or a private key / HMAC key, sealed under the root key for (keyId, 1)
//     store.createKey(key, material, tags)   -- one transaction

import { randomBytes, randomUUID } from 'node:crypto';
import type { KmsInput, KmsOperation, Operation } from '../operation.js';
import { keyProperties, type KmsService } from '../service.js';
import type { KeyMaterialRecord, KmsKeyRecord, KeyListCursor } from '../store/types.js';
import { KmsStoreConflict } from '../store/types.js';
import { newSealedMaterial, sealSecret } from '../format/key-material.js';
import { creatable, generateSecret, runtimeLimitation, secretKind, SPECS, type KeySpec, type KeyUsage } from '../key-specs.js';
import { isKeyId } from '../format/key-id.js';
import { defaultKeyPolicyText } from '../../iam/policy/index.js';
import { kmsError } from '../errors.js';
import { keyMetadata, type KeyMetadata } from '../key-metadata.js';
import { booleanMember, changeKey, decodeMarker, encodeMarker, enumMember, invalidMarker, listLimit, refuseAwsManaged, stringMember } from './common.js';
import { parseTags, tagConditions } from './tags.js';
import { checkNewKeyPolicy, policyMember } from './policies.js';
import { withRequestAlias } from './request-alias.js';

const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
// AWS lists the KeySpec enum in this (unsorted) order; the specs added since the
// recording follow it.
const KEY_SPECS = [
  'RSA_2048', 'ECC_NIST_P384', 'ECC_NIST_P256', 'ECC_NIST_P521', 'HMAC_384', 'RSA_3072', 'ECC_SECG_P256K1', 'RSA_4096',
  'SYMMETRIC_DEFAULT', 'HMAC_256', 'HMAC_224', 'HMAC_512', 'SM2', 'ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87', 'ECC_NIST_EDWARDS25519',
] as const;
const CUSTOMER_MASTER_KEY_SPECS = KEY_SPECS.slice(0, 13);
const ORIGINS = ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
const DESCRIPTION_MAX = 8192;

function unsupported(what: string) {
  return kmsError('UnsupportedOperationException', `${what} is not supported by Coffer's KMS.`);
}

interface CreateKeyRequest {
  description: string;
  policy?: string;
  bypass: boolean;
  /** BypassPolicyLockoutSafetyCheck as the request gave it: kms:BypassPolicyLockoutSafetyCheck is absent when it is. */
  bypassGiven?: boolean;
  tagsRaw: unknown;
  spec: KeySpec;
  usage: KeyUsage;
  origin: 'AWS_KMS' | 'EXTERNAL';
}

/** CreateKey's members, checked in AWS's order: model constraints, then the spec and usage rules, then what Coffer can create. */
function parseCreateKey(input: KmsInput): CreateKeyRequest {
  const description = stringMember(input, 'Description', 'description', { max: DESCRIPTION_MAX }) ?? '';
  const policy = policyMember(input, false);
  const usage = enumMember(input, 'KeyUsage', 'keyUsage', KEY_USAGES);
  const spec = enumMember(input, 'KeySpec', 'keySpec', KEY_SPECS);
  const cmkSpec = enumMember(input, 'CustomerMasterKeySpec', 'customerMasterKeySpec', CUSTOMER_MASTER_KEY_SPECS);
  const origin = enumMember(input, 'Origin', 'origin', ORIGINS);
  const bypassGiven = booleanMember(input, 'BypassPolicyLockoutSafetyCheck');
  const multiRegion = booleanMember(input, 'MultiRegion') ?? false;
  const customKeyStoreId = stringMember(input, 'CustomKeyStoreId', 'customKeyStoreId', { min: 1, max: 64 });
  const xksKeyId = stringMember(input, 'XksKeyId', 'xksKeyId', { min: 1, max: 128 });

  if (spec !== undefined && cmkSpec !== undefined) {
    throw kmsError('ValidationException', 'You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.');
  }
  const effectiveSpec = spec ?? cmkSpec ?? 'SYMMETRIC_DEFAULT';
  if (effectiveSpec !== 'SYMMETRIC_DEFAULT' && usage === undefined) {
    throw kmsError('ValidationException', 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.');
  }
  if (!creatable(effectiveSpec)) {
    throw unsupported(`KeySpec ${effectiveSpec} (${runtimeLimitation(effectiveSpec) ?? 'not offered'})`);
  }
  const keySpec = effectiveSpec as KeySpec;
  const keyUsage = usage ?? 'ENCRYPT_DECRYPT';
  if (!SPECS[keySpec].usages.includes(keyUsage)) throw kmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}`);
  if (origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE') throw unsupported(`Origin ${origin} (custom key stores)`);
  if (multiRegion) throw unsupported('MultiRegion (multi-Region keys)');
  if (customKeyStoreId !== undefined || xksKeyId !== undefined) throw unsupported('A key in a custom key store');
  return { description, policy, bypass: bypassGiven ?? false, bypassGiven, tagsRaw: input.Tags, spec: keySpec, usage: keyUsage, origin: origin ?? 'AWS_KMS' };
}

/** Version 1 of a new key's material, sealed: 256 random bits (v1 record), or a private key or HMAC key (v2 record). */
async function firstMaterial(svc: KmsService, keyId: string, spec: KeySpec, now: number): Promise<KeyMaterialRecord> {
  const kind = secretKind(spec);
  if (kind === undefined) return newSealedMaterial(svc.rootKey, keyId, now);
  const secret = await generateSecret(spec);
  try {
    return { keyId, version: 1, materialId: randomBytes(32).toString('hex'), sealed: await sealSecret(svc.rootKey, keyId, 1, kind, secret), createdAt: now };
  } finally {
    secret.fill(0);
  }
}

export const createKey: KmsOperation = async (svc, caller, input, note) => {
  const req = parseCreateKey(input);
  const tags = parseTags(req.tagsRaw);
  note.params = { ...note.params, keyUsage: req.usage, keySpec: req.spec, origin: req.origin };
  // The new key's properties (kms:MultiRegion false: Coffer makes single-Region keys only), the bypass flag when given, and its tags.
  const requested = { ...keyProperties({ keySpec: req.spec, keyUsage: req.usage, origin: req.origin }), 'kms:BypassPolicyLockoutSafetyCheck': req.bypassGiven, ...(tags.length ? tagConditions(tags) : {}) };
  await svc.authorizeIdentity(caller, 'kms:CreateKey', '*', requested);
  // Tagging at creation needs kms:TagResource too (AWS: "To use the Tags parameter ... kms:TagResource (IAM policy)"), with the tags as its request tags.
  if (tags.length) await svc.authorizeIdentity(caller, 'kms:TagResource', '*', tagConditions(tags));

  const keyId = randomUUID();
  const arn = svc.keyArn(keyId);
  if (req.policy !== undefined) checkNewKeyPolicy(svc, caller, req.policy, arn, req.bypass);
  const now = svc.now();
  const key: KmsKeyRecord = {
    keyId,
    arn,
    accountId: svc.accountId,
    region: svc.region,
    description: req.description,
    keyUsage: req.usage,
    keySpec: req.spec,
    origin: req.origin,
    keyManager: 'CUSTOMER',
    // An EXTERNAL key has no material until ImportKeyMaterial.
    state: req.origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
    creationDate: now,
    policy: req.policy ?? defaultKeyPolicyText(svc.accountId),
    rotationEnabled: false,
    onDemandRotations: 0,
    currentVersion: 1,
  };
  await svc.store.createKey(key, req.origin === 'EXTERNAL' ? undefined : await firstMaterial(svc, keyId, req.spec, now), tags);
  note.keys.push(key);
  return { KeyMetadata: await keyMetadata(svc, key) };
};

export interface DescribeKeyRequest {
  KeyId?: unknown;
}

export const describeKey: Operation<DescribeKeyRequest, { KeyMetadata: KeyMetadata }> = async (svc, caller, input, note) => {
  const key = await svc.resolveKey(input.KeyId, { allowAlias: true });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:DescribeKey', withRequestAlias({}, input.KeyId));
  svc.checkState(key, 'read');
  return { KeyMetadata: await keyMetadata(svc, key) };
};

// ListKeys markers hold the last key's (creationDate, keyId), which stays a valid
// position even if that key is deleted before the next page is asked for.
const KEYS_MARKER = /^k:(\d{1,16}):(.+)$/;

function keysCursor(position: string): KeyListCursor {
  const m = KEYS_MARKER.exec(position)!;
  return { creationDate: Number(m[1]), keyId: m[2]! };
}

export const listKeys: KmsOperation = async (svc, caller, input) => {
  const limit = listLimit(input, 100, 1000);
  const position = decodeMarker(input, (p) => {
    const m = KEYS_MARKER.exec(p);
    return m !== null && isKeyId(m[2]!);
  });
  await svc.authorizeIdentity(caller, 'kms:ListKeys');
  let rows: KmsKeyRecord[];
  try {
    rows = await svc.store.listKeys(position === undefined ? undefined : keysCursor(position), limit + 1);
  } catch (e) {
    if (e instanceof KmsStoreConflict && e.kind === 'NotFound') throw invalidMarker();
    throw e;
  }
  const page = rows.slice(0, limit);
  const out: Record<string, unknown> = { Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })) };
  if (rows.length > limit) {
    const last = page[page.length - 1]!;
    out.NextMarker = encodeMarker(`k:${last.creationDate}:${last.keyId}`);
    out.Truncated = true;
  } else {
    out.Truncated = false;
  }
  return out;
};

/** EnableKey and DisableKey: the same checks, then the state. Both accept a key id or ARN only. */
async function setEnabled(svc: KmsService, caller: Parameters<KmsOperation>[1], input: KmsInput, note: Parameters<KmsOperation>[3], enabled: boolean): Promise<void> {
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, enabled ? 'kms:EnableKey' : 'kms:DisableKey');
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  const state = enabled ? 'Enabled' : 'Disabled';
  await changeKey(svc, key, async (fresh) => {
    svc.checkState(fresh, 'manage');
    if (fresh.state === 'PendingImport') throw kmsError('KMSInvalidStateException', `${key.arn} is pending import.`);
    if (fresh.state !== state) await svc.store.updateKey({ ...fresh, state });
  });
}

export const enableKey: KmsOperation = async (svc, caller, input, note) => {
  await setEnabled(svc, caller, input, note, true);
  return {};
};

export const disableKey: KmsOperation = async (svc, caller, input, note) => {
  await setEnabled(svc, caller, input, note, false);
  return {};
};

export const updateKeyDescription: KmsOperation = async (svc, caller, input, note) => {
  const description = stringMember(input, 'Description', 'description', { required: true, max: DESCRIPTION_MAX })!;
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:UpdateKeyDescription');
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  await changeKey(svc, key, (fresh) => svc.store.updateKey({ ...fresh, description }));
  return {};
};
