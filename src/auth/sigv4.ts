// Server-side AWS Signature Version 4: decides who signed a request, in the three
// forms clients use:
//   - header auth: Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
//   - query auth (presigned URLs): X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
//     X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature[, X-Amz-Security-Token]
//   - anonymous: neither; the caller decides whether that is allowed.
// Checks run in the order AWS reports them: form of the auth data, credential scope
// (region, service, terminal, date), access key, session token, time (skew or
// expiry), then the signature itself, compared in constant time. The body is not
// read here: the returned PayloadMode tells decodePayload (chunked.ts) what the body
// still has to prove.

import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  ALGORITHM,
  EMPTY_SHA256,
  canonicalHeaderValue,
  canonicalHeadersFromRaw,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  deriveSigningKey,
  parseQuery,
  sha256Hex,
  signatureHex,
  stringToSign,
  type QueryParam,
} from './canonical.js';
import {
  MAX_SKEW_MS,
  accessDenied,
  authorizationHeaderMalformed,
  authorizationQueryParametersError,
  contentSha256Mismatch,
  expiredToken,
  headersNotSigned,
  invalidAccessKeyId,
  invalidArgument,
  invalidRequest,
  invalidToken,
  requestTimeTooSkewed,
  signatureDoesNotMatch,
  unsupportedAuthorization,
} from './errors.js';
import type { AuthOptions, AuthResult, CredentialRecord, PayloadMode, SignedRequest } from './types.js';

export { canonicalRequest, canonicalUri, canonicalQuery, deriveSigningKey, stringToSign, uriEncode, EMPTY_SHA256 } from './canonical.js';

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
/** Longest validity of a presigned URL (seven days). */
export const MAX_PRESIGN_EXPIRES = 604_800;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export function authenticate(req: SignedRequest, opts: AuthOptions): AuthResult {
  const qi = req.rawUrl.indexOf('?');
  const rawPath = pathOf(qi < 0 ? req.rawUrl : req.rawUrl.slice(0, qi));
  const params = parseQuery(qi < 0 ? '' : req.rawUrl.slice(qi + 1));
  const authorization = single(req.headers.authorization);
  const queryV4 = params.some((p) => p.name === 'X-Amz-Algorithm');
  const queryV2 = params.some((p) => p.name === 'Signature' || p.name === 'AWSAccessKeyId');
  if (authorization !== undefined && (queryV4 || queryV2)) {
    throw invalidArgument(
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      'Authorization',
      authorization,
    );
  }
  if (authorization !== undefined) return headerAuth(req, opts, rawPath, params, authorization);
  if (queryV4) return queryAuth(req, opts, rawPath, params);
  if (queryV2) throw unsupportedAuthorization();
  return { anonymous: true, payload: anonymousPayload(req.headers) };
}

interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  terminal: string;
}

interface Verification {
  scope: Scope;
  amzDate: string;
  signedHeaders: string[];
  signature: string;
  payloadHash: string;
  excludeParam?: string;
}

// ---- which key signed ---------------------------------------------------------------

/**
 * The access key id authenticate() will look up for this request, read exactly as it reads
 * it (undefined where it would look up none). Callers load that key's credential before
 * authenticating: the two must never disagree, or the lookup finds a credential loaded for
 * an earlier request — a key deactivated or deleted since would sign again.
 */
export function signingAccessKeyId(authorization: string | undefined, rawUrl: string): string | undefined {
  if (authorization !== undefined) {
    const parts = authorizationComponents(authorization);
    return typeof parts === 'string' ? undefined : parts.get('Credential')?.split('/')[0];
  }
  const qi = rawUrl.indexOf('?');
  if (qi < 0) return undefined;
  return parseQuery(rawUrl.slice(qi + 1)).find((p) => p.name === 'X-Amz-Credential')?.value.split('/')[0];
}

/** The name=value components after the algorithm (a later repeat wins), or the first malformed one. */
function authorizationComponents(authorization: string): Map<string, string> | string {
  const space = authorization.indexOf(' ');
  const parts = new Map<string, string>();
  for (const piece of authorization.slice(space + 1).split(',')) {
    const t = piece.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq < 0) return t;
    parts.set(t.slice(0, eq), t.slice(eq + 1));
  }
  return parts;
}

// ---- header auth ----------------------------------------------------------------

