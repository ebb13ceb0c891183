// A small S3 client for the blob tier (s3-blob-store.ts): the handful of calls a blob
// backend needs, signed with Coffer's own SigV4 signer (auth/sign.ts) over node:http(s)
// with keep-alive agents. The product does not depend on the AWS SDK.
//
// Payloads: every body this client sends is in memory (a blob up to one part), so it is
// signed with its SHA-256 (one pass of native hashing as the bytes arrive): the backend
// checks the bytes it stores, over HTTP as over TLS.
//
// Failures: no answer (refused, reset, timed out) or a 5xx, and the credentials refused
// (401, 403), are BlobTierUnavailableError — the S3 layer answers 503 and logs the cause.
// GET, HEAD and DELETE are retried with backoff first; other calls are retried only when a
// kept-alive socket was found closed before the request went out (Node's advice). Error
// messages name the operation and the backend's code, never a credential or a signature.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { XMLParser } from 'fast-xml-parser';
import { signRequest } from '../auth/sign.js';
import { uriEncode } from '../auth/canonical.js';
import { BlobTierUnavailableError } from '../storage/blob-unavailable.js';

export interface S3Target {
  /** http(s)://host[:port] of the service. */
  endpoint: URL;
  bucket: string;
  region: string;
  /** https://host/bucket/key instead of https://bucket.host/key. */
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ClientOptions {
  /** A request with no progress for this long fails (default 30 s). */
  timeoutMs?: number;
  /** Retries of GET, HEAD and DELETE after a failure that may pass (default 3). */
  retries?: number;
  /** The first backoff; it doubles on each retry, with jitter (default 100 ms). */
  backoffMs?: number;
  /** Connections kept to the backend (default 64). */
  maxSockets?: number;
}

/** The backend answered with an S3 error that is not a matter of availability (e.g. NoSuchKey). */
export class BackendS3Error extends Error {
  constructor(
    readonly op: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(`blob backend ${op}: ${status} ${code}`);
    this.name = 'BackendS3Error';
  }
}

export interface S3Request {
  /** The operation's name, for errors and logs. */
  op: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD';
  /** Object key; undefined for a bucket-level call. */
  key?: string;
  /** The query string, already encoded ('uploads', 'partNumber=2&uploadId=…'). */
  query?: string;
  headers?: Record<string, string>;
  /** The body as chunks, with its SHA-256 in hex. */
  body?: { chunks: readonly Buffer[]; length: number; sha256: string };
}

/** Error documents and listings are read whole, up to this size. */
const MAX_XML_BYTES = 1024 * 1024;
const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'DELETE']);

const xml = new XMLParser({ parseTagValue: false, ignoreAttributes: true, isArray: (name) => name === 'Upload' || name === 'Contents' });

export class S3BackendClient {
  private readonly agent: HttpAgent;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly tls: boolean;

  constructor(
    readonly target: S3Target,
    opts: S3ClientOptions = {},
  ) {
    this.tls = target.endpoint.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
    this.agent = this.tls ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 3;
    this.backoffMs = opts.backoffMs ?? 100;
  }

  /** Where the backend is, for messages (no credentials). */
  get where(): string {
    return `${this.target.endpoint.origin}/${this.target.bucket}`;
  }

