// Object tags come back in the order the client gave them, integer-like keys ("10", "2")
// included: through PutObjectTagging, x-amz-tagging on PutObject and on
// CreateMultipartUpload, CopyObject (REPLACE takes the header's order, COPY keeps the
// source's) and PostObject's tagging field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectTaggingCommand,
  HeadObjectCommand, PutObjectCommand, PutObjectTaggingCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('tag-order');

const TagSet = [{ Key: '10', Value: 'ten' }, { Key: '2', Value: 'two' }, { Key: 'b', Value: 'bee' }, { Key: 'a', Value: 'ay' }];
const header = TagSet.map((t) => `${t.Key}=${t.Value}`).join('&');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

async function tagsOf(key: string) {
  return (await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet;
}

test('PutObjectTagging with integer-like keys: GetObjectTagging answers them in the order put', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'put-tagging', Body: 'x' }));
  await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'put-tagging', Tagging: { TagSet } }));
  assert.deepEqual(await tagsOf('put-tagging'), TagSet);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'put-tagging' }))).TagCount, 4);
});

test('x-amz-tagging on PutObject keeps the order of its keys', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'put-header', Body: 'x', Tagging: header }));
  assert.deepEqual(await tagsOf('put-header'), TagSet);
});

test('x-amz-tagging on CreateMultipartUpload keeps its order through CompleteMultipartUpload', async () => {
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu', Tagging: header }));
  const p = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu', UploadId: c.UploadId, PartNumber: 1, Body: 'part' }));
  await s3.send(new CompleteMultipartUploadCommand({
    Bucket: bucket, Key: 'mpu', UploadId: c.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] },
  }));
  assert.deepEqual(await tagsOf('mpu'), TagSet);
});

test('CopyObject: REPLACE takes the order of x-amz-tagging, COPY keeps the source order', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-src', Body: 'x', Tagging: 'z=1' }));
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-rep', CopySource: `${bucket}/copy-src`, TaggingDirective: 'REPLACE', Tagging: header }));
  assert.deepEqual(await tagsOf('copy-rep'), TagSet);
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-copy', CopySource: `${bucket}/copy-rep` }));
  assert.deepEqual(await tagsOf('copy-copy'), TagSet);
});

test("PostObject's tagging field keeps the order of its tags", async () => {
  const tagging = `<Tagging><TagSet>${TagSet.map((t) => `<Tag><Key>${t.Key}</Key><Value>${t.Value}</Value></Tag>`).join('')}</TagSet></Tagging>`;
  const { url, fields } = await createPresignedPost(s3, { Bucket: bucket, Key: 'posted', Fields: { tagging } });
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('file', new Blob(['form body']), 'f.txt');
  const r = await fetch(url, { method: 'POST', body: fd });
  assert.equal(r.status, 204, await r.clone().text());
  assert.deepEqual(await tagsOf('posted'), TagSet);
});
