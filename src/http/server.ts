// The Node listener — HTTP, or HTTPS when given a certificate. Every request gets a
// request id, then is handed to the service it is for: KMS (X-Amz-Target:
// TrentService.*), IAM and STS (the SigV4 credential scope names service iam or sts),
// and S3 for everything else. Slow and greedy clients are held to the listener's limits
// (ListenerLimits): headers and body idle timeouts, connection caps.

import { createServer, maxHeaderSize, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { capConnections, type ConnectionCaps } from './connection-caps.js';
import { trackConnections } from './drain.js';
import { holdBody, releaseBody } from './continue.js';
import { answeredByTransport, clientErrorResponse, watchBodyIdle, type WireFormat } from './slow-clients.js';
import { isHealthPath } from './health.js';
import { beginAccess, noteAccess } from './access-log.js';
import type { InFlightRequests } from './in-flight.js';
import type { Logger } from 'pino';

export interface ServiceHandlers {
  s3(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  kms?(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  iam?(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  sts?(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  /** Coffer's administration API: any request under /_coffer/api/ (src/admin/). */
  admin?(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  /**
   * Unsigned GETs of Coffer's own pages: the console (/console, /console/...) and the
   * Prometheus metrics (/metrics). Answers false when it does not serve the path, and the
   * request goes on to S3 (a signed request never comes here).
   */
  pages?(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<boolean>;
  /** Last-resort failure (a bug in a handler's own error path). */
  fail(err: unknown, requestId: string): void;
}

// Request ids need to be unique, not secret: a random per-process prefix and a counter
// (a CSPRNG call per request was ~4% of a small GET). 16 upper-case hex digits, like S3's.
let idPrefix = '';
let idCounter = 0x1_0000_0000; // forces a prefix on first use
/** x-amz-id-2: 24 bytes in base64 like S3's; 16 random per process, then the request id's 8. */
const hostId = Buffer.alloc(24);

function rollPrefix(): void {
  const r = randomBytes(24);
  idPrefix = r.toString('hex', 0, 4).toUpperCase();
  idCounter = r.readUInt32BE(4);
  r.copy(hostId, 0, 8, 24);
}

export function newRequestId(): string {
  if (idCounter >= 0x1_0000_0000) rollPrefix();
  const n = idCounter++;
  return idPrefix + n.toString(16).toUpperCase().padStart(8, '0');
}

/** The x-amz-id-2 of a request id from newRequestId. */
function extendedRequestId(requestId: string): string {
  hostId.write(requestId, 16, 8, 'hex');
  return hostId.toString('base64');
}

/**
 * The service a SigV4 request is signed for: the 4th field of the credential scope
 * (AKID/DATE/REGION/SERVICE/aws4_request), from the Authorization header or a
 * presigned URL's X-Amz-Credential. Undefined for anything else.
 */
export function scopeService(authorization: string | string[] | undefined, url: string | undefined): string | undefined {
  if (typeof authorization === 'string') return /Credential=[^/,\s]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(authorization)?.[1];
  const qi = url?.indexOf('X-Amz-Credential=') ?? -1;
  if (qi < 0) return undefined;
  const cred = decodeURIComponent(url!.slice(qi + 17).split('&')[0] ?? '');
  return cred.split('/')[3];
}

/** /console, /console/..., /metrics, the health endpoints (with or without a query string). */
function isPagePath(url: string): boolean {
  const path = url.split('?', 1)[0]!;
  return path === '/console' || path.startsWith('/console/') || path === '/metrics' || isHealthPath(path);
}

/** POST / with a form body, or / with an Action parameter: the AWS Query protocol (IAM, STS), never an S3 request. */
function isQueryApiCall(req: IncomingMessage): boolean {
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  if ((qi < 0 ? url : url.slice(0, qi)) !== '/') return false;
  if (qi >= 0 && /(?:^|&)Action=/.test(url.slice(qi + 1))) return true;
  return req.method === 'POST' && /^application\/x-www-form-urlencoded\b/i.test(String(req.headers['content-type'] ?? ''));
}

/** PEM certificate (chain) and unencrypted private key; see config/tls-files.ts. */
export interface TlsOptions {
  cert: Buffer;
  key: Buffer;
}

/** How long a slow client may take, and how many connections clients may hold (config: COFFER_*). */
export interface ListenerLimits {
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  connections: ConnectionCaps;
}

export function createCofferServer(handlers: ServiceHandlers, tls: TlsOptions | undefined, opts: { isBucketHost?: (host: string | undefined) => boolean; limits: ListenerLimits; accessLog?: Logger; serverHeader?: string; inFlight?: InFlightRequests }): Server {
  const { limits } = opts;
  const run = (format: WireFormat, handler: (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<void>, req: IncomingMessage, res: ServerResponse, requestId: string): void => {
    noteAccess(res, { service: format, quiet: false });
    watchBodyIdle(req, res, limits.bodyIdleTimeoutMs, format, requestId);
    // S3 authenticates from the headers and sends 100 Continue itself (s3/handler.ts).
    if (format !== 's3') releaseBody(res);
    const ended = opts.inFlight?.begin();
    handler(req, res, requestId).catch((err) => failed(err, requestId, res)).finally(ended);
  };
  const listener: RequestListener = (req, res) => {
    const requestId = newRequestId();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', extendedRequestId(requestId));
    res.setHeader('server', opts.serverHeader ?? 'Coffer');
    if (opts.accessLog) beginAccess(opts.accessLog, req, res, requestId);
    const target = req.headers['x-amz-target'];
    const url = req.url ?? '/';
    // Coffer's own paths exist on the server's own host only: on a virtual-hosted bucket's
    // host (bucket.<domain>) the same paths are object keys.
    const own = !opts.isBucketHost?.(req.headers.host);
    if (own && url.startsWith('/_coffer/') && handlers.admin) {
      run('admin', handlers.admin, req, res, requestId);
      return;
    }
    if (own && handlers.pages && (req.method === 'GET' || req.method === 'HEAD') && req.headers.authorization === undefined && !url.includes('X-Amz-Credential=') && !url.includes('AWSAccessKeyId=') && isPagePath(url)) {
      const path = url.split('?', 1)[0]!;
      noteAccess(res, { service: 'page', operation: path, quiet: isHealthPath(path) });
      handlers.pages(req, res, requestId).then(
        (served) => {
          if (!served) run('s3', handlers.s3, req, res, requestId);
        },
        (err) => failed(err, requestId, res),
      );
      return;
    }
    if (typeof target === 'string' && target.startsWith('TrentService.') && handlers.kms) return run('kms', handlers.kms, req, res, requestId);
    const service = scopeService(req.headers.authorization, req.url);
    if (service === 'iam' && handlers.iam) return run('iam', handlers.iam, req, res, requestId);
    if (service === 'sts' && handlers.sts) return run('sts', handlers.sts, req, res, requestId);
    // An IAM or STS Query call whose credential scope cannot be read (malformed, or none):
    // not S3's (S3 has no form POST to /), so STS's handler answers it in the Query API's
    // error shape, handing it to IAM when its Action is IAM's (iam/api/handler.ts).
    if (own && service === undefined && handlers.sts && isQueryApiCall(req)) return run('sts', handlers.sts, req, res, requestId);
    run('s3', handlers.s3, req, res, requestId);
  };
  const failed = (err: unknown, requestId: string, res: ServerResponse): void => {
    if (!answeredByTransport(res)) handlers.fail(err, requestId);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-length': '0' });
      res.end();
    } else {
      res.destroy();
    }
  };
  // requestTimeout stays 0: a 5 GiB upload may rightly take hours; a stalled one is cut by
  // the body idle timeout instead. Node checks the headers timeout every
  // connectionsCheckingInterval, so that runs often enough for the timeout to mean it.
  const options = {
    keepAliveTimeout: 65_000,
    requestTimeout: 0,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(5_000, Math.ceil(limits.headersTimeoutMs / 4)),
  };
  // HTTP/1.1 only (no ALPN h2), as S3 clients expect. A client that speaks plain HTTP to
  // this port fails its TLS handshake and is disconnected.
  const server = tls ? createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, listener) : createServer(options, listener);
  capConnections(server, limits.connections);
  trackConnections(server);
  // Expect: 100-continue — the handler decides when to ask for the body (http/continue.ts).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    holdBody(res);
    listener(req, res);
  });
  // A client Node's parser gave up on (headers too large or too slow, bad syntax) gets S3's
  // error document instead of Node's bare status line, then the connection is closed.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const requestId = newRequestId();
    const response = socket.writable && socket.bytesWritten === 0
      ? clientErrorResponse(err.code, socket.bytesRead, requestId, extendedRequestId(requestId), maxHeaderSize)
      : undefined;
    if (response === undefined) socket.destroy();
    else socket.end(response, () => socket.destroy());
  });
  return server;
}
