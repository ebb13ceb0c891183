// The IAM and STS endpoints (AWS Query protocol) on the server's one port, chosen by
// the SigV4 credential scope's service (http/server.ts). Reads the small form body,
// authenticates it (service "iam" or "sts"; region us-east-1, where AWS signs IAM, or
// the server's), authorizes once from the operation table (the root may do anything;
// other callers need an identity policy allowing iam:<Action> on the resource ARN,
// within any session policy), runs the operation and answers XML.
//
// Management writes (audit.ts: IAM's mutating calls, STS AssumeRole and GetSessionToken)
// are audited as the KMS's calls are: the log is asked whether it can be written before
// the call is authorized or runs (refused if not: nothing changes), and the answer —
// success or refusal — goes out only once the call's event is durable.

import { noteAccess } from '../../http/access-log.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { authenticate, signingAccessKeyId } from '../../auth/sigv4.js';
import type { CredentialLookup, Principal } from '../../auth/types.js';
import { ServiceError, isServiceError } from '../../errors.js';
import { isStorageFull } from '../../storage/storage-full.js';
import { isDatabaseUnavailable } from '../../storage/postgres/unavailable.js';
import { requestPrincipal } from '../principal.js';
import { accessDeniedMessage, authorize } from '../policy/index.js';
import { IAM_API_OPERATIONS, STS_API_OPERATIONS } from './aws-operations.js';
import type { ApiContext, IamApiServices, QueryOperation } from './context.js';
import { IAM_OPERATIONS, STS_OPERATIONS } from './operations.js';
import { Params, errorXml, queryError, resultXml } from './query.js';
import { parseQueryForm } from './form.js';
import { secretsOverHttpRefusal, transportOf } from '../../http/transport.js';
import { readBoundedBody } from '../../http/bounded-body.js';
import { scopeService } from '../../http/server.js';
import { AuditUnavailableError, type AuditSink } from '../../audit/sink.js';
import { callEvent, recordedSource, safeParameters, type CallRecord } from './audit.js';

const MAX_BODY = 1024 * 1024;

const SERVICES = {
  iam: { version: '2010-05-08', namespace: 'https://iam.amazonaws.com/doc/2010-05-08/', ops: IAM_OPERATIONS, all: IAM_API_OPERATIONS, name: 'IAM' },
  sts: { version: '2011-06-15', namespace: 'https://sts.amazonaws.com/doc/2011-06-15/', ops: STS_OPERATIONS, all: STS_API_OPERATIONS, name: 'STS' },
} as const;

export interface IamHandlerOptions extends IamApiServices {
  lookup: CredentialLookup;
  prepareCredential(accessKeyId: string | undefined, service: string): Promise<void>;
  log: Logger;
  /** The audit log (through the meter, which counts only KMS events): management writes are recorded here. */
  audit: AuditSink;
  /** Send access keys and credentials over plain HTTP to non-loopback clients too (config allowSecretsOverHttp). */
  allowSecretsOverHttp: boolean;
}

/** The operations whose response carries a secret, and what it is: refused over plain HTTP from afar (http/transport.ts). */
const SECRET_RESPONSES: Record<'iam' | 'sts', ReadonlyMap<string, string>> = {
  iam: new Map([['CreateAccessKey', 'a secret access key']]),
  sts: new Map([['AssumeRole', 'temporary credentials'], ['GetSessionToken', 'temporary credentials']]),
};

