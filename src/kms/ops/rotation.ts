// Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
// RotateKeyOnDemand, ListKeyRotations, and the rotation step the scheduler runs for
// automatic rotation. A rotation adds a material version and makes it current; older
// versions stay forever, and Decrypt finds the one a ciphertext names in its header.
//
//   rotate(key, type):
//     material = random 256 bits, sealed under the root key for (keyId, version + 1)
//     store.addMaterial(material, key with currentVersion = version + 1)   -- one transaction
//
// Rotations are synchronous, so GetKeyRotationStatus never reports an in-progress
// OnDemandRotationStartDate.

import { randomBytes } from 'node:crypto';
import type { KmsOperation } from '../operation.js';
import type { KmsService } from '../service.js';
import type { KmsKeyRecord, KeyMaterialRecord } from '../store/types.js';
import { KmsStoreConflict } from '../store/types.js';
import { generateKeyMaterial, sealKeyMaterial } from '../format/key-material.js';
import { kmsError, validationError } from '../errors.js';
import { changeKey } from './common.js';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_ROTATION_PERIOD_DAYS = 365;
export const MIN_ROTATION_PERIOD_DAYS = 90;
export const MAX_ROTATION_PERIOD_DAYS = 2560;
/** AWS: "a maximum of 25 times per KMS key". */
export const ON_DEMAND_ROTATION_LIMIT = 25;

const LIST_DEFAULT_LIMIT = 100;
const LIST_MAX_LIMIT = 1000;

/** JSON timestamps are epoch seconds; the store keeps epoch milliseconds. */
const seconds = (ms: number): number => ms / 1000;

/** Key operations on AWS managed keys are AWS's own; Coffer answers as KMS does for a non-customer key. */
function refuseAwsManaged(key: KmsKeyRecord): void {
  if (key.keyManager === 'AWS') throw kmsError('UnsupportedOperationException', `${key.arn} key manager is AWS which is not valid for this operation.`);
}

/**
 * Only symmetric encryption keys rotate (AWS: UnsupportedOperationException for asymmetric,
 * HMAC keys). RotateKeyOnDemand answers with AWS's empty message (recorded:
 * test_rotate_key_on_demand_raises_error_given_non_symmetric_key).
 */
function refuseNonSymmetric(key: KmsKeyRecord, message = `${key.arn} key spec is ${key.keySpec} which is not valid for key rotation.`): void {
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw kmsError('UnsupportedOperationException', message);
}

/** Automatic rotation is for KMS-made material: an imported key rotates only on demand, into material the customer imported. */
function refuseExternal(key: KmsKeyRecord): void {
  if (key.origin === 'EXTERNAL') throw kmsError('UnsupportedOperationException', `${key.arn} origin is EXTERNAL which is not valid for this operation.`);
}

async function rotationKey(svc: KmsService, input: Record<string, unknown>): Promise<KmsKeyRecord> {
  return svc.resolveKey(input.KeyId, { allowAlias: false });
}

function rotationPeriod(v: unknown): number {
  if (v === undefined || v === null) return DEFAULT_ROTATION_PERIOD_DAYS;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw kmsError('SerializationException', 'NUMBER_VALUE can not be converted to an Integer');
  if (v < MIN_ROTATION_PERIOD_DAYS) throw validationError('rotationPeriodInDays', `Member must have value greater than or equal to ${MIN_ROTATION_PERIOD_DAYS}`, v);
  if (v > MAX_ROTATION_PERIOD_DAYS) throw validationError('rotationPeriodInDays', `Member must have value less than or equal to ${MAX_ROTATION_PERIOD_DAYS}`, v);
  return v;
}

export const enableKeyRotation: KmsOperation = async (svc, caller, input, note) => {
  const period = rotationPeriod(input.RotationPeriodInDays);
  const key = await rotationKey(svc, input);
  note.keys.push(key);
  note.params = { keyId: input.KeyId, ...(input.RotationPeriodInDays !== undefined ? { rotationPeriodInDays: period } : {}) };
  await svc.authorize(caller, key, 'kms:EnableKeyRotation', { 'kms:RotationPeriodInDays': String(period) });
  svc.checkState(key, 'crypto');
  refuseAwsManaged(key);
  refuseNonSymmetric(key);
  refuseExternal(key);
  const now = svc.now();
  await changeKey(svc, key, async (fresh) => {
    svc.checkState(fresh, 'crypto');
    // A new period on a key that already rotates counts from the same start as the old one
    // (the last rotation, or when rotation was enabled); a first enable counts from now.
    let next = now + period * DAY_MS;
    if (fresh.rotationEnabled && fresh.nextRotationDate !== undefined && fresh.rotationPeriodInDays !== undefined) {
      next = fresh.nextRotationDate - fresh.rotationPeriodInDays * DAY_MS + period * DAY_MS;
    }
    await svc.store.updateKey({ ...fresh, rotationEnabled: true, rotationPeriodInDays: period, nextRotationDate: next });
  });
  return {};
};

