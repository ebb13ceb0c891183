// The audit log as the server uses it, behind one interface: the KMS records every use
// of a key into it (as an AuditSink), and the console's route and the CLI page through
// what it holds. The embedded implementation is the file writer AuditLog (audit-log.ts,
// <data-dir>/audit/kms.log and its rotated files, docs/spec/audit-log.md); every
// implementation passes test/audit/audit-store.contract.ts.

import type { AuditPage, AuditPageRequest } from './query.js';
import type { AuditEvent, AuditSink } from './sink.js';

export interface AuditStore extends AuditSink {
  /**
   * Stores one event as a CloudTrail record. Resolves once it is durable: concurrent events
   * share one append and one fsync (group commit). Rejects with AuditUnavailableError when
   * the log cannot be written; the event is kept and written when the log recovers. Rejects after close().
   */
  record(event: AuditEvent): Promise<void>;
  /** Resolves once every event recorded before the call is stored; events recorded later are not waited for. */
  flush(): Promise<void>;
  /**
   * One page of the stored events matching the request's filters, newest first, and the
   * token of the next (older) page when there may be more. Events stored after a token was
   * handed out never appear on the pages that follow it.
   */
  query(request: AuditPageRequest): Promise<AuditPage>;
  /** Stores what is queued, then stops. */
  close(): Promise<void>;
}
