// Requests signed by the AWS SDK for JavaScript v3 itself must verify: header auth
// and presigned URLs from a real S3Client (its requests are captured instead of
// sent), keys with characters that clients escape differently, a stream upload the
// SDK encodes as aws-chunked with a checksum trailer, and a KMS-style JSON POST
// signed by @smithy/signature-v4 without x-amz-content-sha256.

import assert from 'node:assert/strict';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { decodePayload } from '../../src/auth/chunked.js';
import { authenticate } from '../../src/auth/sigv4.js';
import type { AuthOptions } from '../../src/auth/types.js';
import { lookupOf, readAll, record } from './fixtures.js';

const KEY = 'AKIACOFFERAUTHTEST01';
const SECRET = 'coffer/auth+test=secret/0123456789abcdefXYZ';
const TEMP_KEY = 'ASIACOFFERAUTHTEMP01';
const TEMP_SECRET = 'temporary-secret-0123456789';
const TOKEN = 'FwoGZXIvYXdzEXAMPLE//token+with/odd=chars';
const lookup = lookupOf(record(KEY, SECRET), record(TEMP_KEY, TEMP_SECRET, { sessionToken: TOKEN, expiresAt: new Date(Date.now() + 3600_000) }));
const s3opts: AuthOptions = { region: 'us-east-1', service: 's3', lookup };

const ODD_KEYS = [
  'plain.txt',
  'with space.txt',
  'a+b=c&d',
  'ünïcødé/日本語/файл',
  "tilde~and!*()'",
  'semi;colon,comma:colon@at$dollar#hash',
  'percent%20literal%',
  'dir//double/slash/',
  'emoji 🚀 and tab\t',
  'q?mark[brackets]{braces}|pipe^caret`back"quote<lt>gt\\',
];

interface Captured {
  method: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** An S3Client whose requests are captured after signing instead of sent. */
function capturingClient(credentials = { accessKeyId: KEY, secretAccessKey: SECRET } as { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) {
  const seen: Captured[] = [];
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9000',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    requestHandler: {
      handle: async (req: Captured) => {
        seen.push(req);
        throw Object.assign(new Error('captured'), { name: 'Captured', $fault: 'client' });
      },
    } as never,
  });
  return { client, seen };
}

async function capture(client: S3Client, seen: Captured[], command: object): Promise<Captured> {
  await assert.rejects(client.send(command as never), /captured/);
  return seen[seen.length - 1]!;
}

function strictEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The request target the SDK's HTTP handler would put on the wire. */
function wireTarget(req: Captured): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v === null || v === undefined) parts.push(strictEncode(k));
    else for (const one of Array.isArray(v) ? v : [v]) parts.push(`${strictEncode(k)}=${strictEncode(one)}`);
  }
  return req.path + (parts.length ? '?' + parts.join('&') : '');
}

function headersOf(req: Captured): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) h[k.toLowerCase()] = v;
  return h;
}