export const disableKeyRotation: KmsOperation = async (svc, caller, input, note) => {
  const key = await rotationKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:DisableKeyRotation');
  svc.checkState(key, 'crypto');
  refuseAwsManaged(key);
  refuseNonSymmetric(key);
  await changeKey(svc, key, async (fresh) => {
    svc.checkState(fresh, 'crypto');
    await svc.store.updateKey({ ...fresh, rotationEnabled: false, rotationPeriodInDays: undefined, nextRotationDate: undefined });
  });
  return {};
};

export const getKeyRotationStatus: KmsOperation = async (svc, caller, input, note) => {
  const key = await rotationKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:GetKeyRotationStatus');
  svc.checkState(key, 'read');
  // While a key is pending deletion its rotation status reads false (AWS); cancelling restores it.
  const enabled = key.rotationEnabled && key.state !== 'PendingDeletion';
  const out: Record<string, unknown> = { KeyRotationEnabled: enabled, KeyId: key.keyId };
  if (enabled) {
    out.RotationPeriodInDays = key.rotationPeriodInDays ?? DEFAULT_ROTATION_PERIOD_DAYS;
    if (key.nextRotationDate !== undefined) out.NextRotationDate = seconds(key.nextRotationDate);
  }
  return out;
};

/**
 * Adds a new material version to `key` and makes it current. `update` changes other
 * fields in the same write (the on-demand count, the next automatic rotation date).
 * Retries when a concurrent rotation took the version number or the key changed since it
 * was read; `stillWanted` (the sweep's "still due?") is asked of the newer record before
 * each retry, and false ends it without rotating (undefined): another node's sweep rotated.
 */
export async function rotateKeyMaterial(
  svc: KmsService,
  key: KmsKeyRecord,
  rotationType: 'AUTOMATIC' | 'ON_DEMAND',
  now: number,
  update: (k: KmsKeyRecord) => Partial<KmsKeyRecord> = () => ({}),
  stillWanted: (k: KmsKeyRecord) => boolean = () => true,
): Promise<{ key: KmsKeyRecord; material: KeyMaterialRecord } | undefined> {
  let current = key;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0 && !stillWanted(current)) return undefined;
    const version = current.currentVersion + 1;
    const material = generateKeyMaterial();
    let record: KeyMaterialRecord;
    try {
      record = {
        keyId: current.keyId,
        version,
        materialId: randomBytes(32).toString('hex'),
        sealed: await sealKeyMaterial(svc.rootKey, current.keyId, version, material),
        createdAt: now,
        rotationType,
      };
    } finally {
      material.fill(0);
    }
    const next: KmsKeyRecord = { ...current, ...update(current), currentVersion: version };
    try {
      await svc.store.addMaterial(record, next);
      return { key: next, material: record };
    } catch (e) {
      // MaterialExists: a concurrent rotation took the version; Changed: the key was
      // written since it was read (its revision). Either way, again from the stored key.
      if (!(e instanceof KmsStoreConflict) || (e.kind !== 'MaterialExists' && e.kind !== 'Changed') || attempt >= 7) {
        if (e instanceof KmsStoreConflict && e.kind === 'NotFound') throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
        throw e;
      }
      const fresh = await svc.store.getKey(key.keyId);
      if (!fresh) throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
      current = fresh;
    }
  }
}

export const rotateKeyOnDemand: KmsOperation = async (svc, caller, input, note) => {
  const key = await rotationKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:RotateKeyOnDemand');
  svc.checkState(key, 'crypto');
  refuseAwsManaged(key);
  refuseNonSymmetric(key, '');
  if (key.origin === 'EXTERNAL') return rotateImported(svc, key);
  const withinLimit = (k: KmsKeyRecord): boolean => {
    if (k.onDemandRotations >= ON_DEMAND_ROTATION_LIMIT) {
      throw kmsError('LimitExceededException', `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${key.arn}`);
    }
    return true;
  };
  withinLimit(key);
  // On-demand rotation leaves the automatic schedule alone (AWS). The limit is asked again
  // of the newer record when another rotation (maybe another node's) came first.
  await rotateKeyMaterial(svc, key, 'ON_DEMAND', svc.now(), (k) => ({ onDemandRotations: k.onDemandRotations + 1 }), withinLimit);
  // AWS answers with the key ARN (recorded: test_rotate_on_demand_returns_arn_for_key_id).
  return { KeyId: key.arn };
};

