// Server-side AWS Signature Version 2, for the S3 API only, in its two request forms:
//   - header auth: Authorization: AWS AccessKeyId:Signature
//   - query auth (presigned URLs): AWSAccessKeyId, Signature, Expires
//     (x-amz-* query parameters, such as x-amz-security-token, sign as headers)
// (POST forms signed with SigV2 are post-policy-v2.ts.) The string to sign is
// sigv2-canonical.ts. Checks run in SigV4's order: form of the auth data, access key,
// session token, time (skew, or expiry), then the signature, compared in constant time.
// SigV2 signs no payload: the body proves only what x-amz-content-sha256 or Content-MD5
// say, and the S3 writer checks those as for any request.

import type { IncomingHttpHeaders } from 'node:http';
import { sha256Hex } from './canonical.js';
import {
  MAX_SKEW_MS,
  accessDenied,
  expiredToken,
  invalidAccessKeyId,
  invalidArgument,
  invalidToken,
  requestTimeTooSkewed,
  sigV2HeaderMalformed,
  sigV2InvalidExpires,
  sigV2QueryIncomplete,
  signatureDoesNotMatchV2,
} from './errors.js';
import { canonicalResourceV2, hasExtendedSubresource, signatureV2, stringToSignV2, type StringToSignV2Parts } from './sigv2-canonical.js';
import { constantTimeEqual, parseAmzDate } from './sigv4.js';
import type { AuthResult, CredentialLookup, CredentialRecord, PayloadMode } from './types.js';

export interface SigV2Request {
  method: string;
  /** request target exactly as received on the wire: path + '?' + query, still percent-encoded */
  rawUrl: string;
  headers: IncomingHttpHeaders;
  /** Each header's lines apart (IncomingMessage.headersDistinct): repeated x-amz-* lines sign joined by ','. */
  headersDistinct?: Record<string, string[] | undefined>;
}

export interface SigV2Options {
  lookup: CredentialLookup;
  /** The bucket named by a virtual-hosted Host header (bucket.<domain>), which the resource starts with. */
  virtualBucket?: string;
  now?: Date;
  /** 900000 (15 minutes) unless given. */
  maxSkewMs?: number;
}

const HEADER_PREFIX = /^AWS( |$)/;
const QUERY_AUTH_PARAMS = ['AWSAccessKeyId', 'Signature', 'Expires'] as const;

/**
 * Whether a request is signed with SigV2 alone: an `AWS ` Authorization header, or
 * AWSAccessKeyId/Signature in the query without a header or SigV4 query parameters.
 * Mixed forms are left to SigV4's authenticate, which answers them as AWS does.
 */
export function isSigV2Request(authorization: string | string[] | undefined, rawUrl: string): boolean {
  const names = queryNames(rawUrl);
  const queryV2 = names.has('Signature') || names.has('AWSAccessKeyId');
  if (typeof authorization === 'string') return HEADER_PREFIX.test(authorization) && !queryV2 && !names.has('X-Amz-Algorithm');
  return authorization === undefined && queryV2 && !names.has('X-Amz-Algorithm');
}

/** The access key id a SigV2 request names (to load its credential before authenticating). */
export function sigV2AccessKeyId(authorization: string | string[] | undefined, rawUrl: string): string | undefined {
  if (typeof authorization === 'string' && HEADER_PREFIX.test(authorization)) {
    const colon = authorization.indexOf(':');
    return colon < 0 ? undefined : authorization.slice(4, colon).trim();
  }
  const qi = rawUrl.indexOf('?');
  if (qi < 0) return undefined;
  return new URLSearchParams(rawUrl.slice(qi + 1)).get('AWSAccessKeyId') ?? undefined;
}

export function authenticateV2(req: SigV2Request, opts: SigV2Options): AuthResult {
  const qi = req.rawUrl.indexOf('?');
  const rawPath = qi < 0 ? req.rawUrl : req.rawUrl.slice(0, qi);
  const rawQuery = qi < 0 ? '' : req.rawUrl.slice(qi + 1);
  const authorization = single(req.headers.authorization);
  return authorization !== undefined
    ? headerAuth(req, opts, rawPath, rawQuery, authorization)
    : queryAuth(req, opts, rawPath, rawQuery);
}

