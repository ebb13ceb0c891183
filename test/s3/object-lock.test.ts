// S3 Object Lock (src/s3/object-lock.ts): the bucket configuration, each version's retention
// and legal hold, and who may delete or shorten what. Time is the server's S3 clock, which
// this test moves (startTestServer's now) instead of waiting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, DeleteObjectsCommand,
  GetObjectCommand, GetObjectLegalHoldCommand, GetObjectLockConfigurationCommand, GetObjectRetentionCommand, HeadObjectCommand,
  PutBucketVersioningCommand, PutObjectCommand, PutObjectLockConfigurationCommand, PutObjectRetentionCommand,
  UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { adminCall } from '../helpers/admin.js';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory, type TestUser } from '../helpers/sse-principals.js';

const DAY = 86_400_000;
const PROTECTED = 'Access Denied because object protected by object lock.';
let clock = Date.now();
let srv: TestServer;
let s3: S3Client;
let users: ReturnType<typeof userFactory>;
let plain: TestUser;
const bucket = uniqueBucket('lock');

before(async () => {
  srv = await startTestServer({}, { now: () => clock });
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  users = userFactory(srv);
  plain = await users.create('lock-plain', {
    // Every S3 action on the bucket but the bypass: no statement allows it, none denies it.
    s3: [{ Effect: 'Allow', NotAction: 's3:BypassGovernanceRetention', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
  });
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

const future = (days: number) => new Date(clock + days * DAY);
let n = 0;
async function put(extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}, b = bucket): Promise<{ key: string; versionId: string }> {
  const key = `k${n++}`;
  const r = await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: 'locked bytes', ...extra }));
  return { key, versionId: r.VersionId! };
}

test('bucket configuration: created with lock, default retention validated, absent is ObjectLockConfigurationNotFoundError, versioning cannot be suspended', async () => {
  const conf = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
  assert.deepEqual(conf.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' });
  await assertFails(s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } })), 409, 'InvalidBucketState');

  const plainBucket = uniqueBucket('nolock');
  await s3.send(new CreateBucketCommand({ Bucket: plainBucket }));
  await assertFails(s3.send(new GetObjectLockConfigurationCommand({ Bucket: plainBucket })), 404, 'ObjectLockConfigurationNotFoundError');
  const enable = { ObjectLockEnabled: 'Enabled' as const };
  // Not versioned: refused. Versioning enabled: allowed (AWS since 2023).
  await assertFails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: plainBucket, ObjectLockConfiguration: enable })), 409, 'InvalidBucketState');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: plainBucket, Key: 'x', Body: 'x', ObjectLockLegalHoldStatus: 'ON' })), 400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
  await s3.send(new PutBucketVersioningCommand({ Bucket: plainBucket, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: plainBucket, ObjectLockConfiguration: enable }));
  assert.equal((await s3.send(new GetObjectLockConfigurationCommand({ Bucket: plainBucket }))).ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled');

  const rule = (DefaultRetention: object) => ({ ...enable, Rule: { DefaultRetention } });
  await assertFails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: plainBucket, ObjectLockConfiguration: rule({ Mode: 'GOVERNANCE', Days: 1, Years: 1 }) })), 400, 'MalformedXML');
  await assertFails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: plainBucket, ObjectLockConfiguration: rule({ Mode: 'GOVERNANCE' }) })), 400, 'MalformedXML');
  await assertFails(s3.send(new PutObjectLockConfigurationCommand({ Bucket: plainBucket, ObjectLockConfiguration: rule({ Mode: 'GOVERNANCE', Days: 0 }) })), 400, 'InvalidArgument');
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: plainBucket, ObjectLockConfiguration: rule({ Mode: 'COMPLIANCE', Days: 2 }) }));
  const got = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: plainBucket }));
  assert.deepEqual(got.ObjectLockConfiguration?.Rule?.DefaultRetention, { Mode: 'COMPLIANCE', Days: 2 });

  // The default applies to new versions.
  const { key, versionId } = await put({}, plainBucket);
  const ret = await s3.send(new GetObjectRetentionCommand({ Bucket: plainBucket, Key: key, VersionId: versionId }));
  assert.equal(ret.Retention?.Mode, 'COMPLIANCE');
  assert.equal(ret.Retention?.RetainUntilDate?.getTime(), new Date(clock + 2 * DAY).getTime());
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: plainBucket, Key: key, VersionId: versionId })), 403, 'AccessDenied', PROTECTED);
});

test('lock headers on writes: validated, stored per version, answered by GET/HEAD and Get*Retention/LegalHold', async () => {
  await assertFails(put({ ObjectLockMode: 'GOVERNANCE' }), 400, 'InvalidArgument');
  await assertFails(put({ ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(clock - DAY) }), 400, 'InvalidArgument', 'The retain until date must be in the future!');
  // A PUT with lock headers needs Content-MD5 or a checksum.
  const bare = srv.client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  await assertFails(bare.send(new PutObjectCommand({ Bucket: bucket, Key: 'bare', Body: 'x', ObjectLockLegalHoldStatus: 'ON' })), 400, 'InvalidRequest');
  bare.destroy();

  const until = future(3);
  const { key, versionId } = await put({ ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'ON' });
  for (const r of [
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
    await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })),
  ]) {
    assert.equal(r.ObjectLockMode, 'GOVERNANCE');
    assert.equal(r.ObjectLockRetainUntilDate?.getTime(), until.getTime());
    assert.equal(r.ObjectLockLegalHoldStatus, 'ON');
  }
  assert.equal((await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).LegalHold?.Status, 'ON');

  const unlocked = await put();
  await assertFails(s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: unlocked.key })), 404, 'NoSuchObjectLockConfiguration');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: unlocked.key }));
  assert.equal(head.ObjectLockMode, undefined);

  // CopyObject: the request's lock, never the source's.
  const copied = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy', CopySource: `${bucket}/${key}`, ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: future(1) }));
  const copyRet = await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: 'copy', VersionId: copied.VersionId }));
  assert.equal(copyRet.Retention?.Mode, 'COMPLIANCE');
  await assertFails(s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: 'copy' })), 404, 'NoSuchObjectLockConfiguration');

  // Multipart: the lock asked for at creation.
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu', ObjectLockLegalHoldStatus: 'ON' }));
  const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu', UploadId: up.UploadId, PartNumber: 1, Body: 'part' }));
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mpu', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  assert.equal((await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: 'mpu', VersionId: done.VersionId }))).LegalHold?.Status, 'ON');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'mpu', VersionId: done.VersionId })), 403, 'AccessDenied', PROTECTED);
});

