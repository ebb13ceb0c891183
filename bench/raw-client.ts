// The benchmark's raw S3 client: node:http with a keep-alive agent and SigV4. Large
// bodies go as UNSIGNED-PAYLOAD so client-side hashing does not dominate; small
// bodies carry their real SHA-256, as the SDK would send.

import http from 'node:http';
import { createHash } from 'node:crypto';
import { EMPTY_SHA256, SigV4Signer, UNSIGNED_PAYLOAD, type Credentials } from './sigv4.js';
import { writeRepeated } from './body.js';

/** Long enough for an fsync of a multi-GiB blob to finish before the response. */
const IDLE_TIMEOUT_MS = 180_000;

export class S3Failure extends Error {
  constructor(readonly status: number, readonly body: string, what: string) {
    super(`${what}: HTTP ${status} ${body.replace(/\s+/g, ' ').slice(0, 300)}`);
  }
}

interface Response {
  status: number;
  /** Bytes of body received (drained, never kept, unless keepBody). */
  bytes: number;
  body?: string;
  /** The kept body's bytes (at most about 64 KiB), when kept. */
  data?: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** A ranged GET's answer: the body bytes and the Content-Range the server sent. */
export interface RangeResponse {
  data: Buffer;
  contentRange: string | undefined;
}

export class RawS3Client {
  readonly agent: http.Agent;
  private readonly signer: SigV4Signer;
  private readonly host: string;

  constructor(private readonly endpoint: URL, creds: Credentials, maxSockets = 64) {
    if (endpoint.hostname !== '127.0.0.1') throw new Error('the benchmark only talks to 127.0.0.1');
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.signer = new SigV4Signer(creds);
    this.host = endpoint.host;
  }

  async createBucket(bucket: string): Promise<void> {
    const r = await this.request('PUT', `/${bucket}`, EMPTY_SHA256, {}, async (req) => void req.end(), true);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `CreateBucket ${bucket}`);
  }

