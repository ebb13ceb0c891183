// cloudTrailLine, the audit log's line for an event, is the text JSON.stringify writes for
// toCloudTrail's record of it — member for member, in the same order, undefined members left
// out — for every shape of caller and event: the template must never drift from the record
// the database store writes and every reader parses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudTrailLine, toCloudTrail } from '../../src/audit/cloudtrail.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import type { Principal } from '../../src/auth/types.js';

const ROOT: Principal = { kind: 'root', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:root', userName: 'root' };
const USER: Principal = { kind: 'user', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:user/alice', userName: 'alice', userId: 'AIDAEXAMPLE' };
const USER_NO_ID: Principal = { kind: 'user', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:user/bob', userName: 'bob' };
// Not a shape the credential directory makes; the template still leaves out what JSON.stringify would.
const USER_NO_NAME = { kind: 'user', accountId: '123456789012', arn: 'arn:aws:iam::123456789012:user/x' } as unknown as Principal;
const TEMP_USER: Principal = { ...USER, temporary: { accessKeyId: 'ASIAEXAMPLE', expiresAt: new Date(0), issuedAt: new Date(0) } };
const ROLE = {
  kind: 'assumed-role', accountId: '123456789012', arn: 'arn:aws:sts::123456789012:assumed-role/app/s1', roleId: 'AROAEXAMPLE', roleName: 'app',
  roleArn: 'arn:aws:iam::123456789012:role/app', sessionName: 's1', temporary: { accessKeyId: 'ASIAROLE', expiresAt: new Date(0), issuedAt: new Date(0) },
} as unknown as Principal;

const KEY = { ARN: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', accountId: '123456789012', type: 'AWS::KMS::Key' as const };

const events: [string, AuditEvent][] = [
  ['root GenerateDataKey with a context', { eventName: 'GenerateDataKey', caller: { principal: ROOT, requestId: 'R1', sourceIp: '127.0.0.1', userAgent: 'aws-cli/2' }, requestParameters: { keyId: 'alias/k', encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b/o' }, keySpec: 'AES_256' }, resources: [KEY] }],
  ['user Decrypt refused, no user agent', { eventName: 'Decrypt', caller: { principal: USER, requestId: 'R2', sourceIp: '10.0.0.1' }, requestParameters: {}, resources: [KEY], errorCode: 'AccessDeniedException', errorMessage: 'User: x is not authorized' }],
  ['user without id, error code without message', { eventName: 'Encrypt', caller: { principal: USER_NO_ID, requestId: 'R3' }, requestParameters: { keyId: 'k' }, resources: [], errorCode: 'NotFoundException' }],
  ['user with neither id nor name', { eventName: 'Encrypt', caller: { principal: USER_NO_NAME, requestId: 'R3b', userAgent: '' }, requestParameters: { keyId: 'k' }, resources: [] }],
  ['temporary user credentials through S3', { eventName: 'GenerateDataKey', caller: { principal: TEMP_USER, requestId: 'R4', sourceIp: '10.0.0.2', userAgent: 'sdk', viaService: 's3.us-east-1.amazonaws.com' }, requestParameters: { numberOfBytes: 32 }, resources: [KEY] }],
  ['assumed role, read-only operation', { eventName: 'DescribeKey', caller: { principal: ROLE, requestId: 'R5', sourceIp: '::1', userAgent: 'boto3' }, requestParameters: { keyId: 'k' }, resources: [KEY] }],
  ['IAM event with additional data', { eventSource: 'iam.amazonaws.com', eventName: 'CreateUser', caller: { principal: ROOT, requestId: 'R6' }, requestParameters: { userName: 'alice' }, resources: [], additionalEventData: { note: 'x' } }],
  ['strings JSON must escape', { eventName: 'Encrypt', caller: { principal: ROOT, requestId: 'R7"\\', sourceIp: '127.0.0.1', userAgent: 'ua "quoted"\n\u2028\ud800' }, requestParameters: { encryptionContext: { 'k"\\': 'v\u0000\ud800' } }, resources: [KEY], errorCode: 'ValidationException', errorMessage: 'bad "value"\n' }],
  ['service event', { eventName: 'RotateKey', eventType: 'AwsServiceEvent', caller: { principal: ROOT, requestId: 'R8' }, requestParameters: {}, resources: [KEY], additionalEventData: { keyId: 'k' } }],
];

for (const [name, e] of events) {
  test(`cloudTrailLine is JSON.stringify(toCloudTrail(e)): ${name}`, () => {
    const line = cloudTrailLine(e, 'us-east-1');
    assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one line');
    const parsed = JSON.parse(line) as { eventID: string; eventTime: string };
    // eventID is random and eventTime the clock: take the line's own, then compare the text.
    const record = toCloudTrail(e, 'us-east-1');
    record.eventID = parsed.eventID;
    record.eventTime = parsed.eventTime;
    assert.equal(line, JSON.stringify(record) + '\n');
    assert.match(parsed.eventID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(parsed.eventTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });
}

test('cloudTrailLine gives each event its own eventID and the current second as eventTime', () => {
  const e = events[0]![1];
  const before = Math.floor(Date.now() / 1000) * 1000;
  const a = JSON.parse(cloudTrailLine(e, 'us-east-1')) as { eventID: string; eventTime: string };
  const b = JSON.parse(cloudTrailLine(e, 'us-east-1')) as { eventID: string; eventTime: string };
  const after = Date.now();
  assert.notEqual(a.eventID, b.eventID);
  for (const t of [a.eventTime, b.eventTime]) {
    const ms = Date.parse(t);
    assert.ok(ms >= before && ms <= after, `${t} is between the calls`);
  }
});