// ---- header auth ----------------------------------------------------------------

function headerAuth(req: SigV2Request, opts: SigV2Options, rawPath: string, rawQuery: string, authorization: string): AuthResult {
  const rest = authorization.slice(4).trim();
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) throw sigV2HeaderMalformed(authorization);
  const accessKeyId = rest.slice(0, colon);
  const signature = rest.slice(colon + 1);

  const amzDate = single(req.headers['x-amz-date']);
  const date = single(req.headers.date);
  const time = requestTime(amzDate, date);
  const cred = lookupCredential(opts, accessKeyId);
  checkToken(cred, single(req.headers['x-amz-security-token']), opts.now);
  const now = opts.now ?? new Date();
  const maxSkew = opts.maxSkewMs ?? MAX_SKEW_MS;
  if (Math.abs(now.getTime() - time.time) > maxSkew) throw requestTimeTooSkewed(time.raw, now, maxSkew);

  const amzHeaders = amzHeadersOf(req);
  const base = { method: req.method.toUpperCase(), contentMd5: headerOr(req, 'content-md5'), contentType: headerOr(req, 'content-type'), amzHeaders };
  // The documented rule: x-amz-date present, the Date position is empty. Signers that
  // always send Date (botocore) sign it there anyway; AWS's own DELETE example puts
  // x-amz-date's value there instead of among the x-amz-* headers. Each binds the same request.
  const forms: Array<Omit<StringToSignV2Parts, 'resource'>> = [{ ...base, date: amzDate !== undefined ? '' : (date ?? '') }];
  if (amzDate !== undefined) {
    if (date !== undefined) forms.push({ ...base, date });
    const without = new Map(amzHeaders);
    without.delete('x-amz-date');
    forms.push({ ...base, date: amzDate, amzHeaders: without });
  }
  verify(cred, signature, rawPath, rawQuery, opts.virtualBucket, forms);
  return { anonymous: false, credential: cred, payload: payloadOf(req.headers), presigned: false };
}

function requestTime(amzDate: string | undefined, date: string | undefined): { raw: string; time: number } {
  for (const raw of [amzDate, date]) {
    if (raw === undefined) continue;
    const time = Date.parse(raw);
    if (Number.isFinite(time)) return { raw, time };
    const iso = parseAmzDate(raw);
    if (iso !== undefined) return { raw, time: iso };
  }
  throw accessDenied('AWS authentication requires a valid Date or x-amz-date header');
}

// ---- query auth (presigned URLs) -------------------------------------------------

function queryAuth(req: SigV2Request, opts: SigV2Options, rawPath: string, rawQuery: string): AuthResult {
  const params = new URLSearchParams(rawQuery);
  const [accessKeyId, signature, expires] = QUERY_AUTH_PARAMS.map((n) => params.get(n) ?? undefined);
  if (accessKeyId === undefined || signature === undefined || expires === undefined || accessKeyId === '' || signature === '') {
    throw sigV2QueryIncomplete();
  }
  if (!/^\d{1,12}$/.test(expires)) throw sigV2InvalidExpires(expires);
  const cred = lookupCredential(opts, accessKeyId);
  checkToken(cred, params.get('x-amz-security-token') ?? single(req.headers['x-amz-security-token']), opts.now);
  const now = opts.now ?? new Date();
  const expiresAt = Number(expires) * 1000;
  if (now.getTime() > expiresAt) {
    throw accessDenied('Request has expired', { Expires: new Date(expiresAt).toISOString(), ServerTime: now.toISOString() });
  }
  // x-amz-* query parameters sign as headers (botocore moves x-amz-security-token there),
  // and so do Content-Type and Content-MD5 when the URL carries them instead of the request.
  const amzHeaders = amzHeadersOf(req);
  for (const [name, value] of params) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('x-amz-')) continue;
    const values = amzHeaders.get(lower) ?? [];
    values.push(value);
    amzHeaders.set(lower, values);
  }
  const form = {
    method: req.method.toUpperCase(),
    contentMd5: single(req.headers['content-md5']) ?? params.get('content-md5') ?? '',
    contentType: single(req.headers['content-type']) ?? params.get('content-type') ?? '',
    date: expires,
    amzHeaders,
  };
  verify(cred, signature, rawPath, rawQuery, opts.virtualBucket, [form]);
  return { anonymous: false, credential: cred, payload: payloadOf(req.headers), presigned: true };
}

