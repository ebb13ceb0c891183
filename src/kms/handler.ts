// The KMS JSON 1.1 protocol: POST / with X-Amz-Target: TrentService.<Op>. Reads the
// small JSON body, authenticates it (SigV4, service "kms"), converts base64 blob
// members to Buffers, runs the operation through callKms, and answers JSON —
// errors as {"__type": code, "message": text}.

import { noteAccess } from '../http/access-log.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, signingAccessKeyId } from '../auth/sigv4.js';
import type { CredentialLookup } from '../auth/types.js';
import { ServiceError, isServiceError } from '../errors.js';
import { isStorageFull } from '../storage/storage-full.js';
import { isDatabaseUnavailable } from '../storage/postgres/unavailable.js';
import type { Caller, KmsService } from './service.js';
import { callKms } from './dispatch.js';
import { kmsError } from './errors.js';
import { BLOB_INPUTS, type KmsInput } from './operation.js';
import { secretsOverHttpRefusal, transportOf } from '../http/transport.js';
import { readBoundedBody } from '../http/bounded-body.js';
import { MAX_JSON_DEPTH, MAX_JSON_STRING, parseBoundedJson } from '../http/json-body.js';

const MAX_BODY = 1024 * 1024;

export interface KmsHandlerOptions {
  service: KmsService;
  lookup: CredentialLookup;
  region: string;
  /** Loads the credential of the access key a request names, before the synchronous SigV4 check. */
  prepareCredential?: (accessKeyId: string | undefined, iamVersion?: Promise<string>) => Promise<void>;
  /** A reading of IAM's version for this request when it is a round trip (PostgreSQL), shared by prepareCredential and authorization. */
  iamVersion?: () => Promise<string> | undefined;
  /** Whether prepareCredential has nothing to do for this access key (then it is not called: no promise hop). */
  credentialReady?: (accessKeyId: string | undefined) => boolean;
  /** Send plaintext over plain HTTP to non-loopback clients too (config allowSecretsOverHttp). */
  allowSecretsOverHttp: boolean;
}

/** The operations whose response carries plaintext: refused over plain HTTP from afar (http/transport.ts). */
const PLAINTEXT_OPERATIONS: ReadonlySet<string> = new Set(['Decrypt', 'GenerateDataKey', 'GenerateDataKeyPair', 'GenerateRandom']);

