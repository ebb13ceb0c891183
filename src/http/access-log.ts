// The access log: one structured line per request, written when the response ends (or the
// connection closes first). The listener (server.ts) starts the record; each service adds
// what only it knows — its operation, the principal, the bucket and key or the KMS key,
// the error code — through noteAccess, once it knows it. Never logged: headers (so no
// Authorization, no SSE-C key), bodies, and the signature, credential and session token
// of a presigned URL (stripped from the logged URL by redactUrl).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** What a service tells the access log about a request. */
export interface AccessFacts {
  service?: 's3' | 'kms' | 'iam' | 'sts' | 'admin' | 'page';
  operation?: string;
  principal?: string;
  bucket?: string;
  key?: string;
  kmsKeyId?: string;
  errorCode?: string;
  /** Logged at debug rather than info: health probes, which arrive every few seconds. */
  quiet?: boolean;
}

const facts = new WeakMap<ServerResponse, AccessFacts>();

/** Adds facts to the request's access-log line (a no-op when the access log is off). */
export function noteAccess(res: ServerResponse, more: AccessFacts): void {
  const f = facts.get(res);
  if (f !== undefined) Object.assign(f, more);
}

/** Query parameters that carry credentials: never written to a log. */
const SECRET_PARAMS = new Set(['x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'signature', 'awsaccesskeyid', 'x-amz-server-side-encryption-customer-key']);

/** The URL without the query parameters that carry credentials. */
export function redactUrl(url: string): string {
  const qi = url.indexOf('?');
  if (qi < 0) return url;
  const kept = url.slice(qi + 1).split('&').filter((pair) => {
    const name = pair.split('=', 1)[0]!;
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // keep the raw name
    }
    return !SECRET_PARAMS.has(decoded.toLowerCase());
  });
  return kept.length ? `${url.slice(0, qi)}?${kept.join('&')}` : url.slice(0, qi);
}

/** Starts the access-log line of one request; it is written when the response closes. */
export function beginAccess(log: Logger, req: IncomingMessage, res: ServerResponse, requestId: string): void {
  const started = performance.now();
  const f: AccessFacts = {};
  facts.set(res, f);
  res.once('close', () => {
    const finished = res.writableFinished;
    const inLen = Number(req.headers['content-length']);
    const outLen = Number(res.getHeader('content-length'));
    (f.quiet ? log.debug : log.info).call(log, {
      access: true,
      requestId,
      method: req.method,
      url: redactUrl(req.url ?? '/'),
      service: f.service,
      operation: f.operation,
      principal: f.principal,
      bucket: f.bucket,
      key: f.key,
      kmsKeyId: f.kmsKeyId,
      // 0: the connection closed before the response ended
      status: finished ? res.statusCode : 0,
      errorCode: f.errorCode,
      bytesIn: inLen > 0 ? inLen : 0,
      bytesOut: finished && req.method !== 'HEAD' && outLen > 0 ? outLen : 0,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      remote: req.socket.remoteAddress,
    }, 'request');
  });
}
