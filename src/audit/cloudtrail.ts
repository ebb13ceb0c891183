// An AuditEvent (what a service emits, sink.ts) as the CloudTrail record every audit store
// keeps (event.ts, eventVersion 1.08; docs/spec/audit-log.md section 1): one function, so the
// file log and the database store write the same record for the same event. The file log
// takes the record as its JSON line (cloudTrailLine): the same text JSON.stringify writes
// for toCloudTrail's object, built in one template instead of an object and a second walk
// over it, on every KMS request.

import { randomUUID } from 'node:crypto';
import { eventSourceOf, type AuditEvent } from './sink.js';
import type { CloudTrailEvent } from './event.js';

const READ_ONLY = new Set(['DescribeKey', 'ListKeys', 'ListAliases', 'GetKeyPolicy', 'ListKeyPolicies', 'GetKeyRotationStatus', 'ListKeyRotations', 'ListResourceTags', 'ListGrants', 'ListRetirableGrants', 'GenerateRandom', 'GetPublicKey']);
const DATA_PLANE = new Set([
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateRandom',
  'Sign', 'Verify', 'GenerateMac', 'VerifyMac', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'DeriveSharedSecret',
]);

/** eventTime in whole seconds, as CloudTrail writes it; formatted once per second. */
let eventSecond = NaN;
let eventTime = '';
function eventTimeNow(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== eventSecond) {
    eventSecond = second;
    eventTime = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return eventTime;
}

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

const q = JSON.stringify;

/**
 * The record of `e` as one line of the audit log: exactly `JSON.stringify(toCloudTrail(e,
 * region)) + "\n"` (the same members in the same order, members whose value is undefined
 * left out), written in one template. Strings go through JSON.stringify, so escaping is
 * JSON's own; requestParameters and the other nested values are serialized as they are.
 */
export function cloudTrailLine(e: AuditEvent, region: string): string {
  if (e.eventType === 'AwsServiceEvent') return q(serviceEvent(e, region)) + '\n';
  const p = e.caller.principal;
  const via = e.caller.viaService !== undefined && e.caller.viaService !== '';
  const principalId = p.kind === 'root' ? p.accountId : p.kind === 'assumed-role' ? `${p.roleId}:${p.sessionName}` : (p.userId ?? p.userName);
  let id = `{"type":${p.kind === 'root' ? '"Root"' : p.kind === 'user' ? '"IAMUser"' : '"AssumedRole"'}`;
  if (principalId !== undefined) id += `,"principalId":${q(principalId)}`;
  id += `,"arn":${q(p.arn)},"accountId":${q(p.accountId)}`;
  if (p.kind === 'user' && p.userName !== undefined) id += `,"userName":${q(p.userName)}`;
  if (p.temporary && p.temporary.accessKeyId !== undefined) id += `,"accessKeyId":${q(p.temporary.accessKeyId)}`;
  if (p.kind === 'assumed-role') {
    id += `,"sessionContext":${q({ sessionIssuer: { type: 'Role', principalId: p.roleId, arn: p.roleArn, accountId: p.accountId, userName: p.roleName } })}`;
  }
  if (via) id += ',"invokedBy":"s3.amazonaws.com"';
  const userAgent = via ? 's3.amazonaws.com' : e.caller.userAgent;
  let line = `{"eventVersion":"1.08","userIdentity":${id}},"eventTime":"${eventTimeNow()}","eventSource":${q(eventSourceOf(e))},"eventName":${q(e.eventName)},"awsRegion":${q(region)},"sourceIPAddress":${q(via ? 's3.amazonaws.com' : (e.caller.sourceIp ?? 'unknown'))}`;
  if (userAgent !== undefined) line += `,"userAgent":${q(userAgent)}`;
  if (e.requestParameters !== undefined) line += `,"requestParameters":${q(e.requestParameters)}`;
  line += ',"responseElements":null';
  if (e.additionalEventData) line += `,"additionalEventData":${q(e.additionalEventData)}`;
  line += `,"requestID":${q(e.caller.requestId)},"eventID":"${randomUUID()}","readOnly":${READ_ONLY.has(e.eventName)},"resources":${q(e.resources)},"eventType":"AwsApiCall","managementEvent":${!DATA_PLANE.has(e.eventName)},"recipientAccountId":${q(p.accountId)},"eventCategory":"Management"`;
  if (e.errorCode) {
    line += `,"errorCode":${q(e.errorCode)}`;
    if (e.errorMessage !== undefined) line += `,"errorMessage":${q(e.errorMessage)}`;
  }
  return line + '}\n';
}
