// Browser POST uploads (PostObject) signed with a SigV4 POST policy, as
// @aws-sdk/s3-presigned-post and the S3 "Browser-Based Uploads Using POST" pages make
// them. The form's policy field is base64 JSON {expiration, conditions}; its
// signature is HMAC(signingKey, policy-as-base64) in x-amz-signature.
//
//   verifyPostPolicy          the form's algorithm, credential scope, key, token,
//                             signature, then the policy's JSON and expiry
//   checkPostPolicyConditions every condition holds, and every form field but
//                             x-amz-signature, file, policy and x-ignore-* is named by one
//   checkContentLengthRange   the file size, known only once the file is read

import { ServiceError } from '../errors.js';
import { ownValue } from '../records.js';
import { ALGORITHM, deriveSigningKey, signatureHex } from './canonical.js';
import {
  accessDenied,
  authorizationQueryParametersError,
  expiredToken,
  invalidAccessKeyId,
  invalidArgument,
  invalidToken,
  signatureDoesNotMatch,
  unsupportedAuthorization,
} from './errors.js';
import { constantTimeEqual, parseAmzDate } from './sigv4.js';
import type { CredentialLookup, CredentialRecord } from './types.js';

export type PolicyCondition =
  | { op: 'eq' | 'starts-with'; /** lower-case form field name, without '$' */ field: string; /** as written in the policy, for messages */ name: string; value: string }
  | { op: 'content-length-range'; min: number; max: number };

export interface PostPolicy {
  expiration: Date;
  /** the conditions exactly as in the policy JSON */
  conditions: unknown[];
  parsed: PolicyCondition[];
}

const ALWAYS_ALLOWED = new Set(['x-amz-signature', 'file', 'policy']);

