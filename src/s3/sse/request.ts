// The server-side encryption a request asks for, parsed once from its headers into one
// discriminated value (SseRequest), with AWS's codes and messages for every bad
// combination. Which operations take which headers: PutObject, CreateMultipartUpload,
// CopyObject and PostObject take the SSE and SSE-KMS headers; GET, HEAD, UploadPart and
// UploadPartCopy only the SSE-C ones; CompleteMultipartUpload none (see refuse* below).

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { invalidArgument, s3Error } from '../errors.js';
import { setOwn } from '../../records.js';

export const SSE = 'x-amz-server-side-encryption';
export const SSE_KMS_KEY_ID = 'x-amz-server-side-encryption-aws-kms-key-id';
export const SSE_CONTEXT = 'x-amz-server-side-encryption-context';
export const SSE_BUCKET_KEY = 'x-amz-server-side-encryption-bucket-key-enabled';
export const SSE_C_ALGORITHM = 'x-amz-server-side-encryption-customer-algorithm';
export const SSE_C_KEY = 'x-amz-server-side-encryption-customer-key';
export const SSE_C_KEY_MD5 = 'x-amz-server-side-encryption-customer-key-md5';
const COPY_SOURCE_PREFIX = 'x-amz-copy-source-';

export type SseAlgorithm = 'AES256' | 'aws:kms' | 'aws:kms:dsse';

/** A customer-provided key (SSE-C): the 32 bytes and their base64 MD5 as the client sent it. */
export interface CustomerKey {
  key: Buffer;
  md5: string;
}

/** What the request's SSE headers say. Absent fields were not given. */
export interface SseRequest {
  algorithm?: SseAlgorithm;
  /** SSE-KMS key id, key ARN, alias name or alias ARN, as sent. */
  keyId?: string;
  /** The decoded x-amz-server-side-encryption-context. */
  context?: Record<string, string>;
  bucketKeyEnabled?: boolean;
  customer?: CustomerKey;
}

function one(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const CONTEXT_MESSAGE = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map";

/** Parses the SSE, SSE-KMS and SSE-C headers of a write (PutObject, CreateMultipartUpload, CopyObject's destination). */
export function parseSseHeaders(h: IncomingHttpHeaders): SseRequest {
  const out: SseRequest = {};
  const algorithm = one(h, SSE);
  const keyId = one(h, SSE_KMS_KEY_ID);
  const context = one(h, SSE_CONTEXT);
  const bucketKey = one(h, SSE_BUCKET_KEY);
  out.customer = parseCustomerKey(h, '');
  if (algorithm !== undefined) {
    if (out.customer) throw invalidArgument('Server Side Encryption with Customer provided key is incompatible with the encryption method specified', SSE, algorithm);
    if (algorithm !== 'AES256' && algorithm !== 'aws:kms' && algorithm !== 'aws:kms:dsse') {
      throw invalidArgument('The encryption method specified is not supported', SSE, algorithm);
    }
    out.algorithm = algorithm;
  }
  const kms = out.algorithm === 'aws:kms' || out.algorithm === 'aws:kms:dsse';
  if (keyId !== undefined) {
    if (!kms) throw invalidArgument(`Server Side Encryption with AWS KMS managed key requires HTTP header ${SSE} : aws:kms`, SSE_KMS_KEY_ID, keyId);
    if (keyId === '') throw invalidArgument('KMS key ID is empty', SSE_KMS_KEY_ID, keyId);
    out.keyId = keyId;
  }
  if (context !== undefined) {
    if (!kms) throw invalidArgument(`Server Side Encryption with AWS KMS managed key requires HTTP header ${SSE} : aws:kms`, SSE_CONTEXT, context);
    out.context = parseContextHeader(context);
  }
  if (bucketKey !== undefined) {
    const v = bucketKey.toLowerCase();
    if (v !== 'true' && v !== 'false') throw invalidArgument('Invalid value for the bucket key header', SSE_BUCKET_KEY, bucketKey);
    out.bucketKeyEnabled = v === 'true';
  }
  return out;
}

/** x-amz-server-side-encryption-context: base64 of UTF-8 JSON holding a string-to-string map. */
export function parseContextHeader(v: string): Record<string, string> {
  const bytes = Buffer.from(v, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== v.trim().replace(/=+$/, '')) throw invalidArgument(CONTEXT_MESSAGE, SSE_CONTEXT, v);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalidArgument(CONTEXT_MESSAGE, SSE_CONTEXT, v);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArgument(CONTEXT_MESSAGE, SSE_CONTEXT, v);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(parsed)) {
    if (typeof val !== 'string') throw invalidArgument(CONTEXT_MESSAGE, SSE_CONTEXT, v);
    setOwn(out, k, val);
  }
  return out;
}

/**
 * The SSE-C key headers (prefix '' for the object, 'x-amz-copy-source-' for a copy's
 * source), validated as AWS does; undefined when none of them is present.
 */
export function parseCustomerKey(h: IncomingHttpHeaders, prefix: '' | typeof COPY_SOURCE_PREFIX, use: 'write' | 'read' = 'write'): CustomerKey | undefined {
  // x-amz-server-side-encryption-customer-key → x-amz-copy-source-server-side-encryption-customer-key
  const name = (base: string) => (prefix === '' ? base : prefix + base.slice('x-amz-'.length));
  const algorithm = one(h, name(SSE_C_ALGORITHM));
  const key = one(h, name(SSE_C_KEY));
  const md5 = one(h, name(SSE_C_KEY_MD5));
  if (algorithm === undefined && key === undefined && md5 === undefined) return undefined;
  if (algorithm === undefined) throw invalidArgument('Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.', SSE);
  if (algorithm !== 'AES256') {
    throw s3Error('InvalidEncryptionAlgorithmError', { ArgumentName: SSE, ArgumentValue: algorithm });
  }
  if (key === undefined) throw invalidArgument('Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.', SSE);
  const bytes = Buffer.from(key, 'base64');
  // A read without the key's MD5 names no stored key: AWS answers 403 AccessDenied (the key
  // does not match) where a write is told its key is invalid. An empty MD5 matches no object.
  if (md5 === undefined && use === 'read') return { key: bytes, md5: '' };
  if (bytes.length !== 32 || md5 === undefined) throw invalidArgument('The secret key was invalid for the specified algorithm.', SSE);
  const actual = createHash('md5').update(bytes).digest('base64');
  if (actual !== md5.trim()) throw invalidArgument('The calculated MD5 hash of the key did not match the hash that was provided.', SSE);
  return { key: bytes, md5: actual };
}

/** The SSE-C key headers of a read (GET, HEAD, GetObjectAttributes): a missing MD5 is a key that matches nothing. */
export function parseReadCustomerKey(h: IncomingHttpHeaders): CustomerKey | undefined {
  return parseCustomerKey(h, '', 'read');
}

/** The SSE-C key of a copy's source (x-amz-copy-source-server-side-encryption-customer-*). */
export function parseCopySourceCustomerKey(h: IncomingHttpHeaders): CustomerKey | undefined {
  return parseCustomerKey(h, COPY_SOURCE_PREFIX);
}

/** GET, HEAD, UploadPart, UploadPartCopy, CompleteMultipartUpload take no SSE/SSE-KMS headers. */
export function refuseSseHeaders(h: IncomingHttpHeaders): void {
  for (const name of [SSE, SSE_KMS_KEY_ID, SSE_CONTEXT, SSE_BUCKET_KEY]) {
    const v = one(h, name);
    if (v !== undefined) throw invalidArgument('x-amz-server-side-encryption header is not supported for this operation.', name, v);
  }
}