// Who may delete, shorten, lift or overwrite what: the table of object-lock-refusals.test.ts.

test('without the bypass header GOVERNANCE holds even for the root; retention may be extended; COMPLIANCE cannot turn GOVERNANCE; DeleteObjects refuses per entry; a delete without versionId adds a marker', async () => {
  const { key, versionId } = await put({ ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: future(2) });
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })), 403, 'AccessDenied', PROTECTED);
  await assertFails(s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId, Retention: {} })), 403, 'AccessDenied', PROTECTED);
  await plain.s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: future(5) } }));
  await plain.s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: future(5) } }));
  await assertFails(s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true, Retention: { Mode: 'GOVERNANCE', RetainUntilDate: future(6) } })), 403, 'AccessDenied', PROTECTED);
  await s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: future(6) } }));

  const marker = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  assert.equal(marker.DeleteMarker, true);
  const multi = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key, VersionId: versionId }, { Key: key, VersionId: marker.VersionId }] } }));
  assert.deepEqual(multi.Errors?.map((e) => [e.Code, e.Message, e.VersionId]), [['AccessDenied', PROTECTED, versionId]]);
  assert.deepEqual(multi.Deleted?.map((d) => d.VersionId), [marker.VersionId]);
  await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
});

test('once the retain-until date passes (the server clock moves), the version may be deleted by anyone allowed to', async () => {
  const { key, versionId } = await put({ ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: future(1) });
  await assertFails(plain.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })), 403, 'AccessDenied', PROTECTED);
  clock += 2 * DAY;
  await plain.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })), 404, 'NotFound');
});

test('coffer rekey leaves a locked version (COMPLIANCE and legal hold) under its key: skipped object-lock, bytes and lock unchanged', async () => {
  const keyA = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const keyB = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const until = future(30);
  const { key, versionId } = await put({
    ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA, ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'ON',
  });
  // Not even with the bypass asked for, by the root: COMPLIANCE and legal holds yield to nobody.
  const r = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket, key, versionId, toKeyId: keyB, bypassGovernanceRetention: true } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { status: 'skipped', reason: 'object-lock', size: 12 });
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  assert.equal(got.SSEKMSKeyId, keyA);
  assert.equal(await got.Body!.transformToString(), 'locked bytes');
  assert.equal(got.ObjectLockMode, 'COMPLIANCE');
  assert.equal(got.ObjectLockRetainUntilDate?.getTime(), until.getTime());
  assert.equal(got.ObjectLockLegalHoldStatus, 'ON');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true })), 403, 'AccessDenied', PROTECTED);
});

test('PostObject: the x-amz-object-lock-* form fields lock the version as PutObject headers do', async () => {
  const { url, fields } = await createPresignedPost(s3, { Bucket: bucket, Key: 'posted', Fields: { 'x-amz-object-lock-legal-hold': 'ON' } });
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('file', new Blob(['posted bytes']), 'posted');
  const r = await fetch(url, { method: 'POST', body: fd });
  assert.equal(r.status, 204, await r.clone().text());
  const versionId = r.headers.get('x-amz-version-id')!;
  assert.equal((await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: 'posted', VersionId: versionId }))).LegalHold?.Status, 'ON');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'posted', VersionId: versionId })), 403, 'AccessDenied', PROTECTED);
});

test('lock headers on a write need s3:PutObjectRetention / s3:PutObjectLegalHold besides s3:PutObject, as the lock operations do', async () => {
  const writer = await users.create('lock-writer', { s3: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: `arn:aws:s3:::${bucket}/*` }] });
  await writer.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'w' }));
  await assertFails(writer.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'w', ObjectLockLegalHoldStatus: 'ON' })), 403, 'AccessDenied', /s3:PutObjectLegalHold/);
  await assertFails(writer.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'w', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: future(1) })), 403, 'AccessDenied', /s3:PutObjectRetention/);
  await assertFails(writer.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'w', ObjectLockLegalHoldStatus: 'ON' })), 403, 'AccessDenied', /s3:PutObjectLegalHold/);
  await assertFails(writer.s3.send(new PutObjectRetentionCommand({ Bucket: bucket, Key: 'w', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: future(1) } })), 403, 'AccessDenied', /s3:PutObjectRetention/);
  await assertFails(writer.s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: 'w' })), 403, 'AccessDenied', /s3:GetObjectLegalHold/);
  await writer.put('lock', { Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject', 's3:PutObjectLegalHold'], Resource: `arn:aws:s3:::${bucket}/*` });
  await writer.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'w', Body: 'w', ObjectLockLegalHoldStatus: 'ON' }));
});
