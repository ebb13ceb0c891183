// SigV4 canonical forms, as the AWS "Create a canonical request" steps spell them:
//
//   CanonicalRequest = Method '\n' CanonicalURI '\n' CanonicalQuery '\n'
//                      CanonicalHeaders '\n' SignedHeaders '\n' HashedPayload
//   StringToSign     = 'AWS4-HMAC-SHA256' '\n' ISO8601 time '\n' Scope '\n' hex(SHA256(CanonicalRequest))
//   SigningKey       = HMAC(HMAC(HMAC(HMAC('AWS4' + secret, date), region), service), 'aws4_request')
//
// The server rebuilds the canonical URI and query from the raw wire form: it
// percent-decodes to bytes and re-encodes with the SigV4 rule (everything but
// A-Z a-z 0-9 - . _ ~ becomes %XX, upper-case hex), so the result matches what the
// client signed however the client chose to escape the URL on the wire.
// S3 signs the path encoded once and never normalized; every other service signs the
// path normalized (. and .. removed, empty segments dropped) and encoded twice.

import { createHmac, hash } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const ENCODED: string[] = [];
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  ENCODED.push(/[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0'));
}
const UNRESERVED_ONLY = /^[A-Za-z0-9\-._~]*$/;

/** SigV4 URI encoding of bytes (or of a string's UTF-8 bytes). '/' is encoded too; callers keep it by encoding segments. */
export function uriEncode(input: string | Uint8Array): string {
  if (typeof input === 'string') {
    if (UNRESERVED_ONLY.test(input)) return input;
    input = Buffer.from(input, 'utf8');
  }
  let out = '';
  for (let i = 0; i < input.length; i++) out += ENCODED[input[i]!];
  return out;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Percent-decodes a raw URL component to bytes. Node hands the request target over as
 * latin1, so a code unit below 256 is one wire byte; a malformed '%' stays literal.
 */
export function percentDecode(raw: string, plusIsSpace = false): Buffer {
  if (raw.indexOf('%') < 0 && !(plusIsSpace && raw.indexOf('+') >= 0)) {
    return Buffer.from(raw, /^[\x00-\xff]*$/.test(raw) ? 'latin1' : 'utf8');
  }
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 /* % */ && i + 2 < raw.length && hexValue(raw.charCodeAt(i + 1)) >= 0 && hexValue(raw.charCodeAt(i + 2)) >= 0) {
      bytes.push(hexValue(raw.charCodeAt(i + 1)) * 16 + hexValue(raw.charCodeAt(i + 2)));
      i += 2;
    } else if (c === 43 /* + */ && plusIsSpace) {
      bytes.push(32);
    } else if (c < 256) {
      bytes.push(c);
    } else {
      for (const b of Buffer.from(raw.slice(i, i + (c >= 0xd800 && c < 0xdc00 ? 2 : 1)), 'utf8')) bytes.push(b);
      if (c >= 0xd800 && c < 0xdc00) i++;
    }
  }
  return Buffer.from(bytes);
}

/** The canonical URI for a raw (still percent-encoded) request path. */
export function canonicalUri(rawPath: string, service: string): string {
  if (rawPath === '' || rawPath === '*') return '/';
  const segments = rawPath.split('/');
  if (service === 's3') return segments.map((s) => uriEncode(percentDecode(s))).join('/');
  const kept: string[] = [];
  for (const s of segments) {
    if (s === '' || s === '.') continue;
    if (s === '..') kept.pop();
    else kept.push(s);
  }
  const trailing = kept.length > 0 && rawPath.endsWith('/');
  // Encoded twice: once as the client put it on the wire, once more for the signature.
  return '/' + kept.map((s) => uriEncode(uriEncode(percentDecode(s)))).join('/') + (trailing ? '/' : '');
}

export interface QueryParam {
  /** decoded name and value */
  name: string;
  value: string;
  /** SigV4-encoded name and value */
  encodedName: string;
  encodedValue: string;
}