describe('AWS SDK v3 header-signed requests verify', () => {
  for (const key of ODD_KEYS) {
    it(`GetObject ${JSON.stringify(key)}`, async () => {
      const { client, seen } = capturingClient();
      const req = await capture(client, seen, new GetObjectCommand({ Bucket: 'bkt', Key: key, Range: 'bytes=0-9' }));
      const r = authenticate({ method: req.method, rawUrl: wireTarget(req), headers: headersOf(req) }, s3opts);
      assert.equal(r.anonymous, false);
    });
  }

  it('a request whose target was tampered with does not verify', async () => {
    const { client, seen } = capturingClient();
    const req = await capture(client, seen, new GetObjectCommand({ Bucket: 'bkt', Key: 'a b' }));
    assert.throws(() => authenticate({ method: req.method, rawUrl: wireTarget(req).replace('a%20b', 'a%20c'), headers: headersOf(req) }, s3opts), { code: 'SignatureDoesNotMatch' });
  });

  it('ListObjectsV2 with an odd prefix and delimiter (query canonicalization)', async () => {
    const { client, seen } = capturingClient();
    const req = await capture(client, seen, new ListObjectsV2Command({ Bucket: 'bkt', Prefix: "a b+c/ü~!*'()=&", Delimiter: '/', MaxKeys: 7, StartAfter: 'x y' }));
    const r = authenticate({ method: req.method, rawUrl: wireTarget(req), headers: headersOf(req) }, s3opts);
    assert.equal(r.anonymous, false);
  });

  it('PutObject with a Buffer body signs its sha256', async () => {
    const { client, seen } = capturingClient();
    const body = Buffer.from('hello coffer');
    const req = await capture(client, seen, new PutObjectCommand({ Bucket: 'bkt', Key: 'a=b c', Body: body }));
    const r = authenticate({ method: req.method, rawUrl: wireTarget(req), headers: headersOf(req) }, s3opts);
    assert.equal(r.anonymous, false);
    if (r.payload.kind === 'sha256') {
      const decoded = decodePayload(Readable.from([body]), headersOf(req), r.payload);
      assert.ok((await readAll(decoded.body)).equals(body));
    } else {
      assert.equal(r.payload.kind, 'unsigned');
    }
  });

  it('PutObject with a stream body: aws-chunked with a checksum trailer decodes', async () => {
    const { client, seen } = capturingClient();
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const source = Readable.from([data.subarray(0, 70_000), data.subarray(70_000, 200_000), data.subarray(200_000)]);
    const req = await capture(client, seen, new PutObjectCommand({ Bucket: 'bkt', Key: 'streamed', Body: source, ContentLength: data.length, ChecksumAlgorithm: 'CRC32' }));
    const headers = headersOf(req);
    const r = authenticate({ method: req.method, rawUrl: wireTarget(req), headers }, s3opts);
    assert.equal(r.anonymous, false);
    assert.equal(r.payload.kind, 'chunked-unsigned-trailer');
    const decoded = decodePayload(Readable.from(req.body as AsyncIterable<Buffer>), headers, r.payload);
    assert.ok((await readAll(decoded.body)).equals(data));
    assert.match(decoded.trailers()['x-amz-checksum-crc32'] ?? '', /^[A-Za-z0-9+/]{6}==$/);
  });

  it('temporary credentials: the session token is signed and checked', async () => {
    const { client, seen } = capturingClient({ accessKeyId: TEMP_KEY, secretAccessKey: TEMP_SECRET, sessionToken: TOKEN });
    const req = await capture(client, seen, new GetObjectCommand({ Bucket: 'bkt', Key: 'k' }));
    const r = authenticate({ method: req.method, rawUrl: wireTarget(req), headers: headersOf(req) }, s3opts);
    assert.equal(r.anonymous, false);
  });
});

describe('AWS SDK v3 presigned URLs verify', () => {
  for (const key of ODD_KEYS) {
    it(`GetObject ${JSON.stringify(key)}`, async () => {
      const { client } = capturingClient();
      const url = new URL(await getSignedUrl(client, new GetObjectCommand({ Bucket: 'bkt', Key: key }), { expiresIn: 600 }));
      const r = authenticate({ method: 'GET', rawUrl: url.pathname + url.search, headers: { host: url.host } }, s3opts);
      assert.equal(r.anonymous, false);
      if (!r.anonymous) assert.equal(r.presigned, true);
    });
  }

  it('PutObject with temporary credentials and a content type', async () => {
    const { client } = capturingClient({ accessKeyId: TEMP_KEY, secretAccessKey: TEMP_SECRET, sessionToken: TOKEN });
    const url = new URL(await getSignedUrl(client, new PutObjectCommand({ Bucket: 'bkt', Key: 'up load', ContentType: 'text/plain' }), { expiresIn: 600 }));
    const headers: IncomingHttpHeaders = { host: url.host, 'content-type': 'text/plain' };
    const r = authenticate({ method: 'PUT', rawUrl: url.pathname + url.search, headers }, s3opts);
    assert.equal(r.anonymous, false);
    assert.throws(() => authenticate({ method: 'GET', rawUrl: url.pathname + url.search, headers }, s3opts), { code: 'SignatureDoesNotMatch' });
  });
});

class NodeSha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}

function toBuffer(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (d instanceof ArrayBuffer) return Buffer.from(new Uint8Array(d));
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

describe('@smithy/signature-v4 for a JSON service (kms)', () => {
  const signer = new SignatureV4({ credentials: { accessKeyId: KEY, secretAccessKey: SECRET }, region: 'us-east-1', service: 'kms', sha256: NodeSha256, applyChecksum: false });
  const body = '{"KeyId":"alias/coffer","Plaintext":"aGVsbG8="}';

  it('verifies with the body hashed by the server', async () => {
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: 'localhost',
      path: '/',
      query: {},
      headers: { host: 'localhost', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Encrypt' },
      body,
    } as never);
    const headers = headersOf(signed as unknown as Captured);
    assert.equal(headers['x-amz-content-sha256'], undefined);
    const opts = { region: 'us-east-1', service: 'kms', lookup };
    const r = authenticate({ method: 'POST', rawUrl: '/', headers, body: Buffer.from(body) }, opts);
    assert.equal(r.anonymous, false);
    assert.throws(() => authenticate({ method: 'POST', rawUrl: '/', headers, body: Buffer.from(body + ' ') }, opts), { code: 'SignatureDoesNotMatch' });
  });
});
