// Loosening a lock instead of deleting through it: object lock cannot be turned off on a bucket (AWS
// accepts only ObjectLockEnabled=Enabled: anything else is MalformedXML, and the configuration
// stays), a COMPLIANCE retention cannot be removed even by the root with the bypass header, and
// a legal hold or retention is changed only by a caller allowed s3:PutObjectLegalHold /
// s3:PutObjectRetention, whatever else it may do.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand, DeleteObjectCommand, GetObjectLegalHoldCommand, GetObjectLockConfigurationCommand, GetObjectRetentionCommand,
  PutObjectCommand, PutObjectLegalHoldCommand, PutObjectLockConfigurationCommand, PutObjectRetentionCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory } from '../helpers/sse-principals.js';
import { rawRequest } from '../interop/support.js';

const DAY = 86_400_000;
const PROTECTED = 'Access Denied because object protected by object lock.';
let clock = Date.now();
let srv: TestServer;
let s3: S3Client;
let users: ReturnType<typeof userFactory>;
const bucket = uniqueBucket('locksettings');

before(async () => {
  srv = await startTestServer({}, { now: () => clock });
  s3 = srv.s3;
  users = userFactory(srv);
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  await s3.send(new PutObjectLockConfigurationCommand({
    Bucket: bucket, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 3 } } },
  }));
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

const future = (days: number) => new Date(clock + days * DAY);

test('object lock cannot be turned off: ObjectLockEnabled other than Enabled, or missing, is 400 MalformedXML and the configuration stays', async () => {
  for (const inner of ['<ObjectLockEnabled>Disabled</ObjectLockEnabled>', '', '<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule>']) {
    const body = `<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</ObjectLockConfiguration>`;
    const r = await rawRequest({
      method: 'PUT', url: srv.url, path: `/${bucket}`, query: { 'object-lock': '' }, body: Buffer.from(body),
      headers: { 'content-md5': createHash('md5').update(body).digest('base64') },
    });
    assert.equal(r.status, 400, `${inner}: ${r.body}`);
    assert.match(r.body, /<Code>MalformedXML<\/Code>/, inner);
  }
  const conf = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
  assert.deepEqual(conf.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 3 } } });
});

test('a COMPLIANCE retention (here the bucket default) is not removed, shortened or turned GOVERNANCE, by the root with the bypass header either', async () => {
  const { VersionId } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'default', Body: 'x' }));
  const where = { Bucket: bucket, Key: 'default', VersionId, BypassGovernanceRetention: true };
  const before = (await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: 'default', VersionId }))).Retention;
  assert.equal(before?.Mode, 'COMPLIANCE');
  for (const Retention of [{}, { Mode: 'COMPLIANCE' as const, RetainUntilDate: future(1) }, { Mode: 'GOVERNANCE' as const, RetainUntilDate: future(30) }]) {
    await assertFails(s3.send(new PutObjectRetentionCommand({ ...where, Retention })), 403, 'AccessDenied', PROTECTED);
  }
  assert.deepEqual((await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: 'default', VersionId }))).Retention, before);
  await assertFails(s3.send(new DeleteObjectCommand(where)), 403, 'AccessDenied', PROTECTED);
});

test('a legal hold is lifted, and a retention changed, only by a caller allowed s3:PutObjectLegalHold / s3:PutObjectRetention', async () => {
  const { VersionId } = await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: 'held', Body: 'x', ChecksumAlgorithm: 'CRC32', ObjectLockLegalHoldStatus: 'ON', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: future(5),
  }));
  const everything = [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`];
  // Every S3 action, the bypass included, but the two that change a lock.
  const mallory = await users.create('lock-mallory', { s3: [{ Effect: 'Allow', NotAction: ['s3:PutObjectLegalHold', 's3:PutObjectRetention'], Resource: everything }] });
  await assertFails(mallory.s3.send(new PutObjectLegalHoldCommand({ Bucket: bucket, Key: 'held', VersionId, LegalHold: { Status: 'OFF' } })), 403, 'AccessDenied');
  await assertFails(mallory.s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: 'held', VersionId, BypassGovernanceRetention: true, Retention: {} })), 403, 'AccessDenied');
  await assertFails(mallory.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'held', VersionId, BypassGovernanceRetention: true })), 403, 'AccessDenied', PROTECTED);
  assert.equal((await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: 'held', VersionId }))).LegalHold?.Status, 'ON');
  assert.equal((await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: 'held', VersionId }))).Retention?.Mode, 'GOVERNANCE');
  // The hold lifted by the root, the GOVERNANCE retention still holds without the bypass; with it, Mallory (allowed the bypass) deletes.
  await s3.send(new PutObjectLegalHoldCommand({ Bucket: bucket, Key: 'held', VersionId, LegalHold: { Status: 'OFF' } }));
  await assertFails(mallory.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'held', VersionId })), 403, 'AccessDenied', PROTECTED);
  await mallory.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'held', VersionId, BypassGovernanceRetention: true }));
});
