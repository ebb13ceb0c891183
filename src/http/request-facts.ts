// What a request's signature and connection tell a policy: read once per request by the S3
// handler (and the admin API, whose re-wrap route stands for S3 writes), and presented as
// the condition keys AWS presents on every S3 action (s3/request-facts.ts; the Service
// Authorization Reference lists them on each one; their values are those of "Amazon S3
// Signature Version 4 authentication specific policy keys"):
//
//   s3:authType               REST-HEADER (an Authorization header, SigV2 or SigV4),
//                             REST-QUERY-STRING (a presigned URL), POST (a browser form);
//                             absent for an anonymous request
//   s3:signatureversion       AWS (SigV2) or AWS4-HMAC-SHA256 (SigV4); absent for an anonymous request
//   s3:signatureAge           milliseconds since a presigned URL was signed (its X-Amz-Date);
//                             0 for a SigV2 URL, which has no signing time; absent otherwise
//                             (AWS: "This condition works only for presigned URLs")
//   s3:x-amz-content-sha256   the header as sent (a digest, UNSIGNED-PAYLOAD, STREAMING-...)
//   s3:TlsVersion             the connection's TLS version as a number (1.2, 1.3); absent over HTTP
//
// They are facts of the request, read once (requestFacts) and carried to every decision it
// makes (S3Access.facts); PostObject replaces them with its form's (postFacts).

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AuthResult } from '../auth/types.js';
import { parseAmzDate } from '../auth/sigv4.js';

export interface RequestFacts {
  authType?: 'REST-HEADER' | 'REST-QUERY-STRING' | 'POST' | undefined;
  signatureVersion?: 'AWS' | 'AWS4-HMAC-SHA256' | undefined;
  /** Milliseconds, for a presigned URL only. */
  signatureAge?: number | undefined;
  contentSha256?: string | undefined;
  tlsVersion?: number | undefined;
}

/** The facts of a request authenticated as `auth` (`v2`: by SigV2), at `now` (ms). */
export function requestFacts(req: IncomingMessage, query: URLSearchParams, auth: AuthResult, v2: boolean, now = Date.now()): RequestFacts {
  const sha = req.headers['x-amz-content-sha256'];
  const facts: RequestFacts = { contentSha256: Array.isArray(sha) ? sha.join(',') : sha, tlsVersion: tlsVersionOf(req) };
  if (auth.anonymous) return facts;
  facts.authType = auth.presigned ? 'REST-QUERY-STRING' : 'REST-HEADER';
  facts.signatureVersion = v2 ? 'AWS' : 'AWS4-HMAC-SHA256';
  if (auth.presigned) {
    const signedAt = v2 ? now : parseAmzDate(query.get('X-Amz-Date') ?? '');
    // Authentication refused a date in the future beyond the allowed skew; one within it is age 0.
    if (signedAt !== undefined) facts.signatureAge = Math.max(0, now - signedAt);
  }
  return facts;
}

/** The facts of a POST form upload signed with SigV2 (`v2`) or SigV4. */
export function postFacts(req: IncomingMessage, v2: boolean): RequestFacts {
  return { authType: 'POST', signatureVersion: v2 ? 'AWS' : 'AWS4-HMAC-SHA256', tlsVersion: tlsVersionOf(req) };
}

/** TLSv1.3 → 1.3, TLSv1 → 1; undefined over plain HTTP. */
function tlsVersionOf(req: IncomingMessage): number | undefined {
  const socket = req.socket as Partial<TLSSocket> | null;
  if (socket?.encrypted !== true || typeof socket.getProtocol !== 'function') return undefined;
  const m = /^TLSv(\d+(?:\.\d+)?)$/.exec(socket.getProtocol() ?? '');
  return m ? Number(m[1]) : undefined;
}