/** Splits a raw query string into parameters ('+' is a space, as S3 reads it). */
export function parseQuery(rawQuery: string): QueryParam[] {
  const out: QueryParam[] = [];
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const nameBytes = percentDecode(eq < 0 ? part : part.slice(0, eq), true);
    const valueBytes = percentDecode(eq < 0 ? '' : part.slice(eq + 1), true);
    out.push({
      name: nameBytes.toString('utf8'),
      value: valueBytes.toString('utf8'),
      encodedName: uriEncode(nameBytes),
      encodedValue: uriEncode(valueBytes),
    });
  }
  return out;
}

/** Sorted by encoded name, then encoded value; `exclude` drops a parameter (X-Amz-Signature when presigned). */
export function canonicalQuery(params: QueryParam[], exclude?: string): string {
  const kept = exclude === undefined ? params.slice() : params.filter((p) => p.name !== exclude);
  kept.sort((a, b) => compare(a.encodedName, b.encodedName) || compare(a.encodedValue, b.encodedValue));
  return kept.map((p) => `${p.encodedName}=${p.encodedValue}`).join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A header value as signed: trimmed, inner runs of spaces collapsed to one; repeated headers joined by ','. */
export function canonicalHeaderValue(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => canonicalHeaderValue(v)).join(',');
  const t = value.trim();
  return t.indexOf('  ') < 0 && t.indexOf('\t') < 0 ? t : t.replace(/[ \t]+/g, ' ');
}

/**
 * A header line's value as it was on the wire, for signing. Node hands header bytes over
 * as latin1 (one code unit per byte); AWS signs the bytes the client sent, and SDKs send
 * and sign text as UTF-8, so bytes that are valid UTF-8 are read as UTF-8 (canonicalRequest
 * hashes it back to the same bytes). Other bytes keep their latin1 reading: the code points
 * a client that sends latin1 (Python's http.client, some proxies) signed.
 */
export function wireHeaderText(latin1: string): string {
  if (!/[\x80-\xff]/.test(latin1)) return latin1;
  const bytes = Buffer.from(latin1, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : latin1;
}

/**
 * Canonical values of the named headers from Node's `rawHeaders` (name, value, name, value …
 * in the order received): each line's value trimmed with inner runs of spaces collapsed, the
 * lines of one name joined by ',' in order — not by ', ' as `req.headers` joins them.
 */
export function canonicalHeadersFromRaw(rawHeaders: readonly string[], names: readonly string[]): Array<[string, string]> {
  const wanted = new Map<string, string[]>(names.map((n) => [n, []]));
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lines = wanted.get(rawHeaders[i]!.toLowerCase());
    if (lines) lines.push(canonicalHeaderValue(wireHeaderText(rawHeaders[i + 1]!)));
  }
  return names.map((n) => [n, wanted.get(n)!.join(',')]);
}

export interface CanonicalRequestParts {
  method: string;
  /** canonical URI (see canonicalUri) */
  uri: string;
  /** canonical query string (see canonicalQuery) */
  query: string;
  /** lower-case name -> canonical value, in SignedHeaders order */
  headers: Array<[string, string]>;
  signedHeaders: string;
  payloadHash: string;
}

export function canonicalRequest(p: CanonicalRequestParts): string {
  let headers = '';
  for (const [name, value] of p.headers) headers += `${name}:${value}\n`;
  return `${p.method}\n${p.uri}\n${p.query}\n${headers}\n${p.signedHeaders}\n${p.payloadHash}`;
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

/** SHA-256 in hex; a string is hashed as UTF-8. The one-shot hash() costs about a third of a createHash object, on every request's canonical request and body. */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

const KEY_CACHE_LIMIT = 256;
const keyCache = new Map<string, Buffer>();

/** The SigV4 signing key, cached per (secret, date, region, service) in a small bounded map. */
export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${date}\n${region}\n${service}\n${secret}`;
  const hit = keyCache.get(id);
  if (hit) return hit;
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(id, key);
  return key;
}

export function signatureHex(signingKey: Buffer, toSign: string): string {
  return createHmac('sha256', signingKey).update(toSign, 'utf8').digest('hex');
}