function headerAuth(req: SignedRequest, opts: AuthOptions, rawPath: string, params: QueryParam[], authorization: string): AuthResult {
  const space = authorization.indexOf(' ');
  const algorithm = space < 0 ? authorization : authorization.slice(0, space);
  if (algorithm !== ALGORITHM) {
    if (algorithm === 'AWS' || algorithm.startsWith('AWS4-')) throw unsupportedAuthorization();
    throw invalidArgument('Unsupported Authorization Type', 'Authorization', authorization);
  }
  const parts = authorizationComponents(authorization);
  if (typeof parts === 'string') throw authorizationHeaderMalformed(`the authorization component "${parts}" is malformed.`);
  const credential = parts.get('Credential');
  const signedHeaders = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw authorizationHeaderMalformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
  }
  const scope = parseCredential(credential, (detail, fields) => authorizationHeaderMalformed(detail, fields));
  checkScope(scope, opts, (detail, fields) => authorizationHeaderMalformed(detail, fields));

  const amzDate = requestDate(req.headers);
  if (scope.date !== amzDate.iso.slice(0, 8)) {
    throw authorizationHeaderMalformed('Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  const contentSha = single(req.headers['x-amz-content-sha256']);
  let payload: PayloadMode;
  let payloadHash: string;
  /** The SHA-256 of a body read whole (services other than S3), which the signed payload hash must be. */
  let bodyHash: string | undefined;
  if (opts.service === 's3') {
    if (contentSha === undefined) throw invalidRequest('Missing required header for this request: x-amz-content-sha256');
    payload = payloadFromContentSha(contentSha);
    payloadHash = contentSha;
  } else {
    bodyHash = req.body ? sha256Hex(req.body) : undefined;
    payloadHash = contentSha ?? bodyHash ?? EMPTY_SHA256;
    payload = contentSha !== undefined && SHA256_HEX.test(contentSha) && !req.body ? { kind: 'sha256', expected: contentSha.toLowerCase() } : { kind: 'unsigned' };
  }
  const signed = splitSignedHeaders(signedHeaders);
  const cred = lookupCredential(opts, scope.accessKeyId);
  checkToken(cred, single(req.headers['x-amz-security-token']), opts);

  const now = opts.now ?? new Date();
  const maxSkew = opts.maxSkewMs ?? MAX_SKEW_MS;
  if (Math.abs(now.getTime() - amzDate.time) > maxSkew) throw requestTimeTooSkewed(amzDate.raw, now, maxSkew);
  checkSignedHeaders(req.headers, signed, false);

  const signingKey = verify(req, opts, rawPath, params, cred, { scope, amzDate: amzDate.iso, signedHeaders: signed, signature, payloadHash });
  checkBodyHash(payloadHash, bodyHash);
  if (payload.kind === 'chunked-signed') {
    payload = { ...payload, seedSignature: signature, signingKey, scope: scopeString(scope), amzDate: amzDate.iso };
  }
  return { anonymous: false, credential: cred, payload, presigned: false };
}

function requestDate(headers: IncomingHttpHeaders): { raw: string; iso: string; time: number } {
  const amz = single(headers['x-amz-date']);
  if (amz !== undefined) {
    const time = parseAmzDate(amz);
    if (time !== undefined) return { raw: amz, iso: amz, time };
  }
  const date = single(headers.date);
  if (date !== undefined) {
    const time = Date.parse(date);
    if (Number.isFinite(time)) return { raw: date, iso: formatAmzDate(new Date(time)), time };
  }
  throw accessDenied('AWS authentication requires a valid Date or x-amz-date header');
}

function payloadFromContentSha(value: string): PayloadMode {
  switch (value) {
    case UNSIGNED_PAYLOAD:
      return { kind: 'unsigned' };
    case STREAMING_UNSIGNED_TRAILER:
      return { kind: 'chunked-unsigned-trailer' };
    case STREAMING_SIGNED:
    case STREAMING_SIGNED_TRAILER:
      // Filled in once the seed signature is verified.
      return { kind: 'chunked-signed', trailer: value === STREAMING_SIGNED_TRAILER, seedSignature: '', signingKey: Buffer.alloc(0), scope: '', amzDate: '' };
  }
  if (SHA256_HEX.test(value)) return { kind: 'sha256', expected: value.toLowerCase() };
  throw invalidArgument(
    `x-amz-content-sha256 must be ${UNSIGNED_PAYLOAD}, ${STREAMING_UNSIGNED_TRAILER}, ${STREAMING_SIGNED}, ${STREAMING_SIGNED_TRAILER} or a valid sha256 value.`,
    'x-amz-content-sha256',
    value,
  );
}

function anonymousPayload(headers: IncomingHttpHeaders): PayloadMode {
  const v = single(headers['x-amz-content-sha256']);
  if (v === STREAMING_UNSIGNED_TRAILER) return { kind: 'chunked-unsigned-trailer' };
  if (v !== undefined && SHA256_HEX.test(v)) return { kind: 'sha256', expected: v.toLowerCase() };
  return { kind: 'unsigned' };
}

// ---- query auth (presigned URLs) -------------------------------------------------

function queryAuth(req: SignedRequest, opts: AuthOptions, rawPath: string, params: QueryParam[]): AuthResult {
  const get = (name: string) => params.find((p) => p.name === name)?.value;
  const algorithm = get('X-Amz-Algorithm');
  const credential = get('X-Amz-Credential');
  const signature = get('X-Amz-Signature');
  const date = get('X-Amz-Date');
  const signedHeaders = get('X-Amz-SignedHeaders');
  const expires = get('X-Amz-Expires');
  if (algorithm === undefined || credential === undefined || signature === undefined || date === undefined || signedHeaders === undefined || expires === undefined) {
    throw authorizationQueryParametersError(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== ALGORITHM) throw authorizationQueryParametersError(`X-Amz-Algorithm only supports "${ALGORITHM}"`);
  const scopeError = (detail: string, fields?: Record<string, string>) =>
    authorizationQueryParametersError(`Error parsing the X-Amz-Credential parameter; ${detail}`, fields);
  const scope = parseCredential(credential, scopeError);
  checkScope(scope, opts, scopeError);
  const time = parseAmzDate(date);
  if (time === undefined) throw authorizationQueryParametersError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  if (!/^-?\d+$/.test(expires)) throw authorizationQueryParametersError('X-Amz-Expires should be a number');
  const expiresSeconds = Number(expires);
  if (expiresSeconds < 0) throw authorizationQueryParametersError('X-Amz-Expires must be non-negative');
  if (expiresSeconds > MAX_PRESIGN_EXPIRES) {
    throw authorizationQueryParametersError(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_EXPIRES}`);
  }
  if (scope.date !== date.slice(0, 8)) throw scopeError('Invalid credential date. Date is not the same as X-Amz-Date.');

  const cred = lookupCredential(opts, scope.accessKeyId);
  checkToken(cred, get('X-Amz-Security-Token') ?? single(req.headers['x-amz-security-token']), opts);
  const now = opts.now ?? new Date();
  const maxSkew = opts.maxSkewMs ?? MAX_SKEW_MS;
  if (time - now.getTime() > maxSkew) throw accessDenied('Request is not valid yet');
  const expiresAt = time + expiresSeconds * 1000;
  if (now.getTime() > expiresAt) {
    throw accessDenied('Request has expired', { 'X-Amz-Expires': expires, Expires: new Date(expiresAt).toISOString(), ServerTime: now.toISOString() });
  }
  const signed = splitSignedHeaders(signedHeaders);
  checkSignedHeaders(req.headers, signed, true);

  const declared = get('X-Amz-Content-Sha256');
  let payloadHash = UNSIGNED_PAYLOAD;
  let payload: PayloadMode = { kind: 'unsigned' };
  if (opts.service === 's3') {
    // S3 refuses a payload declaration (query or header) that is neither a SHA-256 nor a known sentinel.
    const stated = declared ?? single(req.headers['x-amz-content-sha256']);
    if (stated !== undefined) payload = payloadFromContentSha(stated);
    if (declared !== undefined) payloadHash = declared;
  } else if (declared !== undefined) {
    payloadHash = declared;
    if (SHA256_HEX.test(declared)) payload = { kind: 'sha256', expected: declared.toLowerCase() };
  } else {
    payloadHash = req.body ? sha256Hex(req.body) : EMPTY_SHA256;
  }
  const signingKey = verify(req, opts, rawPath, params, cred, { scope, amzDate: date, signedHeaders: signed, signature, payloadHash, excludeParam: 'X-Amz-Signature' });
  if (opts.service !== 's3' && req.body) checkBodyHash(payloadHash, declared === undefined ? payloadHash : sha256Hex(req.body));
  if (payload.kind === 'chunked-signed') {
    payload = { ...payload, seedSignature: signature, signingKey, scope: scopeString(scope), amzDate: date };
  }
  return { anonymous: false, credential: cred, payload, presigned: true };
}

// ---- shared checks ----------------------------------------------------------------

type ScopeError = (detail: string, fields?: Record<string, string>) => Error;

function parseCredential(value: string, fail: ScopeError): Scope {
  const parts = value.split('/');
  if (parts.length !== 5 || parts.some((p) => p === '')) {
    throw fail('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  const [accessKeyId, date, region, service, terminal] = parts as [string, string, string, string, string];
  return { accessKeyId, date, region, service, terminal };
}

function checkScope(scope: Scope, opts: AuthOptions, fail: ScopeError): void {
  if (!/^\d{8}$/.test(scope.date)) {
    throw fail(`incorrect date format "${scope.date}". This date in the credential must be in the format "yyyyMMdd".`);
  }
  if (scope.region !== opts.region) throw fail(`the region '${scope.region}' is wrong; expecting '${opts.region}'`, { Region: opts.region });
  if (scope.service !== opts.service) throw fail(`incorrect service "${scope.service}". This endpoint belongs to "${opts.service}".`);
  if (scope.terminal !== 'aws4_request') throw fail(`incorrect terminal "${scope.terminal}". This endpoint uses "aws4_request".`);
}

function lookupCredential(opts: AuthOptions, accessKeyId: string): CredentialRecord {
  const cred = opts.lookup(accessKeyId);
  if (!cred) throw invalidAccessKeyId(accessKeyId);
  return cred;
}

function checkToken(cred: CredentialRecord, token: string | undefined, opts: AuthOptions): void {
  if (cred.sessionToken === undefined) {
    if (token !== undefined && token !== '') throw invalidToken();
    return;
  }
  if (token === undefined || !constantTimeEqual(sha256Hex(token), sha256Hex(cred.sessionToken))) throw invalidToken();
  if (cred.expiresAt && cred.expiresAt.getTime() <= (opts.now ?? new Date()).getTime()) throw expiredToken();
}

function splitSignedHeaders(value: string): string[] {
  return value.split(';').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
}

/**
 * Host must be signed, and so must every x-amz-* header the request carries (a
 * presigned URL's own parameters travel in the query, so x-amz-content-sha256, which
 * some clients add to a presigned request, is let through unsigned there).
 */
function checkSignedHeaders(headers: IncomingHttpHeaders, signed: string[], presigned: boolean): void {
  const set = new Set(signed);
  const missing: string[] = [];
  if (!set.has('host')) missing.push('host');
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('x-amz-') || set.has(lower)) continue;
    if (presigned && lower === 'x-amz-content-sha256') continue;
    missing.push(lower);
  }
  if (missing.length > 0) throw headersNotSigned(missing);
}

function verify(req: SignedRequest, opts: AuthOptions, rawPath: string, params: QueryParam[], cred: CredentialRecord, v: Verification): Buffer {
  const canonical = canonicalRequest({
    method: req.method.toUpperCase(),
    uri: canonicalUri(rawPath, opts.service),
    query: canonicalQuery(params, v.excludeParam),
    headers: req.rawHeaders
      ? canonicalHeadersFromRaw(req.rawHeaders, v.signedHeaders)
      : v.signedHeaders.map((h) => [h, canonicalHeaderValue(req.headers[h])]),
    signedHeaders: v.signedHeaders.join(';'),
    payloadHash: v.payloadHash,
  });
  const toSign = stringToSign(v.amzDate, scopeString(v.scope), canonical);
  const key = deriveSigningKey(cred.secretAccessKey, v.scope.date, v.scope.region, v.scope.service);
  if (!constantTimeEqual(signatureHex(key, toSign), v.signature)) {
    throw signatureDoesNotMatch(cred.accessKeyId, toSign, v.signature, canonical);
  }
  return key;
}

/**
 * A body read whole (KMS, IAM, STS, the admin API) is what was signed only when the
 * payload hash in the signature is its SHA-256. A client may state that hash itself
 * (x-amz-content-sha256); anything else — another body's hash, UNSIGNED-PAYLOAD — would
 * let a captured request be replayed with a body of the replayer's choosing.
 */
function checkBodyHash(signedHash: string, bodyHash: string | undefined): void {
  if (bodyHash !== undefined && signedHash.toLowerCase() !== bodyHash) throw contentSha256Mismatch(signedHash, bodyHash);
}

function scopeString(s: Scope): string {
  return `${s.date}/${s.region}/${s.service}/${s.terminal}`;
}

/** Constant-time comparison of two signatures (or digests) given as strings. */
export function constantTimeEqual(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(provided, 'latin1');
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

// ---- small helpers ----------------------------------------------------------------

/** The last X-Amz-Date parsed: requests in flight together mostly carry the same second. */
let lastAmzDate = '';
let lastAmzTime = 0;

export function parseAmzDate(value: string): number | undefined {
  if (value === lastAmzDate) return lastAmzTime;
  const m = AMZ_DATE.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  // Reject dates that do not exist (20130231, 235960), which Date.UTC would roll over, and
  // years 0000-0099, which it would read as 1900-1999.
  const u = new Date(t);
  if (u.getUTCFullYear() !== y || u.getUTCMonth() !== mo - 1 || u.getUTCDate() !== d || u.getUTCHours() !== h || u.getUTCMinutes() !== mi || u.getUTCSeconds() !== s) return undefined;
  lastAmzDate = value;
  lastAmzTime = t;
  return t;
}

export function formatAmzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The path of a request target; an absolute-form target (proxies) loses its scheme and authority. */
function pathOf(target: string): string {
  if (target.startsWith('/')) return target;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(target);
  return m ? (m[1] ?? '/') : target;
}
