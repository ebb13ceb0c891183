// GetObjectAttributes through @aws-sdk/client-s3 against the real server: SSE-C objects
// need their key and the SSE-C headers are validated as GET's are; multipart objects report
// their parts (paged) when the upload applied an additional checksum, their count only
// otherwise; and S3's default full-object CRC64NVME, which uploads without a checksum get
// (single PUTs, copies, multipart uploads whose parts carry the SDK's CRC32), on HEAD/GET
// with checksum mode and in Checksum. (Single-part attributes: tagging-acl.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectAttributesCommand, GetObjectCommand,
  HeadObjectCommand, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Crc64Nvme } from '../../src/checksum/index.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { customerKey, md5b64, ssec, withHeaders } from '../helpers/sse.js';

let srv: TestServer;
let s3: S3Client;
/** Sends no checksum of its own (request_checksum_calculation WHEN_REQUIRED). */
let bare: S3Client;
const bucket = uniqueBucket('attrs');
const MiB = 1024 * 1024;

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  bare = srv.client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  bare.destroy();
  await srv.stop();
});

function crc64(...bufs: Buffer[]): string {
  const c = new Crc64Nvme();
  for (const b of bufs) c.update(b);
  return Buffer.from(c.digest()).toString('base64');
}

async function multipart(client: S3Client, key: string, parts: Buffer[], create: Partial<ConstructorParameters<typeof CreateMultipartUploadCommand>[0]> = {}, part: Record<string, unknown> = {}) {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...create }));
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: parts[i], ...part }));
    done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32 });
  }
  return client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done }, ...part }));
}

test('a PUT without a checksum gets the default full-object CRC64NVME: on the PUT answer, HEAD with checksum mode and GetObjectAttributes', async () => {
  const body = randomBytes(100_000);
  const put = await bare.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: body }));
  assert.equal(put.ChecksumCRC64NVME, crc64(body));
  assert.equal(put.ChecksumType, 'FULL_OBJECT');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain', ChecksumMode: 'ENABLED' }));
  assert.equal(head.ChecksumCRC64NVME, crc64(body));
  assert.equal(head.ChecksumType, 'FULL_OBJECT');
  const without = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain' }));
  assert.equal(without.ChecksumCRC64NVME, undefined, 'only with x-amz-checksum-mode: ENABLED');
  const attrs = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'plain', ObjectAttributes: ['Checksum'] }));
  assert.deepEqual(attrs.Checksum, { ChecksumCRC64NVME: crc64(body), ChecksumType: 'FULL_OBJECT' });
  // A copy of an object with a checksum keeps its algorithm; the default is computed over the copy.
  const copy = await bare.send(new CopyObjectCommand({ Bucket: bucket, Key: 'plain-copy', CopySource: `${bucket}/plain` }));
  assert.equal(copy.CopyObjectResult?.ChecksumCRC64NVME, crc64(body));
});

test('a multipart upload without a checksum algorithm gets the full-object CRC64NVME even when its parts carry the SDK CRC32; Complete does not echo it', async () => {
  const parts = [randomBytes(5 * MiB), randomBytes(1000)];
  const done = await multipart(s3, 'mpu-default', parts);
  assert.equal(done.ChecksumCRC64NVME, undefined, 'AWS leaves the default out of the Complete answer');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mpu-default', ChecksumMode: 'ENABLED' }));
  assert.equal(head.ChecksumCRC64NVME, crc64(...parts));
  assert.equal(head.ChecksumType, 'FULL_OBJECT');
  const attrs = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'mpu-default', ObjectAttributes: ['Checksum', 'ObjectParts'] }));
  assert.deepEqual(attrs.Checksum, { ChecksumCRC64NVME: crc64(...parts), ChecksumType: 'FULL_OBJECT' });
  assert.deepEqual(attrs.ObjectParts, { TotalPartsCount: 2 }, 'no additional checksum: the part count only, as AWS');
});

test('an SSE-C multipart upload whose parts carry the SDK CRC32 has no object checksum, as on AWS', async () => {
  const key = customerKey();
  await multipart(s3, 'mpu-ssec', [randomBytes(5 * MiB), randomBytes(10)], ssec(key), ssec(key));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mpu-ssec', ChecksumMode: 'ENABLED', ...ssec(key) }));
  assert.equal(head.ChecksumCRC64NVME, undefined);
  assert.equal(head.ChecksumCRC32, undefined);
});