export function verifyPostPolicy(
  fields: Record<string, string>,
  opts: { region: string; lookup: CredentialLookup; now?: Date; bucket: string },
): { credential: CredentialRecord; policy: PostPolicy } {
  const policyB64 = fields['policy'];
  if (policyB64 === undefined && fields['x-amz-signature'] === undefined && fields['signature'] === undefined) throw accessDenied();
  if (fields['x-amz-algorithm'] === undefined && (fields['signature'] !== undefined || fields['awsaccesskeyid'] !== undefined)) throw unsupportedAuthorization();
  for (const name of ['policy', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature']) {
    if (fields[name] === undefined) {
      throw invalidArgument(`Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, name, '');
    }
  }
  const algorithm = fields['x-amz-algorithm']!;
  if (algorithm !== ALGORITHM) throw invalidArgument(`X-Amz-Algorithm only supports "${ALGORITHM}"`, 'x-amz-algorithm', algorithm);
  const amzDate = fields['x-amz-date']!;
  if (parseAmzDate(amzDate) === undefined) {
    throw invalidArgument(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`, 'x-amz-date', amzDate);
  }
  const fail = (detail: string, extra: Record<string, string> = {}) =>
    authorizationQueryParametersError(`Error parsing the X-Amz-Credential parameter; ${detail}`, extra);
  const parts = fields['x-amz-credential']!.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) {
    throw fail('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  const [accessKeyId, date, region, service, terminal] = parts as [string, string, string, string, string];
  if (region !== opts.region) throw fail(`the region '${region}' is wrong; expecting '${opts.region}'`, { Region: opts.region });
  if (service !== 's3') throw fail(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminal !== 'aws4_request') throw fail(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  if (date !== amzDate.slice(0, 8)) throw fail('Invalid credential date. Date is not the same as X-Amz-Date.');

  const credential = opts.lookup(accessKeyId);
  if (!credential) throw invalidAccessKeyId(accessKeyId);
  const now = opts.now ?? new Date();
  const token = fields['x-amz-security-token'];
  if (credential.sessionToken !== undefined) {
    if (token === undefined || !constantTimeEqual(credential.sessionToken, token)) throw invalidToken();
    if (credential.expiresAt && credential.expiresAt.getTime() <= now.getTime()) throw expiredToken();
  } else if (token !== undefined && token !== '') {
    throw invalidToken();
  }

  const provided = fields['x-amz-signature']!;
  const expected = signatureHex(deriveSigningKey(credential.secretAccessKey, date, region, 's3'), policyB64!);
  if (!constantTimeEqual(expected, provided)) throw signatureDoesNotMatch(accessKeyId, policyB64!, provided, '');

  const policy = parsePolicy(policyB64!);
  if (now.getTime() > policy.expiration.getTime()) throw accessDenied('Invalid according to Policy: Policy expired.');
  return { credential, policy };
}

function invalidPolicy(detail: string): ServiceError {
  return new ServiceError('InvalidPolicyDocument', `Invalid Policy: ${detail}`, 400);
}

export function parsePolicy(base64: string): PostPolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidPolicy('Invalid JSON.');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  const when = typeof expiration === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(expiration) ? Date.parse(expiration) : NaN;
  if (!Number.isFinite(when)) throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration)}'`);
  if (conditions === undefined) throw invalidPolicy('Policy missing conditions.');
  if (!Array.isArray(conditions)) throw invalidPolicy("Invalid 'conditions' value: must be a List.");
  const parsed: PolicyCondition[] = [];
  for (const c of conditions) parsed.push(...parseCondition(c));
  return { expiration: new Date(when), conditions, parsed };
}

function parseCondition(c: unknown): PolicyCondition[] {
  if (Array.isArray(c)) {
    const op = typeof c[0] === 'string' ? c[0].toLowerCase() : '';
    if (op === 'content-length-range') {
      const min = Number(c[1]);
      const max = Number(c[2]);
      if (c.length !== 3 || !Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max < min) {
        throw invalidPolicy(`Invalid content-length-range condition: ${JSON.stringify(c)}`);
      }
      return [{ op, min, max }];
    }
    if ((op === 'eq' || op === 'starts-with') && c.length === 3 && typeof c[1] === 'string' && c[1].startsWith('$') && typeof c[2] === 'string') {
      return [{ op, field: c[1].slice(1).toLowerCase(), name: c[1].slice(1), value: c[2] }];
    }
    throw invalidPolicy(`Invalid Condition: ${JSON.stringify(c)}`);
  }
  if (typeof c === 'object' && c !== null) {
    const out: PolicyCondition[] = [];
    for (const [name, value] of Object.entries(c)) {
      if (typeof value !== 'string') throw invalidPolicy(`Invalid Simple-Condition: value must be a string.`);
      out.push({ op: 'eq', field: name.toLowerCase(), name, value });
    }
    return out;
  }
  throw invalidPolicy(`Invalid Condition: ${JSON.stringify(c)}`);
}

function conditionFailed(op: string, name: string, value: string): ServiceError {
  return accessDenied(`Invalid according to Policy: Policy Condition failed: [${JSON.stringify(op)}, ${JSON.stringify('$' + name)}, ${JSON.stringify(value)}]`);
}

export function checkPostPolicyConditions(policy: PostPolicy, fields: Record<string, string>, bucket: string, key: string, contentLength?: number): void {
  const named = new Set<string>();
  for (const c of policy.parsed) {
    if (c.op === 'content-length-range') {
      if (contentLength !== undefined) checkRange(c, contentLength);
      continue;
    }
    named.add(c.field);
    const actual = c.field === 'bucket' ? bucket : c.field === 'key' ? key : (ownValue(fields, c.field) ?? '');
    const ok = c.op === 'eq' ? actual === c.value : actual.startsWith(c.value);
    if (!ok) throw conditionFailed(c.op, c.name, c.value);
  }
  const extra = Object.keys(fields).filter((f) => !ALWAYS_ALLOWED.has(f) && !f.startsWith('x-ignore-') && !named.has(f));
  if (extra.length > 0) throw accessDenied(`Invalid according to Policy: Extra input fields: ${extra.join(', ')}`);
}

export function checkContentLengthRange(policy: PostPolicy, size: number): void {
  for (const c of policy.parsed) if (c.op === 'content-length-range') checkRange(c, size);
}

function checkRange(c: { min: number; max: number }, size: number): void {
  if (size > c.max) {
    throw new ServiceError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', 400, { ProposedSize: String(size), MaxSizeAllowed: String(c.max) });
  }
  if (size < c.min) {
    throw new ServiceError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', 400, { ProposedSize: String(size), MinSizeAllowed: String(c.min) });
  }
}
