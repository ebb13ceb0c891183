// The one audited path of the KMS. Every use of a key runs through audited(): a JSON
// request (dispatch.ts) and an in-process call through the port (port.ts) alike. It runs
// the operation and writes its CloudTrail-shaped event — success or failure — with the
// parameters and keys the operation noted, so no caller can use a key without the audit
// log (and metering, which sits in front of it) seeing it.

import { isServiceError } from '../errors.js';
import type { Caller, KmsService } from './service.js';
import type { AuditNote, Operation } from './operation.js';

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

/** requestParameters until the operation has checked its input: the members by their CloudTrail names, secrets left out. */
function defaultParams(input: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    // An empty name is no member of any operation (and has no first letter to lower).
    if (k === '' || SECRET_PARAMS.has(k) || Buffer.isBuffer(v)) continue;
    out[k[0]!.toLowerCase() + k.slice(1)] = v;
  }
  return out;
}

/** Runs `op` as `caller` and records it under `eventName`; errors are rethrown unchanged. */
export async function audited<I extends object, O>(
  svc: KmsService, caller: Caller, eventName: string, op: Operation<I, O>, input: I, opts: AuditedOptions = {},
): Promise<O> {
  const note: AuditNote = { keys: [], params: defaultParams(input) };
  try {
    const out = await op(svc, caller, input, note);
    if (opts.recordSuccess !== false) svc.audit({ eventName, caller, requestParameters: note.params, resources: resources(note) });
    return out;
  } catch (e) {
    const code = isServiceError(e) ? e.code : 'KMSInternalException';
    const message = isServiceError(e) ? e.message : 'internal error';
    svc.audit({ eventName, caller, requestParameters: note.params, resources: resources(note), errorCode: code, errorMessage: message });
    throw e;
  }
}

function resources(note: AuditNote) {
  return note.keys.map((k) => ({ ARN: k.arn, accountId: k.accountId, type: 'AWS::KMS::Key' as const }));
}