test('GetObjectAttributes lists the parts, with their checksums and paged, of a multipart object with a FULL_OBJECT CRC32 checksum', async () => {
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(77)];
  await multipart(s3, 'mpu-crc32', parts, { ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' }, { ChecksumAlgorithm: 'CRC32' });
  const expected = parts.map((p) => {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(crc32(p));
    return v.toString('base64');
  });
  const all = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'mpu-crc32', ObjectAttributes: ['ObjectParts', 'Checksum'] }));
  assert.equal(all.Checksum?.ChecksumType, 'FULL_OBJECT');
  assert.equal(all.ObjectParts?.TotalPartsCount, 3);
  assert.equal(all.ObjectParts?.IsTruncated, false);
  assert.equal(all.ObjectParts?.MaxParts, 1000);
  assert.deepEqual(all.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumCRC32]), parts.map((p, i) => [i + 1, p.length, expected[i]]));
  const first = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'mpu-crc32', ObjectAttributes: ['ObjectParts'], MaxParts: 2 }));
  assert.equal(first.ObjectParts?.IsTruncated, true);
  assert.equal(first.ObjectParts?.MaxParts, 2);
  assert.equal(first.ObjectParts?.PartNumberMarker, '0');
  assert.equal(first.ObjectParts?.NextPartNumberMarker, '2');
  assert.deepEqual(first.ObjectParts?.Parts?.map((p) => p.PartNumber), [1, 2]);
  const rest = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'mpu-crc32', ObjectAttributes: ['ObjectParts'], MaxParts: 2, PartNumberMarker: '2' }));
  assert.equal(rest.ObjectParts?.IsTruncated, false);
  assert.equal(rest.ObjectParts?.PartNumberMarker, '2');
  assert.deepEqual(rest.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.ChecksumCRC32]), [[3, expected[2]]]);
});

test('GetObjectAttributes of an SSE-C object needs its key and validates the SSE-C headers as GET does', async () => {
  const key = customerKey();
  const body = Buffer.from('attributes under a customer key');
  await bare.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: body, ...ssec(key) }));
  const ok = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'ssec', ObjectAttributes: ['ObjectSize', 'Checksum'], ...ssec(key) }));
  assert.equal(ok.ObjectSize, body.length);
  assert.equal(ok.Checksum?.ChecksumCRC64NVME, crc64(body));
  const attrs = (extra: Record<string, unknown> = {}, headers: Record<string, string | null> = {}) =>
    s3.send(withHeaders(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'ssec', ObjectAttributes: ['ObjectSize'], ...extra }), headers));
  await assertFails(attrs(), 400, 'InvalidRequest', 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.');
  await assertFails(attrs(ssec(customerKey())), 403, 'AccessDenied', 'Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.');
  await assertFails(attrs(ssec(key), { 'x-amz-server-side-encryption-customer-algorithm': 'KMS' }), 400, 'InvalidEncryptionAlgorithmError',
    'The Encryption request you specified is not valid. Supported value: AES256.', { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: 'KMS' });
  await assertFails(attrs(ssec(key), { 'x-amz-server-side-encryption-customer-key-MD5': null }), 403, 'AccessDenied');
  await assertFails(attrs(ssec(key), { 'x-amz-server-side-encryption-customer-key-MD5': md5b64('other') }), 400, 'InvalidArgument',
    'The calculated MD5 hash of the key did not match the hash that was provided.');
});

test('GET and HEAD of an SSE-C object without the key MD5 are 403 AccessDenied; a PUT without it is told its key is invalid', async () => {
  const key = customerKey();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-md5', Body: 'x', ...ssec(key) }));
  const noMd5 = { 'x-amz-server-side-encryption-customer-key-MD5': null };
  // A HEAD error has no body: the SDK names it by its status only.
  await assertFails(s3.send(withHeaders(new HeadObjectCommand({ Bucket: bucket, Key: 'ssec-md5', ...ssec(key) }), noMd5)), 403, 'Unknown');
  await assertFails(s3.send(withHeaders(new GetObjectCommand({ Bucket: bucket, Key: 'ssec-md5', ...ssec(key) }), noMd5)), 403, 'AccessDenied',
    'Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.');
  await assertFails(s3.send(withHeaders(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-md5', Body: 'y', ...ssec(key) }), noMd5)), 400, 'InvalidArgument',
    'The secret key was invalid for the specified algorithm.');
});

test('ListParts names the owner by ID only; the initiator keeps its DisplayName', async () => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'lp' }));
  const r = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'lp', UploadId }));
  assert.ok(r.Owner?.ID);
  assert.equal(r.Owner?.DisplayName, undefined);
  assert.ok(r.Initiator?.DisplayName);
});
