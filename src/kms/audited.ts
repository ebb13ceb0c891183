// The one audited path of the KMS. Every use of a key runs through audited(): a JSON
// request (dispatch.ts) and an in-process call through the port (port.ts) alike. It runs
// the operation and writes its CloudTrail-shaped event — success or failure — with the
// parameters and keys the operation noted, so no caller can use a key without the audit
// log (and metering, which sits in front of it) seeing it.

import { ServiceError, isServiceError } from '../errors.js';
import { isDatabaseUnavailable } from '../storage/postgres/unavailable.js';
import { AuditUnavailableError, type AuditEvent } from '../audit/sink.js';
import { kmsError } from './errors.js';
import type { Caller, KmsService } from './service.js';
import { INPUT_MEMBERS, type AuditNote, type Operation } from './operation.js';
import { isStorageFull } from '../storage/storage-full.js';
import { setOwn } from '../records.js';

export interface AuditedOptions {
  /**
   * false: only a refusal is recorded. For an access check that stands in for a call it
   * saves (a bucket-key cache hit): allowed, it is no KMS request; refused, it is audited
   * as the call it stands for.
   */
  recordSuccess?: boolean;
}

// Members never shown in requestParameters, whatever an operation notes.
const SECRET_PARAMS = new Set(['Plaintext', 'CiphertextBlob', 'GrantTokens', 'Policy']);

/** requestParameters until the operation has checked its input: the operation's own members (INPUT_MEMBERS) by their CloudTrail names, secrets left out. */
function defaultParams(eventName: string, input: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const members = INPUT_MEMBERS[eventName] ?? [];
  for (const k of members) {
    const v = (input as Record<string, unknown>)[k];
    if (v === undefined || SECRET_PARAMS.has(k) || Buffer.isBuffer(v)) continue;
    out[k[0]!.toLowerCase() + k.slice(1)] = v;
  }
  return out;
}

// Bounds of a recorded parameter value: the record stays small and serializable whatever
// a caller sent (an in-process caller skips the wire's parser bounds).
const PARAM_STRING = 4096;
const PARAM_ENTRIES = 64;
const PARAM_DEPTH = 4;

/** `v` cut to the bounds above: long strings end in "...", deep or long collections are cut. */
function boundParam(v: unknown, depth = 1): unknown {
  if (typeof v === 'string') return v.length > PARAM_STRING ? v.slice(0, PARAM_STRING) + '...' : v;
  if (typeof v !== 'object' || v === null) return typeof v === 'number' || typeof v === 'boolean' || v == null ? v : String(v);
  if (depth > PARAM_DEPTH || Buffer.isBuffer(v)) return '...';
  if (Array.isArray(v)) return v.slice(0, PARAM_ENTRIES).map((x) => boundParam(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).slice(0, PARAM_ENTRIES)) {
    const name = boundParam(k) as string;
    const value = boundParam((v as Record<string, unknown>)[k], depth + 1);
    setOwn(out, name, value); // a "__proto__" member (an encryption context may have one) stays a member
  }
  return out;
}

/**
 * Runs `op` as `caller` and records it under `eventName`; errors are rethrown unchanged.
 * Fail closed: while the audit log cannot be written nothing runs, and nothing is answered
 * (success or refusal) before its event is durable.
 */
export async function audited<I extends object, O>(
  svc: KmsService, caller: Caller, eventName: string, op: Operation<I, O>, input: I, opts: AuditedOptions = {},
): Promise<O> {
  const recordSuccess = opts.recordSuccess !== false;
  if (recordSuccess) checkWritable(svc, caller, eventName);
  const note = new Note(eventName, input);
  let out: O;
  try {
    out = await op(svc, caller, input, note);
  } catch (e) {
    await recordFailure(svc, caller, eventName, note, e);
    throw e;
  }
  if (recordSuccess) await record(svc, caller, successEvent(eventName, caller, note));
  return out;
}

/** An operation's result, and when its event is durable. */
export interface AnsweredFirst<O> {
  out: O;
  /**
   * Resolves once the success event is durable; rejects as audited() would have thrown
   * (KMSInternalException when the log cannot be written). Never left unhandled.
   */
  recorded: Promise<void>;
}

