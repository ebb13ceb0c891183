// What the services hand to the audit trail. The KMS (and, as they start auditing, IAM,
// STS and S3) emit an AuditEvent into an AuditSink; the audit log, the meter and the
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

export interface AuditEvent {
  eventName: string;
  caller: AuditCaller;
  requestParameters: Record<string, unknown>;
  resources: { ARN: string; accountId: string; type: 'AWS::KMS::Key' }[];
  errorCode?: string;
  errorMessage?: string;
  /** 'AwsServiceEvent' for what KMS does by itself (scheduled deletion, automatic rotation); default 'AwsApiCall'. */
  eventType?: 'AwsApiCall' | 'AwsServiceEvent';
  /** CloudTrail's additionalEventData (service events: keyId, rotationType, keyMaterialId). */
  additionalEventData?: Record<string, unknown>;
}

export interface AuditSink {
  record(event: AuditEvent): void;
}