export async function handleQueryApi(routed: 'iam' | 'sts', opts: IamHandlerOptions, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  let service = routed;
  let svc: (typeof SERVICES)[typeof service] = SERVICES[service];
  let action = '';
  try {
    const body = await readBody(req, res);
    const rawUrl = req.url ?? '/';
    const qi = rawUrl.indexOf('?');
    const form = parseQueryForm(qi < 0 ? '' : rawUrl.slice(qi + 1), body.toString('utf8'));
    action = form.get('Action') ?? '';
    noteAccess(res, { operation: action });
    // A call whose credential scope cannot be read (http/server.ts sends it here) belongs
    // to the service of its Action, which answers in its own words (IncompleteSignature …).
    if (scopeService(req.headers.authorization, rawUrl) === undefined && IAM_API_OPERATIONS.has(action)) {
      service = 'iam';
      svc = SERVICES.iam;
    }

    await opts.prepareCredential(signingAccessKeyId(req.headers.authorization, rawUrl), service);
    const principal = authenticateQuery(service, opts, req, body);
    noteAccess(res, { principal: principal.arn });
    const secret = SECRET_RESPONSES[service].get(action);
    const refusal = secret && secretsOverHttpRefusal(transportOf(req), opts.allowSecretsOverHttp, action, secret);
    if (refusal) throw queryError('AccessDenied', refusal);

    const version = form.get('Version');
    const op: QueryOperation | undefined = Object.hasOwn(svc.ops, action) ? svc.ops[action] : undefined;
    if (!op || (version !== null && version !== svc.version)) {
      if (svc.all.has(action) && (version === null || version === svc.version)) {
        throw queryError('NotImplemented', `Coffer does not implement the ${svc.name} operation ${action}.`);
      }
      throw queryError('InvalidAction', `Could not find operation ${action} for version ${version ?? svc.version}`);
    }
    const transport = transportOf(req);
    const source = recordedSource(service, action);
    const record: CallRecord | undefined = source && {
      source, action, principal, requestId, sourceIp: transport.sourceIp,
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
      params: safeParameters(form),
    };
    if (record) await durably(service, opts, record, () => opts.audit.checkWritable());
    let result;
    try {
      // GetSessionToken credentials (no MFA here) may not call IAM, and on STS only
      // AssumeRole and GetCallerIdentity, as in AWS.
      if (principal.temporary && principal.kind !== 'assumed-role') {
        if (service === 'iam') throw queryError('InvalidClientTokenId', 'The security token included in the request is invalid');
        if (action !== 'AssumeRole' && action !== 'GetCallerIdentity') throw queryError('AccessDenied', `Cannot call ${action} with session credentials`);
      }
      const params = new Params(form);
      const c: ApiContext = {
        ...opts,
        principal,
        requestId,
        sourceIp: transport.sourceIp,
        secureTransport: transport.secure,
        now: Date.now(),
      };
      if (service === 'iam') await authorizeIam(c, op, params);
      try {
        result = await op.run(c, params);
      } finally {
        opts.directory.changed(); // its writes apply to the next request at once
      }
    } catch (e) {
      if (record) {
        const err = isServiceError(e) ? e : { code: 'ServiceFailure', message: 'The request processing has failed because of an unknown error, exception or failure.' };
        await durably(service, opts, record, () => opts.audit.record(callEvent(record, { code: err.code, message: err.message })));
      }
      throw e;
    }
    if (record) await durably(service, opts, record, () => opts.audit.record(callEvent(record)));
    send(res, 200, resultXml(svc.namespace, action, result, requestId));
  } catch (e) {
    let err: ServiceError;
    if (isServiceError(e)) err = e;
    else if (isStorageFull(e)) {
      // IAM's own code for a failure on its side, with 507 so that SDKs do not retry into the full disk (docs/COMPATIBILITY.md).
      opts.log.error({ err: e, requestId, action }, 'out of disk space');
      err = new ServiceError('ServiceFailure', 'The IAM store has no space left on its disk. Free disk space on the server, then try again.', 507);
    } else if (isDatabaseUnavailable(e)) {
      // IAM's own code for a failure on its side (500, which SDKs retry); STS's ServiceUnavailable (503).
      opts.log.error({ err: e, requestId, action }, 'IAM store database unavailable');
      const message = 'The IAM store cannot be reached. Try again later.';
      err = svc.name === 'STS' ? new ServiceError('ServiceUnavailable', message, 503) : new ServiceError('ServiceFailure', message, 500);
    } else {
      opts.log.error({ err: e, requestId, action }, 'internal error');
      err = new ServiceError('ServiceFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    noteAccess(res, { errorCode: err.code });
    send(res, err.status, errorXml(svc.namespace, err, requestId));
  }
}

/**
 * Runs an audit step; a log that cannot be written refuses the call (fail closed): IAM's
 * ServiceFailure (500), STS's ServiceUnavailable (503), the reason in the server log.
 */
async function durably(service: 'iam' | 'sts', opts: IamHandlerOptions, r: CallRecord, step: () => void | Promise<void>): Promise<void> {
  try {
    await step();
  } catch (e) {
    // A cluster's trail is in PostgreSQL: while the database is away the handler answers as for any of its stores.
    if (!(e instanceof AuditUnavailableError) || isDatabaseUnavailable(e)) throw e;
    opts.log.warn({ requestId: r.requestId, action: r.action }, `${service.toUpperCase()} request refused: the audit log cannot be written`);
    // A full disk is answered as everywhere else (507, which SDKs do not retry into it).
    if (isStorageFull(e)) throw new ServiceError('ServiceFailure', 'The request was refused because the audit log has no space left on its disk. Free disk space on the server, then try again.', 507);
    const message = 'The request was refused because the audit log cannot be written.';
    throw service === 'iam' ? new ServiceError('ServiceFailure', message, 500) : new ServiceError('ServiceUnavailable', message, 503);
  }
}

/** One decision, first: the root may do anything; anyone else needs an identity policy allowing the action. */
async function authorizeIam(c: ApiContext, op: QueryOperation, p: Params): Promise<void> {
  if (op.action === null || c.principal.kind === 'root') return;
  const resource = await op.resource(c, p);
  const ctx = {
    principal: requestPrincipal(c.principal),
    action: op.action,
    resource,
    conditions: {
      'aws:SourceIp': c.sourceIp,
      'aws:SecureTransport': c.secureTransport ? 'true' : 'false',
      'aws:CurrentTime': new Date(c.now).toISOString(),
      'aws:PrincipalArn': c.principal.kind === 'assumed-role' ? c.principal.roleArn : c.principal.arn,
    },
  };
  const decision = authorize({
    identityPolicies: await c.directory.identityPolicies(c.principal),
    resourcePolicies: [],
    sessionPolicy: c.directory.sessionPolicy(c.principal),
    ctx,
    resourceAccountId: c.accountId,
    resourcePolicyMode: 's3',
  });
  if (decision.effect !== 'Allow') throw queryError('AccessDenied', accessDeniedMessage(ctx, decision));
}

function authenticateQuery(service: 'iam' | 'sts', opts: IamHandlerOptions, req: IncomingMessage, body: Buffer): Principal {
  // IAM is global and signed for us-east-1; clients pointed at this server may also sign with its region.
  const scopeRegion = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
  const region = scopeRegion === 'us-east-1' || scopeRegion === opts.region ? scopeRegion : opts.region;
  let auth;
  try {
    auth = authenticate({ method: req.method ?? 'POST', rawUrl: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body }, { region, service, lookup: opts.lookup });
  } catch (e) {
    throw translateAuthError(e);
  }
  if (auth.anonymous) throw queryError('MissingAuthenticationToken', 'Request is missing Authentication Token');
  return auth.credential.principal;
}

/** SigV4 failures in IAM's and STS's vocabulary. */
function translateAuthError(e: unknown): unknown {
  if (!isServiceError(e)) return e;
  switch (e.code) {
    case 'InvalidAccessKeyId':
    case 'InvalidToken':
      return queryError('InvalidClientTokenId', 'The security token included in the request is invalid.');
    case 'ExpiredToken':
      return queryError('ExpiredToken', 'The security token included in the request is expired');
    case 'SignatureDoesNotMatch':
      return queryError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
    case 'RequestTimeTooSkewed':
      return queryError('SignatureDoesNotMatch', 'Signature expired: the request time is outside the allowed 15 minutes of the server time.');
    default:
      return queryError('IncompleteSignature', e.message);
  }
}

function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
  return readBoundedBody(req, res, MAX_BODY, () => queryError('ValidationError', 'Request body too large'));
}

function send(res: ServerResponse, status: number, xml: string): void {
  const buf = Buffer.from(xml, 'utf8');
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': String(buf.length) });
  res.end(buf);
}
