// Small wire details that SDKs and tools run into: CreateBucket with object lock, an empty continuation-token, the error a wrong flexible checksum
// answers, the tag-count limit, and UploadPartCopy into an SSE-C upload without its key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, GetBucketVersioningCommand, GetObjectLockConfigurationCommand, HeadBucketCommand, ListObjectsV2Command, PutObjectCommand, PutObjectTaggingCommand, GetObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawRequest, sha256hex } from '../interop/support.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('details');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const Key of ['a', 'b', 'c']) await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
});
after(async () => srv?.stop());

test('CreateBucket with x-amz-bucket-object-lock-enabled: true makes a versioned bucket with object lock (object-lock.test.ts); false is fine', async () => {
  const locked = uniqueBucket('locked');
  await s3.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: locked }))).Status, 'Enabled');
  assert.equal((await s3.send(new GetObjectLockConfigurationCommand({ Bucket: locked }))).ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled');
  const unlocked = uniqueBucket('unlocked');
  await s3.send(new CreateBucketCommand({ Bucket: unlocked, ObjectLockEnabledForBucket: false }));
  await s3.send(new HeadBucketCommand({ Bucket: unlocked }));
});

test('ListObjectsV2 with an empty continuation-token lists from the start, as without one', async () => {
  const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}`, query: { 'list-type': '2', 'continuation-token': '', 'max-keys': '2' } });
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, /<Key>a<\/Key>.*<Key>b<\/Key>/s);
  assert.match(r.body, /<IsTruncated>true<\/IsTruncated>/);
  const sdk = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: '' }));
  assert.deepEqual(sdk.Contents?.map((c) => c.Key), ['a', 'b', 'c']);
});

test('a flexible checksum that does not match the body is BadDigest, for every algorithm', async () => {
  const body = Buffer.from('checksummed body');
  const wrong: Record<string, string> = {
    crc32: 'AAAAAA==', crc32c: 'AAAAAA==', crc64nvme: 'AAAAAAAAAAA=',
    sha1: Buffer.alloc(20).toString('base64'), sha256: Buffer.alloc(32).toString('base64'),
  };
  const names: Record<string, string> = { crc32: 'CRC32', crc32c: 'CRC32C', crc64nvme: 'CRC64NVME', sha1: 'SHA1', sha256: 'SHA256' };
  for (const [alg, value] of Object.entries(wrong)) {
    const r = await rawRequest({
      method: 'PUT', url: srv.url, path: `/${bucket}/digest-${alg}`, body,
      headers: { [`x-amz-checksum-${alg}`]: value, 'x-amz-sdk-checksum-algorithm': names[alg]!, 'x-amz-content-sha256': sha256hex(body) },
    });
    assert.equal(r.status, 400, `${alg}: ${r.body}`);
    assert.match(r.body, /<Code>BadDigest<\/Code>/, alg);
    assert.match(r.body, new RegExp(`<Message>The ${names[alg]} you specified did not match the calculated checksum.</Message>`), alg);
  }
});

test('more than 10 object tags is 400 BadRequest "Object tags cannot be greater than 10", as AWS answers', async () => {
  const TagSet = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
  await assertFails(s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'a', Tagging: { TagSet } })), 400, 'BadRequest', 'Object tags cannot be greater than 10');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tags11', Body: 'x', Tagging: TagSet.map((t) => `${t.Key}=${t.Value}`).join('&') })), 400, 'BadRequest', 'Object tags cannot be greater than 10');
  await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'a', Tagging: { TagSet: TagSet.slice(0, 10) } }));
  assert.equal((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'a' }))).TagSet?.length, 10);
});

test('an UploadPart whose flexible checksum does not match the body is BadDigest', async () => {
  const { CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp-digest', ChecksumAlgorithm: 'CRC32' }));
  const body = Buffer.from('part body');
  const r = await rawRequest({
    method: 'PUT', url: srv.url, path: `/${bucket}/mp-digest`, query: { partNumber: '1', uploadId: up.UploadId! }, body,
    headers: { 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-sdk-checksum-algorithm': 'CRC32', 'x-amz-content-sha256': sha256hex(body) },
  });
  assert.equal(r.status, 400, r.body);
  assert.match(r.body, /<Code>BadDigest<\/Code><Message>The CRC32 you specified did not match the calculated checksum.<\/Message>/);
});

test('UploadPartCopy into an SSE-C upload without the customer key is refused as UploadPart is; with it the part is copied', async () => {
  const { CreateMultipartUploadCommand, UploadPartCopyCommand, ListPartsCommand } = await import('@aws-sdk/client-s3');
  const { customerKey, ssec } = await import('../helpers/sse.js');
  const k = customerKey();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'upc-src', Body: 'copied bytes' }));
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'upc-ssec', ...ssec(k) }));
  const base = { Bucket: bucket, Key: 'upc-ssec', UploadId: c.UploadId, PartNumber: 1, CopySource: `${bucket}/upc-src` };
  await assertFails(s3.send(new UploadPartCopyCommand(base)), 400, 'InvalidRequest',
    'The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.');
  assert.equal((await s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'upc-ssec', UploadId: c.UploadId }))).Parts, undefined);
  const ok = await s3.send(new UploadPartCopyCommand({ ...base, ...ssec(k) }));
  assert.ok(ok.CopyPartResult?.ETag);
});

test('GetObjectTagging returns the tags in the order the client gave them', async () => {
  const TagSet = [{ Key: 'zeta', Value: '1' }, { Key: 'alpha', Value: '2' }, { Key: 'Mid', Value: '3' }];
  await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'b', Tagging: { TagSet } }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'b' }))).TagSet, TagSet);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tagged', Body: 'x', Tagging: 'zeta=1&alpha=2&Mid=3' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' }))).TagSet, TagSet);
});