  /** PutBucketEncryption: the bucket's default is SSE-KMS with `kmsKeyArn` (bucket keys off), or SSE-S3 without it. */
  async putBucketEncryption(bucket: string, kmsKeyArn?: string): Promise<void> {
    const apply = kmsKeyArn === undefined
      ? '<SSEAlgorithm>AES256</SSEAlgorithm>'
      : `<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>${kmsKeyArn}</KMSMasterKeyID>`;
    const body = Buffer.from(
      '<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>' +
        `<ApplyServerSideEncryptionByDefault>${apply}</ApplyServerSideEncryptionByDefault>` +
        '<BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>',
    );
    const headers = { 'content-length': String(body.length), 'content-type': 'application/xml' };
    const r = await this.request('PUT', `/${bucket}`, payloadHash(body), headers, async (req) => void req.end(body), true, 'encryption=');
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `PutBucketEncryption ${bucket}`);
  }

  /** PutObject of `size` bytes repeated from the shared buffer, UNSIGNED-PAYLOAD; `headers` are sent and signed too. */
  async putStream(bucket: string, key: string, size: number, headers: Record<string, string> = {}): Promise<void> {
    const r = await this.request('PUT', objectPath(bucket, key), UNSIGNED_PAYLOAD, { ...headers, 'content-length': String(size) }, async (req) => {
      await writeRepeated(req, size);
      req.end();
    }, true);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `PutObject ${key}`);
  }

  /** PutObject of a small in-memory body with its real payload hash (hash it once with `payloadHash`). */
  async putSmall(bucket: string, key: string, body: Buffer, hash: string, headers: Record<string, string> = {}): Promise<void> {
    const r = await this.request('PUT', objectPath(bucket, key), hash, { ...headers, 'content-length': String(body.length) }, async (req) => void req.end(body), true);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `PutObject ${key}`);
  }

  /** GetObject, draining the body; returns the byte count (checked against `expected`). */
  async get(bucket: string, key: string, expected: number): Promise<number> {
    const r = await this.request('GET', objectPath(bucket, key), EMPTY_SHA256, {}, async (req) => void req.end(), false);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `GetObject ${key}`);
    if (r.bytes !== expected) throw new Error(`GetObject ${key}: got ${r.bytes} bytes, expected ${expected}`);
    return r.bytes;
  }

  /** GetObject of bytes [start, end] (inclusive, at most 64 KiB); expects 206. */
  async getRange(bucket: string, key: string, start: number, end: number): Promise<RangeResponse> {
    if (end - start >= 64 * 1024) throw new Error('getRange keeps the body: ask for at most 64 KiB');
    const r = await this.request('GET', objectPath(bucket, key), EMPTY_SHA256, { range: `bytes=${start}-${end}` }, async (req) => void req.end(), true);
    if (r.status !== 206) throw new S3Failure(r.status, r.body ?? '', `GetObject ${key} bytes=${start}-${end}`);
    const cr = r.headers['content-range'];
    return { data: r.data ?? Buffer.alloc(0), contentRange: Array.isArray(cr) ? cr[0] : cr };
  }

  /** HeadObject: the response headers (e.g. x-amz-server-side-encryption). */
  async head(bucket: string, key: string): Promise<http.IncomingHttpHeaders> {
    const r = await this.request('HEAD', objectPath(bucket, key), EMPTY_SHA256, {}, async (req) => void req.end(), true);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `HeadObject ${key}`);
    return r.headers;
  }

  /** PutBucketVersioning Enabled (with the Content-MD5 S3 requires). */
  async enableVersioning(bucket: string): Promise<void> {
    const body = Buffer.from('<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>');
    const headers = { 'content-length': String(body.length), 'content-md5': createHash('md5').update(body).digest('base64') };
    const r = await this.request('PUT', `/${bucket}`, payloadHash(body), headers, async (req) => void req.end(body), true, 'versioning=');
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `PutBucketVersioning ${bucket}`);
  }

  /** One ListObjectVersions page: its entry count and the markers of the next page (undefined at the end). */
  async listVersionsPage(bucket: string, maxKeys: number, marker?: { key: string; versionId?: string }): Promise<{ entries: number; next?: { key: string; versionId?: string } }> {
    const params = [`max-keys=${maxKeys}`, 'versions='];
    if (marker) params.push(`key-marker=${encodeURIComponent(marker.key)}`);
    if (marker?.versionId) params.push(`version-id-marker=${encodeURIComponent(marker.versionId)}`);
    const query = params.sort().join('&');
    const r = await this.request('GET', `/${bucket}`, EMPTY_SHA256, {}, async (req) => void req.end(), true, query);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `ListObjectVersions ${bucket}`);
    // Only the first 64 KiB are kept, but the markers and IsTruncated come before the entries;
    // a truncated page is full, and a last page is counted from what was kept (enough for its tail).
    const text = r.body ?? '';
    const truncated = /<IsTruncated>true<\/IsTruncated>/.test(text);
    const entries = truncated ? maxKeys : (text.match(/<(Version|DeleteMarker)>/g) ?? []).length;
    const key = /<NextKeyMarker>([^<]*)<\/NextKeyMarker>/.exec(text)?.[1];
    const versionId = /<NextVersionIdMarker>([^<]*)<\/NextVersionIdMarker>/.exec(text)?.[1];
    return { entries, ...(truncated && key !== undefined ? { next: { key, ...(versionId ? { versionId } : {}) } } : {}) };
  }

  async delete(bucket: string, key: string): Promise<void> {
    const r = await this.request('DELETE', objectPath(bucket, key), EMPTY_SHA256, {}, async (req) => void req.end(), true);
    if (r.status !== 204 && r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `DeleteObject ${key}`);
  }

  close(): void {
    this.agent.destroy();
  }

  private request(
    method: string,
    path: string,
    payloadHash: string,
    extra: Record<string, string>,
    send: (req: http.ClientRequest) => Promise<void>,
    keepBody: boolean,
    query = '',
  ): Promise<Response> {
    const headers = this.signer.sign({ method, path, query, host: this.host, payloadHash, headers: extra });
    const target = query === '' ? path : `${path}?${query}`;
    return new Promise<Response>((resolve, reject) => {
      const req = http.request({ agent: this.agent, host: this.endpoint.hostname, port: this.endpoint.port, method, path: target, headers });
      req.once('error', reject);
      // Bounded: a request that makes no progress for this long fails instead of hanging the run.
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${path}: no progress for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.once('response', (res) => {
        let bytes = 0;
        const parts: Buffer[] = [];
        // An error status always keeps its (small) body for the message.
        const keep = keepBody || (res.statusCode ?? 0) >= 300;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (keep && bytes < 64 * 1024) parts.push(c);
        });
        res.once('error', reject);
        res.once('end', () => {
          const data = keep ? Buffer.concat(parts) : undefined;
          resolve({ status: res.statusCode ?? 0, bytes, body: data?.toString('utf8'), data, headers: res.headers });
        });
      });
      // A server that answers early (e.g. 403 before reading the body) ends the
      // upload; the response handler above reports it, so write errors are ignored.
      send(req).catch(() => undefined);
    });
  }
}

export function objectPath(bucket: string, key: string): string {
  return `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export function payloadHash(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}
