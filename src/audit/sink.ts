// What the services hand to the audit trail. The KMS, IAM and STS (and, should S3 data
// events come, S3) emit an AuditEvent into an AuditSink; the audit log, the meter and the
// metrics are sinks. Defined here, below the services, so audit/ and metering/ never
// import the services to receive their events.

import type { Principal } from '../auth/types.js';

/** Who made the request the event records, and how. */
export interface AuditCaller {
  principal: Principal;
  requestId: string;
  sourceIp?: string;
  userAgent?: string;
  /** 's3.<region>.amazonaws.com' when S3 uses a key on the caller's behalf. */
  viaService?: string;
}

/** The service an event is of: KMS (the default), or IAM and STS management events. */
export type AuditEventSource = 'kms.amazonaws.com' | 'iam.amazonaws.com' | 'sts.amazonaws.com';

/** The service of an event, KMS when it names none. */
export const eventSourceOf = (e: AuditEvent): AuditEventSource => e.eventSource ?? 'kms.amazonaws.com';

export interface AuditEvent {
  /** Default 'kms.amazonaws.com' (left out by the KMS, so its records stay as they were). */
  eventSource?: AuditEventSource;
  eventName: string;
  caller: AuditCaller;
  requestParameters: Record<string, unknown>;
  /** The keys a KMS event used; IAM and STS events name none (as CloudTrail's management events of IAM). */
  resources: { ARN: string; accountId: string; type: 'AWS::KMS::Key' }[];
  errorCode?: string;
  errorMessage?: string;
  /** 'AwsServiceEvent' for what KMS does by itself (scheduled deletion, automatic rotation); default 'AwsApiCall'. */
  eventType?: 'AwsApiCall' | 'AwsServiceEvent';
  /** CloudTrail's additionalEventData (service events: keyId, rotationType, keyMaterialId; root-key rotation events: the key ids and counts). */
  additionalEventData?: Record<string, unknown>;
}

/**
 * Where events go. A request that needs a record asks checkWritable() before it acts and
 * answers only once record() has resolved: so no key is used or changed while the log
 * cannot be written, and nothing acknowledged is missing from it after a crash.
 */
export interface AuditSink {
  /** Resolves once the event is durable (appended, and fsynced when fsync is on); rejects with AuditUnavailableError when it cannot be stored. */
  record(event: AuditEvent): Promise<void>;
  /** Throws AuditUnavailableError while the log cannot be written (disk full, I/O error), so a request is refused before it acts. */
  checkWritable(): void;
}

/**
 * The audit log cannot be written: the request that needs a record is refused (fail closed).
 * `cause` is the write failure when there is one, so a full disk (ENOSPC) is told apart
 * from other failures (storage/storage-full.ts) and answered as one.
 */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
  constructor(cause?: unknown) {
    super('The audit log cannot be written.', cause === undefined ? undefined : { cause });
  }
}

/** A sink that records nothing: for views that must not write (coffer hadoop check) and the benchmark-only COFFER_AUDIT=off. */
export const DISCARD_AUDIT: AuditSink = {
  record: () => Promise.resolve(),
  checkWritable() {},
};
