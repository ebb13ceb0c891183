// An AuditEvent (what a service emits, sink.ts) as the CloudTrail record every audit store
// keeps (event.ts, eventVersion 1.08; docs/spec/audit-log.md section 1): one function, so the
// file log and the database store write the same record for the same event.

import { randomUUID } from 'node:crypto';
import { eventSourceOf, type AuditEvent } from './sink.js';
import type { CloudTrailEvent } from './event.js';

const READ_ONLY = new Set(['DescribeKey', 'ListKeys', 'ListAliases', 'GetKeyPolicy', 'ListKeyPolicies', 'GetKeyRotationStatus', 'ListKeyRotations', 'ListResourceTags', 'ListGrants', 'ListRetirableGrants', 'GenerateRandom', 'GetPublicKey']);
const DATA_PLANE = new Set([
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateRandom',
  'Sign', 'Verify', 'GenerateMac', 'VerifyMac', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'DeriveSharedSecret',
]);

/** eventTime in whole seconds, as CloudTrail writes it. */
const eventTimeNow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The CloudTrail record of `e`, with a new eventID and the current time. */
export function toCloudTrail(e: AuditEvent, region: string): CloudTrailEvent {
  if (e.eventType === 'AwsServiceEvent') return serviceEvent(e, region);
  const p = e.caller.principal;
  return {
    eventVersion: '1.08',
    userIdentity: {
      type: p.kind === 'root' ? 'Root' : p.kind === 'user' ? 'IAMUser' : 'AssumedRole',
      principalId: p.kind === 'root' ? p.accountId : p.kind === 'assumed-role' ? `${p.roleId}:${p.sessionName}` : (p.userId ?? p.userName),
      arn: p.arn,
      accountId: p.accountId,
      ...(p.kind === 'user' ? { userName: p.userName } : {}),
      ...(p.temporary ? { accessKeyId: p.temporary.accessKeyId } : {}),
      ...(p.kind === 'assumed-role'
        ? { sessionContext: { sessionIssuer: { type: 'Role' as const, principalId: p.roleId, arn: p.roleArn, accountId: p.accountId, userName: p.roleName } } }
        : {}),
      ...(e.caller.viaService ? { invokedBy: 's3.amazonaws.com' } : {}),
    },
    eventTime: eventTimeNow(),
    eventSource: eventSourceOf(e),
    eventName: e.eventName,
    awsRegion: region,
    sourceIPAddress: e.caller.viaService ? 's3.amazonaws.com' : (e.caller.sourceIp ?? 'unknown'),
    userAgent: e.caller.viaService ? 's3.amazonaws.com' : e.caller.userAgent,
    requestParameters: e.requestParameters,
    responseElements: null,
    ...(e.additionalEventData ? { additionalEventData: e.additionalEventData } : {}),
    requestID: e.caller.requestId,
    eventID: randomUUID(),
    readOnly: READ_ONLY.has(e.eventName),
    resources: e.resources,
    eventType: 'AwsApiCall',
    managementEvent: !DATA_PLANE.has(e.eventName),
    recipientAccountId: p.accountId,
    eventCategory: 'Management',
    ...(e.errorCode ? { errorCode: e.errorCode, errorMessage: e.errorMessage } : {}),
  };
}

/** What KMS does by itself, shaped as CloudTrail's AwsServiceEvent (invokedBy kms.amazonaws.com). */
function serviceEvent(e: AuditEvent, region: string): CloudTrailEvent {
  const accountId = e.caller.principal.accountId;
  return {
    eventVersion: '1.08',
    userIdentity: { accountId, invokedBy: 'kms.amazonaws.com' },
    eventTime: eventTimeNow(),
    eventSource: 'kms.amazonaws.com',
    eventName: e.eventName,
    awsRegion: region,
    sourceIPAddress: 'kms.amazonaws.com',
    userAgent: 'kms.amazonaws.com',
    requestParameters: null,
    responseElements: null,
    ...(e.additionalEventData ? { additionalEventData: e.additionalEventData } : {}),
    requestID: e.caller.requestId,
    eventID: randomUUID(),
    readOnly: false,
    resources: e.resources,
    eventType: 'AwsServiceEvent',
    managementEvent: true,
    recipientAccountId: accountId,
    eventCategory: 'Management',
    ...(e.errorCode ? { errorCode: e.errorCode, errorMessage: e.errorMessage } : {}),
  };
}
