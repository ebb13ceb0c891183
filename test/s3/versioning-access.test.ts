// Who may touch versions: the version actions AWS uses when a request names a version
// (s3:GetObjectVersion, s3:DeleteObjectVersion, s3:GetObjectVersionTagging, ...,
// s3:ListBucketVersions, s3:PutBucketVersioning, s3:GetBucketVersioning), and encryption
// across versions: a version written under KMS key A stays readable after the bucket default
// moves to key B — by callers allowed kms:Decrypt on A, and only by them, exactly as for a
// current object; S3 Bucket Keys across versions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteObjectCommand, GetBucketVersioningCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand,
  ListObjectVersionsCommand, PutBucketEncryptionCommand, PutBucketVersioningCommand, PutObjectCommand, PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { kmsOn, userFactory } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
const bucket = uniqueBucket('vaccess');
let v1: string;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  v1 = (await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'old' }))).VersionId!;
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'new' }));
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

const allow = (action: string | string[], resource: string) => ({ Effect: 'Allow', Action: action, Resource: resource });
const obj = `arn:aws:s3:::${bucket}/*`;

test('GET and HEAD of a named version need s3:GetObjectVersion; s3:GetObject reads only the current one', async () => {
  const reader = await users.create('v-reader', { p: [allow('s3:GetObject', obj)] });
  assert.equal(await (await reader.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }))).Body!.transformToString(), 'new');
  const denied = await assertFails(reader.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k', VersionId: v1 })), 403, 'AccessDenied');
  assert.match(denied.message, /not authorized to perform: s3:GetObjectVersion on resource/);
  await assertFails(reader.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'k', VersionId: v1 })), 403, 'Unknown');
  const versionReader = await users.create('v-version-reader', { p: [allow('s3:GetObjectVersion', obj)] });
  assert.equal(await (await versionReader.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k', VersionId: v1 }))).Body!.transformToString(), 'old');
  await assertFails(versionReader.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' })), 403, 'AccessDenied');
});

test('DELETE of a named version needs s3:DeleteObjectVersion; s3:DeleteObject only adds a marker', async () => {
  const deleter = await users.create('v-deleter', { p: [allow('s3:DeleteObject', obj)] });
  await assertFails(deleter.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'k', VersionId: v1 })), 403, 'AccessDenied');
  const marker = await deleter.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'k' }));
  assert.equal(marker.DeleteMarker, true);
  const versionDeleter = await users.create('v-version-deleter', { p: [allow('s3:DeleteObjectVersion', obj)] });
  await versionDeleter.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'k', VersionId: marker.VersionId }));
  assert.equal(await (await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }))).Body!.transformToString(), 'new');
});

test('tagging a named version needs the version tagging actions', async () => {
  const tagger = await users.create('v-tagger', { p: [allow(['s3:GetObjectTagging', 's3:PutObjectTagging'], obj)] });
  await assertFails(tagger.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'k', VersionId: v1 })), 403, 'AccessDenied');
  await assertFails(tagger.s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'k', VersionId: v1, Tagging: { TagSet: [] } })), 403, 'AccessDenied');
  const versionTagger = await users.create('v-version-tagger', { p: [allow(['s3:GetObjectVersionTagging', 's3:PutObjectVersionTagging'], obj)] });
  await versionTagger.s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'k', VersionId: v1, Tagging: { TagSet: [{ Key: 'a', Value: 'b' }] } }));
  assert.deepEqual((await versionTagger.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'k', VersionId: v1 }))).TagSet, [{ Key: 'a', Value: 'b' }]);
});

test('s3:ExistingObjectTag is the tags of the version named', async () => {
  const tagged = (await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'era', Body: 'old', Tagging: 'era=old' }))).VersionId!;
  const plain = (await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'era', Body: 'new' }))).VersionId!;
  const archivist = await users.create('v-archivist', {
    p: [{ Effect: 'Allow', Action: 's3:GetObjectVersion', Resource: obj, Condition: { StringEquals: { 's3:ExistingObjectTag/era': 'old' } } }],
  });
  const got = await archivist.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'era', VersionId: tagged }));
  assert.equal(await got.Body!.transformToString(), 'old');
  await assertFails(archivist.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'era', VersionId: plain })), 403, 'AccessDenied');
});

test('ListObjectVersions needs s3:ListBucketVersions; the versioning configuration its own two actions', async () => {
  const lister = await users.create('v-lister', { p: [allow('s3:ListBucket', `arn:aws:s3:::${bucket}`)] });
  await assertFails(lister.s3.send(new ListObjectVersionsCommand({ Bucket: bucket })), 403, 'AccessDenied');
  await assertFails(lister.s3.send(new GetBucketVersioningCommand({ Bucket: bucket })), 403, 'AccessDenied');
  await assertFails(lister.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } })), 403, 'AccessDenied');
  const admin = await users.create('v-admin', {
    p: [allow(['s3:ListBucketVersions', 's3:GetBucketVersioning', 's3:PutBucketVersioning'], `arn:aws:s3:::${bucket}`)],
  });
  assert.ok((await admin.s3.send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions!.length >= 2);
  assert.equal((await admin.s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status, 'Enabled');
  await admin.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
});

test('a version under KMS key A stays readable after the default moves to B, only to callers allowed kms:Decrypt on A', async () => {
  const b = uniqueBucket('vkms');
  const keyA = (await srv.kms.send(new CreateKeyCommand({ Description: 'A' }))).KeyMetadata!.Arn!;
  const keyB = (await srv.kms.send(new CreateKeyCommand({ Description: 'B' }))).KeyMetadata!.Arn!;
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const setDefault = (key: string, bucketKey: boolean) => srv.s3.send(new PutBucketEncryptionCommand({
    Bucket: b,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key }, BucketKeyEnabled: bucketKey }] },
  }));
  await setDefault(keyA, false);
  const underA = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: 'written under A' }));
  assert.equal(underA.SSEKMSKeyId, keyA);
  await setDefault(keyB, true);
  const underB = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: 'written under B' }));
  assert.deepEqual([underB.SSEKMSKeyId, underB.BucketKeyEnabled], [keyB, true]);
  const underB2 = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'doc', Body: 'B again, same bucket key' }));

  const s3Read = allow(['s3:GetObject', 's3:GetObjectVersion'], `arn:aws:s3:::${b}/*`);
  const onlyB = await users.create('v-kms-b', { p: [s3Read, kmsOn('kms:Decrypt', keyB)] });
  const both = await users.create('v-kms-ab', { p: [s3Read, kmsOn('kms:Decrypt', keyA, keyB)] });

  const text = async (p: Promise<{ Body?: { transformToString(): Promise<string> } }>) => (await p).Body!.transformToString();
  assert.equal(await text(onlyB.s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc' }))), 'B again, same bucket key');
  assert.equal(await text(onlyB.s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc', VersionId: underB.VersionId }))), 'written under B');
  const refused = await assertFails(onlyB.s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc', VersionId: underA.VersionId })), 403, 'AccessDenied');
  assert.match(refused.message, /kms:Decrypt/);
  const old = await both.s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc', VersionId: underA.VersionId }));
  assert.equal(old.SSEKMSKeyId, keyA, 'each version keeps its own envelope');
  assert.equal(await old.Body!.transformToString(), 'written under A');
  const viaBucketKey = await srv.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'doc', VersionId: underB2.VersionId }));
  assert.deepEqual([viaBucketKey.SSEKMSKeyId, viaBucketKey.BucketKeyEnabled], [keyB, true]);
});