  /**
   * Sends a request and resolves with a 2xx response whose body is still unread (the
   * caller consumes or discards it). Non-2xx answers reject (BackendS3Error, or
   * BlobTierUnavailableError when the backend is down or refuses the credentials).
   */
  async send(r: S3Request): Promise<IncomingMessage> {
    const retries = RETRYABLE_METHODS.has(r.method) ? this.retries : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sendOnce(r);
      } catch (e) {
        const unavailable = e instanceof BlobTierUnavailableError;
        if (!unavailable || attempt >= retries) throw e;
        await sleep(this.backoffMs * 2 ** attempt * (0.5 + Math.random()));
      }
    }
  }

  /** send() for a call whose body is a small XML document; resolves with it parsed. */
  async sendForXml(r: S3Request): Promise<Record<string, unknown>> {
    const res = await this.send(r);
    const text = await readBounded(res, r.op);
    if (/<!DOCTYPE/i.test(text)) throw new BackendS3Error(r.op, res.statusCode ?? 0, 'MalformedXML');
    const doc = xml.parse(text) as Record<string, unknown>;
    // CompleteMultipartUpload may answer 200 with an error document.
    const err = doc.Error as { Code?: string } | undefined;
    if (err !== undefined) throw classify(r.op, 200, String(err.Code ?? 'InternalError'));
    return doc;
  }

  /** send() for a call whose answer body does not matter. */
  async sendAndDrain(r: S3Request): Promise<IncomingMessage> {
    const res = await this.send(r);
    res.resume();
    return res;
  }

  close(): void {
    this.agent.destroy();
  }

  private async sendOnce(r: S3Request, reusedRetry = true): Promise<IncomingMessage> {
    const { endpoint, bucket, forcePathStyle } = this.target;
    const keyPath = r.key === undefined ? '' : '/' + r.key.split('/').map(uriEncode).join('/');
    const host = forcePathStyle ? endpoint.host : `${bucket}.${endpoint.host}`;
    const path = (forcePathStyle ? `/${bucket}${keyPath}` : keyPath || '/') + (r.query ? `?${r.query}` : '');
    const headers: Record<string, string> = { host, ...r.headers };
    if (r.body !== undefined || r.method === 'PUT' || r.method === 'POST') headers['content-length'] = String(r.body?.length ?? 0);
    const signed = signRequest({
      method: r.method,
      rawUrl: path,
      headers,
      accessKeyId: this.target.accessKeyId,
      secretAccessKey: this.target.secretAccessKey,
      sessionToken: this.target.sessionToken,
      region: this.target.region,
      service: 's3',
      now: new Date(),
      payloadHash: r.body?.sha256,
    });
    const send = this.tls ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send({
        host: endpoint.hostname.replace(/^\[|\]$/g, ''),
        port: endpoint.port || (this.tls ? 443 : 80),
        method: r.method,
        path,
        headers: signed.headers as OutgoingHttpHeaders,
        agent: this.agent,
        servername: this.tls ? host.replace(/:\d+$/, '') : undefined,
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A kept-alive socket the backend had closed: the request never reached it, so send it once more.
        if (reusedRetry && req.reusedSocket && e.code === 'ECONNRESET') {
          this.sendOnce(r, false).then(resolve, reject);
          return;
        }
        reject(new BlobTierUnavailableError(`blob backend ${r.op}: ${e.code ?? 'connection failed'} (${this.where})`, { cause: e }));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(res);
          return;
        }
        if (r.method === 'HEAD') {
          res.resume();
          reject(classify(r.op, status, status === 404 ? 'NotFound' : `HTTP${status}`));
          return;
        }
        readBounded(res, r.op).then(
          (text) => reject(classify(r.op, status, /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1] ?? `HTTP${status}`)),
          () => reject(classify(r.op, status, `HTTP${status}`)),
        );
      });
      if (r.body === undefined) {
        req.end();
        return;
      }
      writeChunks(req, r.body.chunks).then(() => req.end(), (e: Error) => req.destroy(e));
    });
  }
}

/** A failed answer as the right error: availability (5xx, refused credentials) or the backend's own code. */
function classify(op: string, status: number, code: string): Error {
  if (status >= 500 || status === 401 || status === 403 || status === 429 || code === 'SlowDown') {
    return new BlobTierUnavailableError(`blob backend ${op}: ${status} ${code}`);
  }
  return new BackendS3Error(op, status, code);
}

async function writeChunks(req: NodeJS.WritableStream, chunks: readonly Buffer[]): Promise<void> {
  for (const c of chunks) {
    if (!req.write(c)) await new Promise<void>((resolve, reject) => {
      const done = (e?: Error) => {
        req.off('drain', done);
        req.off('error', done);
        if (e) reject(e);
        else resolve();
      };
      req.on('drain', done);
      req.on('error', done);
    });
  }
}

/** Reads a small response body whole (error documents, listings); a larger one is refused. */
export async function readBounded(res: IncomingMessage, op: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > MAX_XML_BYTES) {
      res.destroy();
      throw new BackendS3Error(op, res.statusCode ?? 0, 'ResponseTooLarge');
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