/**
 * On-demand rotation of an imported symmetric key (AWS, 2025): the material imported with
 * ImportType NEW_KEY_MATERIAL becomes current; without one there is nothing to rotate to
 * (recorded: test_rotate_key_on_demand_raises_for_no_pending_key_material). The imported
 * material's expiration model carries over (new material never expires: ops/import.ts).
 */
async function rotateImported(svc: KmsService, key: KmsKeyRecord): Promise<Record<string, unknown>> {
  await changeKey(svc, key, async (fresh) => {
    const pending = fresh.pendingVersion === undefined ? undefined : await svc.store.getMaterial(fresh.keyId, fresh.pendingVersion);
    if (!pending || pending.sealed.length === 0) throw kmsError('KMSInvalidStateException', `No available key material pending rotation for the key: ${key.arn}.`);
    await svc.store.putMaterial(
      { ...pending, createdAt: svc.now(), rotationType: 'ON_DEMAND' },
      { ...fresh, currentVersion: pending.version, pendingVersion: undefined, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: undefined, onDemandRotations: fresh.onDemandRotations + 1 },
    );
  });
  return { KeyId: key.arn };
}

export const listKeyRotations: KmsOperation = async (svc, caller, input, note) => {
  const include = input.IncludeKeyMaterial ?? 'ROTATIONS_ONLY';
  if (include !== 'ROTATIONS_ONLY' && include !== 'ALL_KEY_MATERIAL') {
    throw validationError('includeKeyMaterial', 'Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]', String(include));
  }
  const limit = listLimit(input.Limit, LIST_DEFAULT_LIMIT);
  const key = await rotationKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:ListKeyRotations');
  svc.checkState(key, 'read');
  refuseAwsManaged(key);
  const materials = await svc.store.listMaterials(key.keyId);
  // The first material is the key's creation, not a rotation.
  // Imported material waiting for RotateKeyOnDemand is not a rotation yet (AWS lists it with ALL_KEY_MATERIAL only).
  const shown = include === 'ALL_KEY_MATERIAL' ? materials : materials.filter((m) => m.version !== 1 && m.rotationType !== undefined && m.version !== key.pendingVersion);
  let start = 0;
  if (input.Marker !== undefined) {
    const after = parseMarker(input.Marker);
    start = shown.findIndex((m) => m.version > after);
    if (start < 0) start = shown.length;
  }
  const page = shown.slice(start, start + limit);
  const truncated = start + limit < shown.length;
  const Rotations = page.map((m) => {
    const entry: Record<string, unknown> = {
      KeyId: key.keyId,
      KeyMaterialId: m.materialId,
      KeyMaterialState: m.version === key.currentVersion ? 'CURRENT' : m.version === key.pendingVersion ? 'PENDING_ROTATION' : 'NON_CURRENT',
    };
    // Imported material: whether it is in (deleted or expired material waits for its re-import).
    if (key.origin === 'EXTERNAL') entry.ImportState = m.sealed.length ? 'IMPORTED' : 'PENDING_IMPORT';
    if (m.rotationType !== undefined && m.version !== 1) {
      entry.RotationDate = seconds(m.createdAt);
      entry.RotationType = m.rotationType;
    }
    return entry;
  });
  const out: Record<string, unknown> = { Rotations, Truncated: truncated };
  if (truncated) out.NextMarker = String(page[page.length - 1]!.version);
  return out;
};

/** Limit 1..1000 as the KMS list operations take it. */
export function listLimit(v: unknown, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw kmsError('SerializationException', 'NUMBER_VALUE can not be converted to an Integer');
  if (v < 1) throw validationError('limit', 'Member must have value greater than or equal to 1', v);
  if (v > LIST_MAX_LIMIT) throw validationError('limit', `Member must have value less than or equal to ${LIST_MAX_LIMIT}`, v);
  return v;
}

function parseMarker(v: unknown): number {
  if (typeof v !== 'string' || !/^[1-9]\d{0,9}$/.test(v)) throw kmsError('InvalidMarkerException', 'Invalid marker');
  return Number(v);
}