export async function handleKms(opts: KmsHandlerOptions, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  let operation = '';
  try {
    const target = String(req.headers['x-amz-target'] ?? '');
    operation = target.slice('TrentService.'.length);
    noteAccess(res, { operation });
    if (req.method !== 'POST') throw kmsError('UnknownOperationException');
    if (PLAINTEXT_OPERATIONS.has(operation)) {
      const refusal = secretsOverHttpRefusal(transportOf(req), opts.allowSecretsOverHttp, operation, 'plaintext');
      if (refusal) throw kmsError('AccessDeniedException', refusal);
    }
    const body = await readBody(req, res);
    const accessKeyId = signingAccessKeyId(req.headers.authorization, req.url ?? '/');
    let iamVersion: Promise<string> | undefined;
    if (opts.prepareCredential && !opts.credentialReady?.(accessKeyId)) {
      iamVersion = opts.iamVersion?.();
      await opts.prepareCredential(accessKeyId, iamVersion);
    }
    const auth = authenticateKms(opts, req, body);
    const input = decodeKmsInput(body);
    noteAccess(res, { principal: auth.principal.arn, kmsKeyId: typeof input.KeyId === 'string' ? input.KeyId : undefined });
    const transport = transportOf(req);
    const caller: Caller = {
      principal: auth.principal,
      requestId,
      sourceIp: transport.sourceIp,
      secureTransport: transport.secure,
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : undefined,
    };
    if (iamVersion !== undefined) caller.iamVersion = iamVersion;
    const out = await callKms(opts.service, caller, operation, input);
    sendJsonText(res, 200, answerJson(out));
    // The plaintext the answer carried (a data key, a decrypted secret) is in the response now: not kept in this buffer.
    if (Buffer.isBuffer(out.Plaintext)) out.Plaintext.fill(0);
  } catch (e) {
    let err: ServiceError;
    if (isServiceError(e)) err = e;
    else if (isStorageFull(e)) {
      // AWS KMS has no such error; 507 keeps SDKs from retrying into the full disk (docs/COMPATIBILITY.md).
      opts.service.log.error({ err: e, requestId, operation }, 'out of disk space');
      err = new ServiceError('KMSInternalException', 'The key store has no space left on its disk. Free disk space on the server, then try again.', 507);
    } else if (isDatabaseUnavailable(e)) {
      // AWS KMS's retryable "a dependency did not answer" (503): the database is down or unreachable.
      opts.service.log.error({ err: e, requestId, operation }, 'key store database unavailable');
      err = new ServiceError('DependencyTimeoutException', 'The key store cannot be reached. You can retry the request.', 503);
    } else {
      opts.service.log.error({ err: e, requestId, operation }, 'internal error');
      err = kmsError('KMSInternalException', 'An internal error occurred.');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    noteAccess(res, { errorCode: err.code });
    sendJson(res, err.status, { __type: err.code, message: err.message });
  }
}

function authenticateKms(opts: KmsHandlerOptions, req: IncomingMessage, body: Buffer) {
  let auth;
  try {
    auth = authenticate({ method: req.method ?? 'POST', rawUrl: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, body }, { region: opts.region, service: 'kms', lookup: opts.lookup });
  } catch (e) {
    throw translateAuthError(e);
  }
  if (auth.anonymous) throw kmsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  return { principal: auth.credential.principal };
}

/** SigV4 failures in KMS's vocabulary. */
function translateAuthError(e: unknown): unknown {
  if (!isServiceError(e)) return e;
  switch (e.code) {
    case 'InvalidAccessKeyId':
    case 'InvalidToken':
      return kmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    case 'SignatureDoesNotMatch':
      return kmsError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
    case 'RequestTimeTooSkewed':
      return kmsError('InvalidSignatureException', 'Signature expired: the request time is outside the allowed 15 minutes of the server time.');
    case 'ExpiredToken':
      return kmsError('ExpiredTokenException', 'The security token included in the request is expired');
    case 'AuthorizationHeaderMalformed':
    case 'AuthorizationQueryParametersError':
      return kmsError('IncompleteSignatureException', e.message);
    case 'XAmzContentSHA256Mismatch':
      return kmsError('InvalidSignatureException', e.message);
    default:
      return kmsError('IncompleteSignatureException', e.message);
  }
}

function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
  return readBoundedBody(req, res, MAX_BODY, () => kmsError('ValidationException', 'Request body too large'));
}

/** The body under bounds (http/json-body.ts): refused before any operation runs, so nothing changes. */
function parseInput(body: Buffer): KmsInput {
  const r = parseBoundedJson(body.toString('utf8'));
  if (r.ok) return r.value as KmsInput;
  switch (r.failure.kind) {
    case 'syntax':
      throw kmsError('SerializationException', 'Start of structure or map found where not expected.');
    case 'depth':
      throw kmsError('SerializationException', `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
    case 'string':
      throw kmsError('ValidationException', `1 validation error detected: Value at '${r.failure.path}' failed to satisfy constraint: Member must have length less than or equal to ${MAX_JSON_STRING}`);
  }
}

/** A request body as the operations take it: a JSON object (empty body: {}) whose blob members are Buffers; SerializationException otherwise. */
export function decodeKmsInput(body: Buffer): KmsInput {
  const input: unknown = body.length === 0 ? {} : parseInput(body);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw kmsError('SerializationException', 'Start of structure or map found where not expected.');
  decodeBlobs(input as KmsInput);
  return input as KmsInput;
}

function decodeBlobs(input: KmsInput): void {
  for (const name of BLOB_INPUTS) {
    const v = input[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw kmsError('SerializationException', `Unable to decode ${name}: not base64`);
    input[name] = Buffer.from(v, 'base64');
  }
}

/**
 * An operation's answer as its JSON text, written out member by member (one string, no
 * copy of the object with its Buffers turned to base64 first): blobs as base64 strings,
 * everything else as JSON.stringify writes it; undefined members are left out, as
 * JSON.stringify leaves them out.
 */
export function answerJson(out: Record<string, unknown>): string {
  let text = '{';
  for (const k of Object.keys(out)) {
    const v = out[k];
    const json = Buffer.isBuffer(v) ? `"${v.toString('base64')}"` : (JSON.stringify(v) as string | undefined);
    if (json === undefined) continue;
    text += `${text.length > 1 ? ',' : ''}${JSON.stringify(k)}:${json}`;
  }
  return `${text}}`;
}

/** One string for the head and the body: Node sends both in one write. */
function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body));
}
