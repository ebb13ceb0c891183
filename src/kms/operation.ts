// What a KMS operation is: a function from (service, caller, input) to output, with
// binary members as Buffers (the JSON layer converts base64 at the edge, so the
// in-process path used by S3 never encodes). Operations note the key they touched
// and their auditable parameters; audited.ts writes the audit event.

import type { Caller, KmsService } from './service.js';
import type { KmsKeyRecord } from './store/types.js';

export type KmsInput = Record<string, unknown>;
export type KmsOutput = Record<string, unknown>;

/** Filled in by an operation as it runs; read by audited() for the audit event. */
export interface AuditNote {
  keys: KmsKeyRecord[];
  /** requestParameters as CloudTrail shows them: never plaintext or key material. */
  params: Record<string, unknown>;
}

/**
 * An operation with its own input and output types. The input holds the request's members
 * as received (unchecked: each operation validates them as AWS does), so the port and the
 * wire get the same errors; the output is typed for in-process callers.
 */
export type Operation<I extends object, O> = (svc: KmsService, caller: Caller, input: I, note: AuditNote) => Promise<O>;

/** An operation as the wire's table holds it. */
export type KmsOperation = Operation<KmsInput, KmsOutput>;

/** Input members carrying binary data (base64 on the wire). */
export const BLOB_INPUTS = ['Plaintext', 'CiphertextBlob', 'Message', 'Signature', 'Mac', 'PublicKey', 'ImportToken', 'EncryptedKeyMaterial'] as const;