/**
 * audited() for an in-process caller that holds the answer back itself: the result comes
 * as soon as the operation succeeded, its event still being written, so the caller can
 * prepare its own answer meanwhile (S3 reads an SSE-KMS object's body while the Decrypt's
 * record is synced). The caller must let nothing that depends on the result — plaintext,
 * bytes it opens, an error it implies — leave the process before `recorded` resolves, and
 * must answer its rejection as the call's refusal. Refusals are as in audited(): recorded,
 * then thrown.
 */
export async function auditedAnswerFirst<I extends object, O>(
  svc: KmsService, caller: Caller, eventName: string, op: Operation<I, O>, input: I,
): Promise<AnsweredFirst<O>> {
  checkWritable(svc, caller, eventName);
  const note = new Note(eventName, input);
  let out: O;
  try {
    out = await op(svc, caller, input, note);
  } catch (e) {
    await recordFailure(svc, caller, eventName, note, e);
    throw e;
  }
  // record() may throw at once (a log that just failed): that is this call's refusal.
  const recorded = record(svc, caller, successEvent(eventName, caller, note));
  // Handled here so a caller that fails before awaiting it leaves no unhandled rejection;
  // awaiting `recorded` still throws its error.
  recorded.catch(ignore);
  return { out, recorded };
}

/** While the audit log cannot be written nothing runs: KMSInternalException. */
function checkWritable(svc: KmsService, caller: Caller, eventName: string): void {
  try {
    svc.checkAuditWritable();
  } catch (e) {
    refuse(e, caller, eventName, svc);
  }
}

/** Records a refused or failed operation (its error code and message). */
function recordFailure(svc: KmsService, caller: Caller, eventName: string, note: Note, e: unknown): Promise<void> {
  const code = isServiceError(e) ? e.code : 'KMSInternalException';
  const message = isServiceError(e) ? e.message : 'internal error';
  return record(svc, caller, { eventName, caller, requestParameters: boundParam(note.params) as Record<string, unknown>, resources: resources(note), errorCode: code, errorMessage: message });
}

function successEvent(eventName: string, caller: Caller, note: Note): AuditEvent {
  return { eventName, caller, requestParameters: boundParam(note.params) as Record<string, unknown>, resources: resources(note) };
}

function ignore(): void {}

/**
 * The note an operation fills in. Its params start as the request's own members
 * (defaultParams), worked out only when read: every operation that checks its input
 * replaces them, so most requests never need them. (A class: accessors in an object
 * literal are defined anew, through the runtime, for every object.)
 */
class Note implements AuditNote {
  readonly keys: AuditNote['keys'] = [];
  #params: Record<string, unknown> | undefined;

  constructor(
    private readonly eventName: string,
    private readonly input: object,
  ) {}

  get params(): Record<string, unknown> {
    return (this.#params ??= defaultParams(this.eventName, this.input));
  }

  set params(value: Record<string, unknown>) {
    this.#params = value;
  }
}

/** Records the event; a log that cannot be written becomes KMSInternalException (refuse). */
function record(svc: KmsService, caller: Caller, event: AuditEvent): Promise<void> {
  let stored: Promise<void>;
  try {
    stored = svc.audit(event);
  } catch (e) {
    return refuse(e, caller, event.eventName, svc);
  }
  return stored.catch((e: unknown) => refuse(e, caller, event.eventName, svc));
}

/** An audit step failed: an unwritable log becomes KMSInternalException, with the reason in the server log; anything else is rethrown. */
function refuse(e: unknown, caller: Caller, eventName: string, svc: KmsService): never {
  // A cluster's trail is in PostgreSQL: while the database is away the handlers answer
  // their "dependency unavailable" error (KMS 503 DependencyTimeoutException, S3 503).
  if (!(e instanceof AuditUnavailableError) || isDatabaseUnavailable(e)) throw e;
  svc.log.warn({ requestId: caller.requestId, operation: eventName }, 'KMS request refused: the audit log cannot be written');
  // The cause lets S3 answer 503 ServiceUnavailable rather than 500 (s3/sse/kms-bridge.ts).
  // A full disk is answered as everywhere else (507, which SDKs do not retry into it).
  const refusal = isStorageFull(e)
    ? new ServiceError('KMSInternalException', 'The request was refused because the audit log has no space left on its disk. Free disk space on the server, then try again.', 507)
    : kmsError('KMSInternalException', 'The request was refused because the audit log cannot be written.');
  throw Object.assign(refusal, { cause: e });
}

function resources(note: AuditNote) {
  return note.keys.map((k) => ({ ARN: k.arn, accountId: k.accountId, type: 'AWS::KMS::Key' as const }));
}
