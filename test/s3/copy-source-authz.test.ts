// A copy reads its source: CopyObject and UploadPartCopy need s3:GetObject on the source
// object (s3:GetObjectVersion when x-amz-copy-source names a version), as in AWS, beside
// s3:PutObject on the destination. Without it a caller could copy any object it may not
// read into a bucket it can read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory, type TestUser } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let copier: TestUser;
let src: string;
let dst: string;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  src = uniqueBucket('copy-src');
  dst = uniqueBucket('copy-dst');
  for (const b of [src, dst]) await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutObjectCommand({ Bucket: src, Key: 'secret.txt', Body: 'not for the copier' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: src, Key: 'open/readable.txt', Body: 'readable' }));
  copier = await users.create('copy-source-user', {});
  // Everything on the destination; on the source only objects under open/.
  await copier.put('dst', { Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${dst}`, `arn:aws:s3:::${dst}/*`] });
  await copier.put('src', { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${src}/open/*` });
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

test('CopyObject of a source the caller may not read is AccessDenied and writes nothing', async () => {
  await assertFails(copier.s3.send(new CopyObjectCommand({ Bucket: dst, Key: 'stolen.txt', CopySource: `${src}/secret.txt` })), 403, 'AccessDenied');
  await assertFails(srv.s3.send(new GetObjectCommand({ Bucket: dst, Key: 'stolen.txt' })), 404, 'NoSuchKey');
});

test('CopyObject of a source the caller may read succeeds', async () => {
  await copier.s3.send(new CopyObjectCommand({ Bucket: dst, Key: 'copied.txt', CopySource: `${src}/open/readable.txt` }));
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: dst, Key: 'copied.txt' }));
  assert.equal(await got.Body!.transformToString(), 'readable');
});

test('UploadPartCopy of a source the caller may not read is AccessDenied', async () => {
  const up = await copier.s3.send(new CreateMultipartUploadCommand({ Bucket: dst, Key: 'parts.bin' }));
  await assertFails(
    copier.s3.send(new UploadPartCopyCommand({ Bucket: dst, Key: 'parts.bin', UploadId: up.UploadId, PartNumber: 1, CopySource: `${src}/secret.txt` })),
    403,
    'AccessDenied',
  );
  const ok = await copier.s3.send(new UploadPartCopyCommand({ Bucket: dst, Key: 'parts.bin', UploadId: up.UploadId, PartNumber: 1, CopySource: `${src}/open/readable.txt` }));
  assert.ok(ok.CopyPartResult?.ETag);
});

test('a copy of a named source version needs s3:GetObjectVersion, not only s3:GetObject', async () => {
  const vb = uniqueBucket('copy-ver');
  await srv.s3.send(new CreateBucketCommand({ Bucket: vb }));
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: vb, VersioningConfiguration: { Status: 'Enabled' } }));
  const v1 = await srv.s3.send(new PutObjectCommand({ Bucket: vb, Key: 'doc', Body: 'one' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: vb, Key: 'doc', Body: 'two' }));
  await copier.put('ver', { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${vb}/*` });
  await copier.s3.send(new CopyObjectCommand({ Bucket: dst, Key: 'current', CopySource: `${vb}/doc` }));
  await assertFails(
    copier.s3.send(new CopyObjectCommand({ Bucket: dst, Key: 'old', CopySource: `${vb}/doc?versionId=${v1.VersionId}` })),
    403,
    'AccessDenied',
  );
  await copier.put('ver', { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: `arn:aws:s3:::${vb}/*` });
  await copier.s3.send(new CopyObjectCommand({ Bucket: dst, Key: 'old', CopySource: `${vb}/doc?versionId=${v1.VersionId}` }));
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: dst, Key: 'old' }));
  assert.equal(await got.Body!.transformToString(), 'one');
});
