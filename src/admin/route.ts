// One route of Coffer's administration API (src/admin/): what a route declares (method,
// path, the IAM action it is authorized as) and what it receives. Routes live beside the
// module they serve (audit/, metering/, s3/rewrap/) and app.ts adds them to AdminRoutes;
// the handler (handler.ts) authenticates and authorizes before a route runs.

import type { Principal } from '../auth/types.js';
import { ServiceError } from '../errors.js';
import type { AuditCaller } from '../audit/sink.js';
import type { RequestFacts } from '../http/request-facts.js';

/** Bucket names cannot start with "_", so this prefix never hides a bucket. */
export const ADMIN_PREFIX = '/_coffer/api/';

export interface AdminRequest {
  principal: Principal;
  /** The query string of the request. */
  query: URLSearchParams;
  /** The request body (at most 1 MiB). */
  body: Buffer;
  /** The body as a JSON object, or a 400 ValidationException. */
  json(): Record<string, unknown>;
  requestId: string;
  /** The caller as the services see it (KMS's Caller), for routes that act on the signer's behalf. */
  caller: AuditCaller & { secureTransport: boolean };
  /** How the request was signed and carried: a route standing for S3 actions decides them with these (s3:signatureversion, ...). */
  facts: RequestFacts;
}

export interface AdminRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path after /_coffer/api/, e.g. "audit/events". */
  path: string;
  /** The IAM action the signer needs, e.g. "cloudtrail:LookupEvents"; null: any signed caller (like sts:GetCallerIdentity). */
  action: string | null;
  /** The resource ARN the action is authorized on ("*" when none). */
  resource?: (r: AdminRequest) => string;
  /** The JSON-serializable result (status 200), or a ServiceError thrown. */
  run(r: AdminRequest): Promise<unknown>;
}

/** An error answered as {"__type": code, "message": text}. */
export function adminError(code: string, message: string, status = 400): ServiceError {
  return new ServiceError(code, message, status);
}
