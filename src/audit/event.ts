// One audit event as CloudTrail writes it (eventVersion 1.08), as stored in the log,
// answered by the query route and delivered to a bucket.

import type { AuditEventSource } from './sink.js';

export interface CloudTrailEvent {
  eventVersion: '1.08';
  /** Service events (scheduled deletion, automatic rotation) carry only accountId and invokedBy, as CloudTrail's do. */
  userIdentity: {
    type?: 'Root' | 'IAMUser' | 'AssumedRole';
    principalId?: string;
    arn?: string;
    accountId: string;
    userName?: string;
    invokedBy?: string;
    /** Temporary credentials: the session's access key id. */
    accessKeyId?: string;
    /** Role sessions: the role that issued the session, as CloudTrail's sessionContext. */
    sessionContext?: { sessionIssuer: { type: 'Role'; principalId: string; arn: string; accountId: string; userName: string } };
  };
  eventTime: string;
  eventSource: AuditEventSource;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent?: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: null;
  additionalEventData?: Record<string, unknown>;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources: { ARN: string; accountId: string; type: string }[];
  eventType: 'AwsApiCall' | 'AwsServiceEvent';
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: 'Management';
  errorCode?: string;
  errorMessage?: string;
}
