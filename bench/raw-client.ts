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

  /** PutObject of `size` bytes repeated from the shared buffer, UNSIGNED-PAYLOAD. */
  async putStream(bucket: string, key: string, size: number): Promise<void> {
    const r = await this.request('PUT', objectPath(bucket, key), UNSIGNED_PAYLOAD, { 'content-length': String(size) }, async (req) => {
      await writeRepeated(req, size);
      req.end();
    }, true);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `PutObject ${key}`);
  }

  /** PutObject of a small in-memory body with its real payload hash (hash it once with `payloadHash`). */
  async putSmall(bucket: string, key: string, body: Buffer, hash: string): Promise<void> {
    const r = await this.request('PUT', objectPath(bucket, key), hash, { 'content-length': String(body.length) }, async (req) => void req.end(body), true);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `PutObject ${key}`);
  }

  /** GetObject, draining the body; returns the byte count (checked against `expected`). */
  async get(bucket: string, key: string, expected: number): Promise<number> {
    const r = await this.request('GET', objectPath(bucket, key), EMPTY_SHA256, {}, async (req) => void req.end(), false);
    if (r.status !== 200) throw new S3Failure(r.status, r.body ?? '', `GetObject ${key}`);
    if (r.bytes !== expected) throw new Error(`GetObject ${key}: got ${r.bytes} bytes, expected ${expected}`);
    return r.bytes;
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
  ): Promise<Response> {
    const headers = this.signer.sign({ method, path, host: this.host, payloadHash, headers: extra });
    return new Promise<Response>((resolve, reject) => {
      const req = http.request({ agent: this.agent, host: this.endpoint.hostname, port: this.endpoint.port, method, path, headers });
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
        res.once('end', () => resolve({ status: res.statusCode ?? 0, bytes, body: keep ? Buffer.concat(parts).toString('utf8') : undefined }));
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
