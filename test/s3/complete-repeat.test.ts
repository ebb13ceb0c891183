// A repeated CompleteMultipartUpload (an SDK retrying after the first response was lost)
// answers 200 with the first result, as AWS does, while the key still holds the object
// the upload made; NoSuchUpload once it was overwritten or deleted, or for another key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  PutObjectCommand, UploadPartCommand, type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  bucket = uniqueBucket('repeat');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

async function upload(key: string, data: string, extra: Partial<ConstructorParameters<typeof CreateMultipartUploadCommand>[0]> = {}) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...extra }));
  const p = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: data, ...(extra.ChecksumAlgorithm ? { ChecksumAlgorithm: extra.ChecksumAlgorithm } : {}) }));
  const parts: CompletedPart[] = [{ PartNumber: 1, ETag: p.ETag, ...(p.ChecksumCRC32 ? { ChecksumCRC32: p.ChecksumCRC32 } : {}) }];
  return { uploadId: UploadId!, parts };
}

const complete = (key: string, uploadId: string, parts: CompletedPart[], extra: Partial<ConstructorParameters<typeof CompleteMultipartUploadCommand>[0]> = {}) =>
  s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...extra }));

test('a repeated CompleteMultipartUpload answers 200 with the same ETag, Location, Bucket, Key and checksum', async () => {
  const { uploadId, parts } = await upload('again', 'hello', { ChecksumAlgorithm: 'CRC32' });
  const first = await complete('again', uploadId, parts);
  const second = await complete('again', uploadId, parts);
  assert.equal(second.$metadata.httpStatusCode, 200);
  for (const f of ['ETag', 'Location', 'Bucket', 'Key', 'ChecksumCRC32', 'ChecksumType'] as const) assert.equal(second[f], first[f], f);
  assert.ok(first.ChecksumCRC32);
  // A different part list still names the completed upload: the same result.
  const third = await complete('again', uploadId, [{ PartNumber: 2, ETag: '"0123"' }]);
  assert.equal(third.ETag, first.ETag);
  // A conditional repeat is answered from the record too (the first one created the key).
  assert.equal((await complete('again', uploadId, parts, { IfNoneMatch: '*' })).ETag, first.ETag);
});

test('a repeat after the key was overwritten or deleted, or for another key, is NoSuchUpload', async () => {
  const a = await upload('over', 'one');
  await complete('over', a.uploadId, a.parts);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'over', Body: 'two' }));
  await assertFails(complete('over', a.uploadId, a.parts), 404, 'NoSuchUpload');

  const b = await upload('gone', 'one');
  await complete('gone', b.uploadId, b.parts);
  await assertFails(complete('elsewhere', b.uploadId, b.parts), 404, 'NoSuchUpload');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone' }));
  await assertFails(complete('gone', b.uploadId, b.parts), 404, 'NoSuchUpload');
});
