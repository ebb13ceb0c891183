// AWS Signature Version 4 for the console, on WebCrypto (crypto.subtle), so the same
// module signs in the browser and in Node (whose globalThis.crypto is WebCrypto too;
// the tests sign with it against the real server). Header-based signing only.
//
// The caller gives the path exactly as it will be sent (already URI-encoded, once: S3
// and Coffer's other services here never double-encode because every path they see
// is either "/" or built from encodeRfc3986 segments) and the query as pairs; the
// signer returns the headers to send. Host is signed but never returned: browsers set
// it themselves (to location.host, which is what the caller passes).

/** The subset of SubtleCrypto used here (typed structurally: no DOM or Node types needed). */
interface Subtle {
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
  importKey(format: 'raw', key: Uint8Array, algorithm: { name: string; hash: string }, extractable: boolean, usages: string[]): Promise<unknown>;
  sign(algorithm: string, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
}

function subtle(): Subtle {
  return (globalThis as unknown as { crypto: { subtle: Subtle } }).crypto.subtle;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignRequest {
  method: string;
  /** host[:port], as the request's Host header will carry it. */
  host: string;
  /** The encoded path, e.g. "/bucket/a%20b.txt". */
  path: string;
  query?: ReadonlyArray<readonly [string, string]>;
  /** Extra headers to sign and send (content-type, x-amz-*). */
  headers?: Record<string, string>;
  /** The body, hashed into the signature; or payloadHash instead (e.g. "UNSIGNED-PAYLOAD"). */
  body?: Uint8Array | string;
  payloadHash?: string;
  service: string;
  region: string;
  credentials: Credentials;
  /** The signing time (default now). */
  date?: Date;
}

const encoder = new TextEncoder();

function bytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? encoder.encode(v) : v;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  return hex(await subtle().digest('SHA-256', bytes(data)));
}

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const k = await subtle().importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', k, encoder.encode(data)));
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX. */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An S3 object key as a path: each "/"-separated segment encoded, the slashes kept. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeRfc3986).join('/');
}

/** The query string as sent and as signed (sorted, RFC 3986). */
export function canonicalQuery(query: ReadonlyArray<readonly [string, string]> = []): string {
  return query
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** "20260101T000000Z" */
function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The headers to send with the request (everything signed except host). */
export async function signRequest(r: SignRequest): Promise<Record<string, string>> {
  const time = amzDate(r.date ?? new Date());
  const day = time.slice(0, 8);
  const payloadHash = r.payloadHash ?? (await sha256Hex(r.body ?? ''));
  const send: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) send[k.toLowerCase()] = v;
  send['x-amz-date'] = time;
  send['x-amz-content-sha256'] = payloadHash;
  if (r.credentials.sessionToken) send['x-amz-security-token'] = r.credentials.sessionToken;
  const signed: Record<string, string> = { ...send, host: r.host };
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((n) => `${n}:${signed[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [r.method, r.path, canonicalQuery(r.query), canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${r.region}/${r.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', time, scope, await sha256Hex(canonicalRequest)].join('\n');
  let key = await hmac(encoder.encode(`AWS4${r.credentials.secretAccessKey}`), day);
  for (const part of [r.region, r.service, 'aws4_request']) key = await hmac(key, part);
  const signature = Array.from(await hmac(key, stringToSign), (b) => b.toString(16).padStart(2, '0')).join('');
  send.authorization = `AWS4-HMAC-SHA256 Credential=${r.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return send;
}
