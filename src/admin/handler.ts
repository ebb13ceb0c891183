// Coffer's own administration API, for the console and the CLI: JSON over HTTP under
// /_coffer/api/<route>. Requests are signed with SigV4 like every other call (credential
// scope service "coffer", the server's region), and each route is authorized as one IAM
// action of the signer (the AWS action of the nearest AWS API where there is one, e.g.
// cloudtrail:LookupEvents for audit queries): identity policies and the session policy,
// the root may do anything. Errors answer {"__type": code, "message": text}, as KMS's.
//
// The routes (route.ts) live beside the module they serve; app.ts adds them to the
// AdminRoutes (routes.ts) this handler is given.

import { noteAccess } from '../http/access-log.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, signingAccessKeyId } from '../auth/sigv4.js';
import type { CredentialLookup, Principal } from '../auth/types.js';
import { ServiceError, isServiceError } from '../errors.js';
import { transportOf } from '../http/transport.js';
import { readBoundedBody } from '../http/bounded-body.js';
import type { NamedPolicy } from '../iam/policy/index.js';
import { accessDeniedMessage, authorize } from '../iam/policy/index.js';
import { requestPrincipal } from '../iam/principal.js';
import { ADMIN_PREFIX, adminError, type AdminRequest, type AdminRoute } from './route.js';
import type { AdminRoutes } from './routes.js';
import { MAX_JSON_DEPTH, MAX_JSON_STRING, parseBoundedJson } from '../http/json-body.js';
import { requestFacts } from '../http/request-facts.js';
import type { Logger } from 'pino';

const MAX_BODY = 1024 * 1024;

export interface AdminApiOptions {
  routes: AdminRoutes;
  lookup: CredentialLookup;
  prepareCredential: (accessKeyId: string | undefined) => Promise<void>;
  identityPolicies: (p: Principal) => Promise<NamedPolicy[]>;
  sessionPolicy: (p: Principal) => NamedPolicy | undefined;
  region: string;
  accountId: string;
  log: Logger;
}

/** The body of a JSON route, parsed under bounds (http/json-body.ts), or a 400 ValidationException. */
function jsonObject(body: Buffer): Record<string, unknown> {
  const r = parseBoundedJson(body.length === 0 ? '{}' : body.toString('utf8'));
  if (r.ok) {
    const v = r.value;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } else if (r.failure.kind === 'depth') {
    throw adminError('ValidationException', `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
  } else if (r.failure.kind === 'string') {
    throw adminError('ValidationException', `1 validation error detected: Value at '${r.failure.path}' failed to satisfy constraint: Member must have length less than or equal to ${MAX_JSON_STRING}`);
  }
  throw adminError('ValidationException', 'The request body must be a JSON object.');
}

export async function handleAdminApi(opts: AdminApiOptions, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  try {
    const rawUrl = req.url ?? '/';
    const qi = rawUrl.indexOf('?');
    let path: string;
    try {
      path = decodeURIComponent((qi < 0 ? rawUrl : rawUrl.slice(0, qi)).slice(ADMIN_PREFIX.length));
    } catch {
      throw adminError('ValidationException', 'The request path is not valid percent-encoding.');
    }
    const query = new URLSearchParams(qi < 0 ? '' : rawUrl.slice(qi + 1));
    const body = await readBody(req, res);
    await opts.prepareCredential(signingAccessKeyId(req.headers.authorization, rawUrl));
    let auth;
    try {
      auth = authenticate({ method: req.method ?? 'GET', rawUrl, headers: req.headers, rawHeaders: req.rawHeaders, body }, { region: opts.region, service: 'coffer', lookup: opts.lookup });
    } catch (e) {
      if (isServiceError(e)) throw adminError(e.code, e.message, e.status);
      throw e;
    }
    if (auth.anonymous) throw adminError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
    const route = opts.routes.match(req.method, path);
    const principal = auth.credential.principal;
    noteAccess(res, { operation: `${req.method} ${path}`, principal: principal.arn });
    const transport = transportOf(req);
    const r: AdminRequest = {
      principal,
      query,
      body,
      json: () => jsonObject(body),
      requestId,
      caller: {
        principal,
        requestId,
        sourceIp: transport.sourceIp,
        secureTransport: transport.secure,
        userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
      },
      facts: requestFacts(req, query, auth, false),
    };
    await authorizeAdmin(opts, route, r);
    send(res, 200, (await route.run(r)) ?? {});
  } catch (e) {
    let err: ServiceError;
    if (isServiceError(e)) err = e;
    else {
      opts.log.error({ err: e, requestId }, 'internal error');
      err = adminError('InternalFailure', 'The request processing has failed because of an unknown error.', 500);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    noteAccess(res, { errorCode: err.code });
    send(res, err.status, { __type: err.code, message: err.message });
  }
}

async function authorizeAdmin(opts: AdminApiOptions, route: AdminRoute, r: AdminRequest): Promise<void> {
  if (r.principal.kind === 'root' || route.action === null) return;
  const ctx = {
    principal: requestPrincipal(r.principal),
    action: route.action,
    resource: route.resource?.(r) ?? '*',
    conditions: {
      'aws:SourceIp': r.caller.sourceIp,
      'aws:SecureTransport': r.caller.secureTransport ? 'true' : 'false',
      'aws:CurrentTime': new Date().toISOString(),
      'aws:PrincipalArn': r.principal.kind === 'assumed-role' ? r.principal.roleArn : r.principal.arn,
    },
  };
  const decision = authorize({
    identityPolicies: await opts.identityPolicies(r.principal),
    resourcePolicies: [],
    sessionPolicy: opts.sessionPolicy(r.principal),
    ctx,
    resourceAccountId: opts.accountId,
    resourcePolicyMode: 's3',
  });
  if (decision.effect !== 'Allow') throw adminError('AccessDeniedException', accessDeniedMessage(ctx, decision), 403);
}

function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
  return readBoundedBody(req, res, MAX_BODY, () => adminError('ValidationException', 'The request body is larger than 1 MiB.', 413));
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
