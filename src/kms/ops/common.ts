// Input checks shared by the key-management operations (keys, deletion, aliases, tags,
// policies), worded as AWS words them: model constraints ("1 validation error
// detected: ...") come first, then the operation's own rules. Also list paging and the
// rule that AWS managed keys are not the customer's to manage.

import type { KmsInput } from '../operation.js';
import type { KmsService } from '../service.js';
import { KmsStoreConflict, type KmsKeyRecord } from '../store/types.js';
import { kmsError, validationError } from '../errors.js';

export function nullError(field: string) {
  return kmsError('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
}

function typeError(member: string, expected: string) {
  return kmsError('SerializationException', `${member} must be ${expected}`);
}

export interface StringRule {
  required?: boolean;
  min?: number;
  max?: number;
  /** Show the value in the message (AWS does, except for secrets and very long values it truncates). */
  showValue?: boolean;
}

/** An optional or required string member with AWS's length constraints. */
export function stringMember(input: KmsInput, member: string, field: string, rule: StringRule = {}): string | undefined {
  const v = input[member];
  if (v === undefined || v === null) {
    if (rule.required) throw nullError(field);
    return undefined;
  }
  if (typeof v !== 'string') throw typeError(member, 'a string');
  checkLength(v, field, rule);
  return v;
}

export function checkLength(v: string, field: string, rule: StringRule): void {
  const shown = rule.showValue === false ? undefined : v;
  if (rule.min !== undefined && v.length < rule.min) throw validationError(field, `Member must have length greater than or equal to ${rule.min}`, shown);
  if (rule.max !== undefined && v.length > rule.max) throw validationError(field, `Member must have length less than or equal to ${rule.max}`, shown);
}

export function booleanMember(input: KmsInput, member: string): boolean | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw typeError(member, 'a boolean');
  return v;
}

export function integerMember(input: KmsInput, member: string, field: string, min: number, max: number): number | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(member, 'an integer');
  if (v < min) throw validationError(field, `Member must have value greater than or equal to ${min}`, v);
  if (v > max) throw validationError(field, `Member must have value less than or equal to ${max}`, v);
  return v;
}

/** An enum member: ValidationException listing the allowed values, as AWS does. */
export function enumMember<T extends string>(input: KmsInput, member: string, field: string, allowed: readonly T[], shownSet: readonly string[] = allowed): T | undefined {
  const v = stringMember(input, member, field);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw validationError(field, `Member must satisfy enum value set: [${shownSet.join(', ')}]`, v);
  return v as T;
}

/** Limit (1..1000 in the model), capped at what this list returns per page. */
export function listLimit(input: KmsInput, defaultLimit: number, pageMax: number): number {
  const limit = integerMember(input, 'Limit', 'limit', 1, 1000) ?? defaultLimit;
  return Math.min(limit, pageMax);
}

/** Markers are opaque to clients: base64url of our own position text. */
export function encodeMarker(position: string): string {
  return Buffer.from(position, 'utf8').toString('base64url');
}

/** The position a marker holds, or undefined when there is no marker. InvalidMarkerException if it is not one of ours. */
export function decodeMarker(input: KmsInput, valid: (position: string) => boolean): string | undefined {
  const m = stringMember(input, 'Marker', 'marker', { min: 1, max: 1024 });
  if (m === undefined) return undefined;
  const position = /^[A-Za-z0-9_-]+$/.test(m) ? Buffer.from(m, 'base64url').toString('utf8') : '';
  if (!position || encodeMarker(position) !== m || !valid(position)) throw invalidMarker();
  return position;
}

export function invalidMarker() {
  return kmsError('InvalidMarkerException', 'The marker is not valid.');
}

/**
 * AWS managed keys (alias/aws/s3) belong to the service that created them: their
 * state, policy, tags, description and aliases are not the customer's to change. Same
 * wording as rotation.ts uses for the rotation operations.
 */
export function refuseAwsManaged(key: KmsKeyRecord): void {
  if (key.keyManager === 'AWS') throw kmsError('UnsupportedOperationException', `${key.arn} key manager is AWS which is not valid for this operation.`);
}

/**
 * The key as stored now. updateKey writes every mutable field (currentVersion too), so a
 * write built from a record read before `await`s could undo a rotation that happened in
 * between; re-reading right before the write keeps that window small, and the record's
 * revision (a compare-and-swap in the store) closes it: see changeKey.
 */
export async function currentKey(svc: KmsService, key: KmsKeyRecord): Promise<KmsKeyRecord> {
  const fresh = await svc.store.getKey(key.keyId);
  if (!fresh) throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
  return fresh;
}

/** Whether the stored key is no longer the record read (its revision moved on, or it is gone). */
async function movedSince(svc: KmsService, fresh: KmsKeyRecord): Promise<boolean> {
  if (fresh.revision === undefined) return false;
  const now = await svc.store.getKey(fresh.keyId);
  return now?.revision !== fresh.revision;
}

/** Rounds of read, change, compare-and-swap before changeKey gives up (only under a storm of writes to one key). */
const CHANGE_ATTEMPTS = 8;

/**
 * A read-modify-write of one key that no concurrent write undoes, on this node or another:
 * `change` gets the key as stored now, checks what it must and writes through the store
 * with that record's revision; when another write landed first the store refuses
 * (KmsStoreConflict 'Changed') and `change` runs again on the newer record, whose checks
 * may now refuse (a used import token, a key no longer Enabled). `change` must do nothing
 * before its write that cannot be done twice.
 */
export async function changeKey<T>(svc: KmsService, key: KmsKeyRecord, change: (fresh: KmsKeyRecord) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const fresh = await currentKey(svc, key);
    try {
      return await change(fresh);
    } catch (e) {
      // A refusal may rest on reads beside `fresh` (the key's materials) that already saw
      // another node's write to this key while `fresh` did not: if the key moved since,
      // decide again on the newer record rather than answer from a mixed view.
      if (!(e instanceof KmsStoreConflict && e.kind === 'Changed') && !(await movedSince(svc, fresh))) throw e;
      if (attempt >= CHANGE_ATTEMPTS) throw kmsError('KMSInternalException', `${key.arn} is being changed by other requests at the same time; try again.`);
    }
  }
}
