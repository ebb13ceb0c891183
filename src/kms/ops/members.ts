// Members of the KMS data-plane requests, checked as AWS checks them (the botocore model's
// constraints, in AWS's words), shared by the symmetric operations (crypto.ts) and the
// asymmetric and HMAC ones (sign.ts, mac.ts, asymmetric-encryption.ts, data-key-pair.ts).

import { ServiceError } from '../../errors.js';
import type { AuditNote } from '../operation.js';
import { kmsError } from '../errors.js';
import type { EncryptionContext } from '../../crypto/encryption-context.js';

const MAX_KEY_ID = 2048;

/** Model violations, thrown together as one ValidationException in AWS's words. */
export class Violations {
  private readonly list: string[] = [];
  add(field: string, constraint: string, value?: string | number): void {
    this.list.push(`Value${value === undefined ? '' : ` '${value}'`} at '${field}' failed to satisfy constraint: ${constraint}`);
  }
  missing(field: string): void {
    this.list.push(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  }
  throwIfAny(): void {
    const n = this.list.length;
    if (n === 0) return;
    throw kmsError('ValidationException', `${n} validation error${n === 1 ? '' : 's'} detected: ${this.list.join('; ')}`);
  }
}

export const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

/** A key id member (1..2048 characters); returns it when present. Its form is resolveKey's business. */
export function keyIdMember(v: Violations, field: string, value: unknown, required: boolean): string | undefined {
  if (absent(value)) {
    if (required) v.missing(field);
    return undefined;
  }
  if (typeof value !== 'string') throw kmsError('SerializationException', `Expected a string at '${field}'.`);
  if (value.length < 1) v.add(field, 'Member must have length greater than or equal to 1', value);
  else if (value.length > MAX_KEY_ID) v.add(field, `Member must have length less than or equal to ${MAX_KEY_ID}`, value);
  return value;
}

/** A blob member; the value is sensitive, so messages never show it (as AWS's don't). */
export function blobMember(v: Violations, field: string, value: unknown, max: number, required = true): Buffer | undefined {
  if (absent(value)) {
    if (required) v.missing(field);
    return undefined;
  }
  if (!(value instanceof Uint8Array)) throw kmsError('SerializationException', `Expected a blob at '${field}'.`);
  const b = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (b.length < 1) v.add(field, 'Member must have length greater than or equal to 1');
  else if (b.length > max) v.add(field, `Member must have length less than or equal to ${max}`);
  return b;
}

/** A string→string map; {} when absent. Anything else is not JSON KMS can read. */
export function contextMember(field: string, value: unknown): EncryptionContext {
  if (absent(value)) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw kmsError('SerializationException', `Start of structure or map found where not expected at '${field}'.`);
  for (const x of Object.values(value)) {
    if (typeof x !== 'string') throw kmsError('SerializationException', `Expected a string value in '${field}'.`);
  }
  return value as EncryptionContext;
}

/** InvalidCiphertextException with AWS's empty message; the custody error's kind stays on `cause`. */
export function invalidCiphertext(cause: Error): ServiceError {
  const err = kmsError('InvalidCiphertextException', '');
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false });
  return err;
}

export function auditParams(note: AuditNote, params: Record<string, unknown>): void {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(params)) {
    const v = params[k];
    if (v !== undefined) out[k] = v;
  }
  note.params = out;
}


/** An enum member: the value when allowed, otherwise a violation listing the model's set (AWS's order). */
export function enumValue(v: Violations, field: string, value: unknown, allowed: readonly string[], required: boolean): string | undefined {
  if (absent(value)) {
    if (required) v.missing(field);
    return undefined;
  }
  if (typeof value !== 'string' || !allowed.includes(value)) {
    v.add(field, `Member must satisfy enum value set: [${allowed.join(', ')}]`, String(value));
    return undefined;
  }
  return value;
}
