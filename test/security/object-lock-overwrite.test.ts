// Overwriting a locked object: PutObject, CopyObject (from another key, and onto itself, which
// shares the locked version's blobs) and CompleteMultipartUpload on the key of a COMPLIANCE-locked
// version each make a new version (allowed, as in AWS) and leave the locked one whole: its bytes,
// its retention. The version sharing the locked one's blobs is then deleted (it is not locked) and
// garbage collected: the locked version's bytes must survive that too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, GetObjectRetentionCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const DAY = 86_400_000;
let clock = Date.now();
let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('lockover');

before(async () => {
  srv = await startTestServer({}, { now: () => clock });
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
});
after(async () => srv?.stop());

const until = new Date(clock + 10 * DAY);
const BODY = 'the locked bytes '.repeat(1000);

async function locked(key: string): Promise<string> {
  const r = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: BODY, ChecksumAlgorithm: 'CRC32', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
  return r.VersionId!;
}

async function assertWhole(key: string, versionId: string, label: string): Promise<void> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  assert.equal(await got.Body!.transformToString(), BODY, label);
  const ret = await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  assert.deepEqual([ret.Retention?.Mode, ret.Retention?.RetainUntilDate?.getTime()], ['COMPLIANCE', until.getTime()], label);
}

const overwrites: Record<string, (key: string) => Promise<string>> = {
  PutObject: async (key) => (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'new' }))).VersionId!,
  'CopyObject from another key': async (key) => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${key}-src`, Body: 'new' }));
    return (await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${key}-src` }))).VersionId!;
  },
  'CopyObject onto itself (shares the blobs)': async (key) =>
    (await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${key}`, MetadataDirective: 'REPLACE', Metadata: { changed: 'yes' } }))).VersionId!,
  CompleteMultipartUpload: async (key) => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: 'new' }));
    return (await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))).VersionId!;
  },
};

test('PutObject, CopyObject and CompleteMultipartUpload on a locked key make a new version; the locked one stays whole, also once the new one is deleted and collected', async () => {
  let i = 0;
  for (const [name, overwrite] of Object.entries(overwrites)) {
    const key = `k${i++}`;
    const v1 = await locked(key);
    const v2 = await overwrite(key);
    assert.notEqual(v2, v1, name);
    assert.equal((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).VersionId, v2, `${name}: the new version is current`);
    await assertWhole(key, v1, name);
    // The new version is not locked (the bucket has no default retention): it goes, and so do blobs only it used.
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: v2 }));
    await sleep(100); // garbage collection runs after the delete's answer
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'absent' }));
    await sleep(100);
    await assertWhole(key, v1, `${name}, after the new version was deleted`);
  }
});