// ---- shared -----------------------------------------------------------------------

/** Tries each form (and each with the extended sub-resources when the query has one); the first form is reported on failure. */
function verify(cred: CredentialRecord, provided: string, rawPath: string, rawQuery: string, virtualBucket: string | undefined, forms: Array<Omit<StringToSignV2Parts, 'resource'>>): void {
  // A path-style request for a bucket alone (/bucket) signs as /bucket or, as botocore
  // signs it, /bucket/ — the same resource either way.
  const paths = virtualBucket === undefined && /^\/[^/]+$/.test(rawPath) ? [rawPath, rawPath + '/'] : [rawPath];
  // Sub-resources only some signers sign (EXTENDED_SUBRESOURCES) are accepted unsigned for reads
  // alone: a PUT or DELETE must sign them, or a DeleteBucket signature would also delete the
  // bucket's encryption, public access block or ownership controls.
  const extended = hasExtendedSubresource(rawQuery);
  const reads = forms.every((f) => f.method === 'GET' || f.method === 'HEAD');
  const resources = extended && !reads ? [] : paths.map((p) => canonicalResourceV2(p, rawQuery, virtualBucket, false));
  if (extended) resources.push(...paths.map((p) => canonicalResourceV2(p, rawQuery, virtualBucket, true)));
  let first: string | undefined;
  let matched = false;
  for (const resource of resources) {
    for (const form of forms) {
      const toSign = stringToSignV2({ ...form, resource });
      first ??= toSign;
      // Every candidate is compared, so the time taken does not say which one matched.
      if (constantTimeEqual(signatureV2(cred.secretAccessKey, toSign), provided)) matched = true;
    }
  }
  if (!matched) throw signatureDoesNotMatchV2(cred.accessKeyId, first!, provided);
}

function amzHeadersOf(req: SigV2Request): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (req.headersDistinct) {
    for (const [name, values] of Object.entries(req.headersDistinct)) {
      const lower = name.toLowerCase();
      if (lower.startsWith('x-amz-') && values) out.set(lower, [...values]);
    }
    return out;
  }
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('x-amz-') || value === undefined) continue;
    out.set(lower, Array.isArray(value) ? value : [value]);
  }
  return out;
}

function lookupCredential(opts: SigV2Options, accessKeyId: string): CredentialRecord {
  const cred = opts.lookup(accessKeyId);
  if (!cred) throw invalidAccessKeyId(accessKeyId);
  return cred;
}

/** The same session-token rule as SigV4: temporary credentials need their token, long-term ones none. */
export function checkToken(cred: CredentialRecord, token: string | undefined, now: Date | undefined): void {
  if (cred.sessionToken === undefined) {
    if (token !== undefined && token !== '') throw invalidToken();
    return;
  }
  if (token === undefined || !constantTimeEqual(sha256Hex(token), sha256Hex(cred.sessionToken))) throw invalidToken();
  if (cred.expiresAt && cred.expiresAt.getTime() <= (now ?? new Date()).getTime()) throw expiredToken();
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** What the body still proves: a declared SHA-256 is checked, the unsigned trailer form is decoded; SigV4 chunk signatures cannot exist here. */
function payloadOf(headers: IncomingHttpHeaders): PayloadMode {
  const v = single(headers['x-amz-content-sha256']);
  if (v === undefined || v === 'UNSIGNED-PAYLOAD') return { kind: 'unsigned' };
  if (v === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') return { kind: 'chunked-unsigned-trailer' };
  if (SHA256_HEX.test(v)) return { kind: 'sha256', expected: v.toLowerCase() };
  throw invalidArgument('x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value with AWS signature version 2.', 'x-amz-content-sha256', v);
}

function headerOr(req: SigV2Request, name: string): string {
  return single(req.headers[name]) ?? '';
}

function queryNames(rawUrl: string): Set<string> {
  const qi = rawUrl.indexOf('?');
  const out = new Set<string>();
  if (qi < 0) return out;
  for (const part of rawUrl.slice(qi + 1).split('&')) {
    const eq = part.indexOf('=');
    out.add(eq < 0 ? part : part.slice(0, eq));
  }
  return out;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
