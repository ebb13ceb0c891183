// Encrypted multipart uploads, copies, SSE-C and DSSE-KMS through @aws-sdk/client-s3
// against the real server, pinned to AWS's recordings (test_s3_multipart_upload_sse,
// test_s3_copy_object_in_place_with_encryption, TestS3SSECEncryption) and s3-sse.md
// A1, A2, A7: SSE headers echoed by every multipart step and refused on UploadPart and
// Complete; reads across part boundaries; CopyObject's encryption rules; UploadPartCopy
// between encryption kinds; SSE-C with every recorded validation error; DSSE-KMS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand,
  HeadObjectCommand, PutBucketEncryptionCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
  type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { createKeyVia } from '../kms/harness.js';
import { assertFails, failure } from '../helpers/failure.js';
import { customerKey, getBody, md5b64, ssec, withHeaders } from '../helpers/sse.js';

const MiB = 1024 * 1024;
let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('ssecopy');
let keyA: { arn: string; id: string };
let keyB: { arn: string; id: string };

const NOT_SUPPORTED = 'x-amz-server-side-encryption header is not supported for this operation.';
const STORED_WITH_SSE = 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.';
const WRONG_KEY = 'Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.';
const PART_NEEDS_KEY = 'The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.';
const ILLEGAL_COPY = "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.";
const SSE = 'x-amz-server-side-encryption';
const C_ALG = 'x-amz-server-side-encryption-customer-algorithm';
const C_KEY = 'x-amz-server-side-encryption-customer-key';
const C_MD5 = 'x-amz-server-side-encryption-customer-key-md5';

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const a = await createKeyVia(srv.kms);
  const b = await createKeyVia(srv.kms);
  keyA = { arn: a.Arn!, id: a.KeyId! };
  keyB = { arn: b.Arn!, id: b.KeyId! };
});
after(async () => srv?.stop());

/** Uploads `parts` to an upload created with `create`; returns what Create, each UploadPart and Complete answered. */
async function multipart(key: string, parts: Buffer[], create: Record<string, unknown> = {}, perPart: Record<string, unknown> = {}) {
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...create }));
  const uploaded = [];
  const done: CompletedPart[] = [];
  for (const [i, body] of parts.entries()) {
    const r = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: c.UploadId, PartNumber: i + 1, Body: body, ...perPart }));
    uploaded.push(r);
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  const complete = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: done } }));
  return { create: c, parts: uploaded, complete };
}

async function rangeOf(key: string, start: number, end: number, extra: Record<string, unknown> = {}): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}`, ...extra }));
  assert.equal(r.ContentRange, `bytes ${start}-${end}/${r.ContentRange?.split('/')[1]}`);
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** Ranged GETs at every part boundary (and the object's ends) match the plaintext. */
async function checkRanges(key: string, data: Buffer, boundaries: number[], extra: Record<string, unknown> = {}) {
  const cuts = [0, ...boundaries, data.length - 1];
  for (const at of cuts) {
    const start = Math.max(0, at - 17);
    const end = Math.min(data.length - 1, at + 17);
    assert.ok((await rangeOf(key, start, end, extra)).equals(data.subarray(start, end + 1)), `bytes ${start}-${end}`);
  }
  const wide = [boundaries[0]! - 100, boundaries[boundaries.length - 1]! + 100];
  assert.ok((await rangeOf(key, wide[0]!, wide[1]!, extra)).equals(data.subarray(wide[0]!, wide[1]! + 1)), 'a range over every part');
}

test('multipart SSE-KMS: Create, UploadPart and Complete echo aws:kms, the key ARN and the bucket key; reads cross part boundaries', async () => {
  const parts = [randomBytes(5 * MiB + 1), randomBytes(5 * MiB), randomBytes(1000)];
  const data = Buffer.concat(parts);
  const r = await multipart('mpu-kms', parts, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id, BucketKeyEnabled: true });
  for (const resp of [r.create, ...r.parts, r.complete]) {
    assert.equal(resp.ServerSideEncryption, 'aws:kms');
    assert.equal(resp.SSEKMSKeyId, keyA.arn);
    assert.equal(resp.BucketKeyEnabled, true);
  }
  assert.match(r.complete.ETag ?? '', /^"[0-9a-f]{32}-3"$/);
  const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mpu-kms' }));
  assert.equal(get.SSEKMSKeyId, keyA.arn);
  assert.equal(get.BucketKeyEnabled, true);
  assert.equal(get.ETag, r.complete.ETag);
  assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(data));
  await checkRanges('mpu-kms', data, [5 * MiB + 1, 10 * MiB + 1]);
  let offset = 0;
  for (const [i, p] of parts.entries()) {
    const part = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mpu-kms', PartNumber: i + 1 }));
    assert.equal(part.PartsCount, 3);
    assert.equal(part.ContentLength, p.length);
    assert.equal(part.ContentRange, `bytes ${offset}-${offset + p.length - 1}/${data.length}`);
    assert.equal(part.SSEKMSKeyId, keyA.arn);
    assert.ok(Buffer.from(await part.Body!.transformToByteArray()).equals(p), `part ${i + 1}`);
    offset += p.length;
  }
});

test('UploadPart and CompleteMultipartUpload with x-amz-server-side-encryption are 400 InvalidArgument', async () => {
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu-refuse', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
  const base = { Bucket: bucket, Key: 'mpu-refuse', UploadId: c.UploadId };
  await assertFails(
    s3.send(withHeaders(new UploadPartCommand({ ...base, PartNumber: 1, Body: 'x' }), { [SSE]: 'aws:kms' })),
    400, 'InvalidArgument', NOT_SUPPORTED, { ArgumentName: SSE, ArgumentValue: 'aws:kms' },
  );
  const p = await s3.send(new UploadPartCommand({ ...base, PartNumber: 1, Body: 'hello' }));
  assert.equal(p.SSEKMSKeyId, keyA.arn);
  const done = { ...base, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] } };
  await assertFails(
    s3.send(withHeaders(new CompleteMultipartUploadCommand(done), { [SSE]: 'aws:kms' })),
    400, 'InvalidArgument', NOT_SUPPORTED, { ArgumentName: SSE, ArgumentValue: 'aws:kms' },
  );
  const ok = await s3.send(new CompleteMultipartUploadCommand(done));
  assert.equal(ok.SSEKMSKeyId, keyA.arn);
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'mpu-refuse' })).toString(), 'hello');
});

test('CopyObject without SSE headers takes the destination bucket\'s default, not the source\'s key, context or bucket key', async () => {
  const kmsBucket = uniqueBucket('ssecopy-kms');
  await s3.send(new CreateBucketCommand({ Bucket: kmsBucket }));
  await s3.send(new PutBucketEncryptionCommand({ Bucket: kmsBucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyB.id } }] } }));
  const body = randomBytes(70_000);
  const ctx = Buffer.from(JSON.stringify({ origin: 'source' })).toString('base64');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-src', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id, SSEKMSEncryptionContext: ctx, BucketKeyEnabled: true }));
  const toKms = await s3.send(new CopyObjectCommand({ Bucket: kmsBucket, Key: 'c', CopySource: `${bucket}/copy-src` }));
  assert.equal(toKms.ServerSideEncryption, 'aws:kms');
  assert.equal(toKms.SSEKMSKeyId, keyB.arn);
  assert.equal(toKms.BucketKeyEnabled, undefined);
  assert.equal(toKms.SSEKMSEncryptionContext, undefined, 'the source\'s context is not copied');
  assert.ok((await getBody(s3, { Bucket: kmsBucket, Key: 'c' })).equals(body));
  const toPlain = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy-plain', CopySource: `${bucket}/copy-src` }));
  assert.equal(toPlain.ServerSideEncryption, 'AES256');
  assert.equal(toPlain.SSEKMSKeyId, undefined);
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copy-plain' }));
  assert.equal(head.ServerSideEncryption, 'AES256');
  assert.equal(head.BucketKeyEnabled, undefined);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'copy-plain' })).equals(body));
  // Headers override the destination default (test_copy_object_kms).
  const withBk = await s3.send(new CopyObjectCommand({ Bucket: kmsBucket, Key: 'd', CopySource: `${bucket}/copy-plain`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.arn, BucketKeyEnabled: true }));
  assert.equal(withBk.SSEKMSKeyId, keyA.arn);
  assert.equal(withBk.BucketKeyEnabled, true);
  const got = await s3.send(new GetObjectCommand({ Bucket: kmsBucket, Key: 'd' }));
  assert.equal(got.BucketKeyEnabled, true);
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body));
});

test('copy in place: changing only the encryption is allowed; no change of an SSE-S3 object is InvalidRequest; aws:kms alone means aws/s3', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'inplace', Body: 'test', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id, BucketKeyEnabled: true }));
  const self = { Bucket: bucket, Key: 'inplace', CopySource: `${bucket}/inplace` };
  const managed = await s3.send(new CopyObjectCommand({ ...self, ServerSideEncryption: 'aws:kms' }));
  const aws = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!.Arn;
  assert.equal(managed.ServerSideEncryption, 'aws:kms');
  assert.equal(managed.SSEKMSKeyId, aws, 'aws:kms without a key id: the AWS managed key');
  assert.equal(managed.BucketKeyEnabled, undefined, 'the source\'s bucket key is dropped');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'inplace' }));
  assert.equal(head.SSEKMSKeyId, aws);
  assert.equal(head.BucketKeyEnabled, undefined);
  const toAes = await s3.send(new CopyObjectCommand({ ...self, ServerSideEncryption: 'AES256' }));
  assert.equal(toAes.ServerSideEncryption, 'AES256');
  assert.equal(toAes.CopyObjectResult?.ETag, '"098f6bcd4621d373cade4e832627b4f6"', 'the recorded SSE-S3 ETag of "test"');
  await assertFails(s3.send(new CopyObjectCommand(self)), 400, 'InvalidRequest', ILLEGAL_COPY);
  await s3.send(new CopyObjectCommand({ ...self, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyB.id }));
  const noHeaders = await s3.send(new CopyObjectCommand(self));
  assert.equal(noHeaders.ServerSideEncryption, 'AES256', 'an SSE-KMS object copied onto itself without headers becomes SSE-S3');
  assert.equal(noHeaders.SSEKMSKeyId, undefined);
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'inplace' })).toString(), 'test');
});

test('UploadPartCopy re-encrypts: an SSE-KMS source into an SSE-S3 upload, and an SSE-S3 source into an SSE-KMS upload', async () => {
  const kmsSrc = randomBytes(5 * MiB + 10);
  const s3Src = randomBytes(300_000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'upc-kms', Body: kmsSrc, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'upc-s3', Body: s3Src, ServerSideEncryption: 'AES256' }));
  for (const [dest, create, expectAlg, expectKey] of [
    ['upc-into-s3', { ServerSideEncryption: 'AES256' as const }, 'AES256', undefined],
    ['upc-into-kms', { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: keyB.id }, 'aws:kms', keyB.arn],
  ] as const) {
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: dest, ...create }));
    const base = { Bucket: bucket, Key: dest, UploadId: c.UploadId };
    const p1 = await s3.send(new UploadPartCopyCommand({ ...base, PartNumber: 1, CopySource: `${bucket}/upc-kms` }));
    const p2 = await s3.send(new UploadPartCopyCommand({ ...base, PartNumber: 2, CopySource: `${bucket}/upc-s3`, CopySourceRange: 'bytes=1000-200999' }));
    for (const p of [p1, p2]) {
      assert.equal(p.ServerSideEncryption, expectAlg, dest);
      assert.equal(p.SSEKMSKeyId, expectKey, dest);
    }
    await s3.send(new CompleteMultipartUploadCommand({ ...base, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult?.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult?.ETag }] } }));
    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: dest }));
    assert.equal(get.ServerSideEncryption, expectAlg);
    assert.equal(get.SSEKMSKeyId, expectKey);
    assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(Buffer.concat([kmsSrc, s3Src.subarray(1000, 201000)])), dest);
  }
});

test('SSE-C: PutObject, GetObject and HeadObject with the customer key echo AES256 and the key MD5; ranges decrypt', async () => {
  const k = customerKey();
  const body = randomBytes(200_000);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: body, ...ssec(k) }));
  assert.equal(put.SSECustomerAlgorithm, 'AES256');
  assert.equal(put.SSECustomerKeyMD5, k.md5);
  assert.equal(put.ServerSideEncryption, undefined);
  const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec', ...ssec(k) }));
  assert.equal(get.SSECustomerAlgorithm, 'AES256');
  assert.equal(get.SSECustomerKeyMD5, k.md5);
  assert.equal(get.ServerSideEncryption, undefined);
  assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ssec', ...ssec(k) }));
  assert.equal(head.SSECustomerKeyMD5, k.md5);
  assert.equal(head.ContentLength, body.length);
  assert.ok((await rangeOf('ssec', 65_530, 131_080, ssec(k))).equals(body.subarray(65_530, 131_081)));
});

test('SSE-C validation on PutObject: algorithm, key, MD5 and conflicting SSE, with AWS\'s codes and messages', async () => {
  const k = customerKey();
  const raw = (h: Record<string, string | null>) => s3.send(withHeaders(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-bad', Body: 'x' }), h));
  const keyB64 = k.key.toString('base64');
  await assertFails(raw({ [C_ALG]: 'KMS', [C_KEY]: keyB64, [C_MD5]: k.md5 }), 400, 'InvalidEncryptionAlgorithmError',
    'The Encryption request you specified is not valid. Supported value: AES256.', { ArgumentName: SSE, ArgumentValue: 'KMS' });
  await assertFails(raw({ [C_ALG]: 'AES256', [C_KEY]: keyB64, [C_MD5]: md5b64('another key') }), 400, 'InvalidArgument',
    'The calculated MD5 hash of the key did not match the hash that was provided.', { ArgumentName: SSE });
  const short = randomBytes(16);
  await assertFails(raw({ [C_ALG]: 'AES256', [C_KEY]: short.toString('base64'), [C_MD5]: md5b64(short) }), 400, 'InvalidArgument',
    'The secret key was invalid for the specified algorithm.', { ArgumentName: SSE });
  await assertFails(raw({ [C_ALG]: 'AES256', [C_KEY]: keyB64 }), 400, 'InvalidArgument', 'The secret key was invalid for the specified algorithm.', { ArgumentName: SSE });
  await assertFails(raw({ [C_ALG]: 'AES256' }), 400, 'InvalidArgument',
    'Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.', { ArgumentName: SSE });
  await assertFails(raw({ [C_KEY]: keyB64, [C_MD5]: k.md5 }), 400, 'InvalidArgument',
    'Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.', { ArgumentName: SSE });
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-bad', Body: 'x', ServerSideEncryption: 'AES256', ...ssec(k) })), 400, 'InvalidArgument',
    'Server Side Encryption with Customer provided key is incompatible with the encryption method specified', { ArgumentName: SSE, ArgumentValue: 'AES256' });
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ssec-bad' })), 404, 'NotFound');
});

test('SSE-C reads: no key is InvalidRequest, another key AccessDenied, a bad MD5 or algorithm the write\'s errors; HEAD without key 400', async () => {
  const k = customerKey();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-read', Body: 'test_data', ...ssec(k) }));
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec-read' })), 400, 'InvalidRequest', STORED_WITH_SSE);
  assert.equal((await failure(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ssec-read' })))).status, 400);
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec-read', ...ssec(customerKey()) })), 403, 'AccessDenied', WRONG_KEY);
  assert.equal((await failure(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ssec-read', ...ssec(customerKey()) })))).status, 403);
  const raw = (h: Record<string, string | null>) => s3.send(withHeaders(new GetObjectCommand({ Bucket: bucket, Key: 'ssec-read' }), h));
  const keyB64 = k.key.toString('base64');
  await assertFails(raw({ [C_ALG]: 'AES256', [C_KEY]: keyB64, [C_MD5]: md5b64('x') }), 400, 'InvalidArgument',
    'The calculated MD5 hash of the key did not match the hash that was provided.', { ArgumentName: SSE });
  await assertFails(raw({ [C_ALG]: 'KMS', [C_KEY]: keyB64, [C_MD5]: k.md5 }), 400, 'InvalidEncryptionAlgorithmError',
    'The Encryption request you specified is not valid. Supported value: AES256.', { ArgumentName: SSE, ArgumentValue: 'KMS' });
  const short = randomBytes(31);
  await assertFails(raw({ [C_ALG]: 'AES256', [C_KEY]: short.toString('base64'), [C_MD5]: md5b64(short) }), 400, 'InvalidArgument',
    'The secret key was invalid for the specified algorithm.', { ArgumentName: SSE });
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'ssec-read', ...ssec(k) })).toString(), 'test_data');
});

test('multipart SSE-C: parts without the key or with another key are refused as recorded; the object needs the key to read', async () => {
  const k = customerKey();
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu-ssec', ...ssec(k) }));
  assert.equal(c.SSECustomerAlgorithm, 'AES256');
  assert.equal(c.SSECustomerKeyMD5, k.md5);
  const base = { Bucket: bucket, Key: 'mpu-ssec', UploadId: c.UploadId };
  await assertFails(s3.send(new UploadPartCommand({ ...base, PartNumber: 1, Body: 'x' })), 400, 'InvalidRequest', PART_NEEDS_KEY);
  await assertFails(s3.send(new UploadPartCommand({ ...base, PartNumber: 1, Body: 'x', ...ssec(customerKey()) })), 400, 'InvalidRequest',
    'The provided encryption parameters did not match the ones used originally.');
  const plain = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu-plain' }));
  assert.equal(plain.ServerSideEncryption, 'AES256');
  await assertFails(s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu-plain', UploadId: plain.UploadId, PartNumber: 1, Body: 'x', ...ssec(k) })), 400, 'InvalidRequest', PART_NEEDS_KEY);
  const parts = [randomBytes(5 * MiB + 3), randomBytes(70_000)];
  const done: CompletedPart[] = [];
  for (const [i, body] of parts.entries()) {
    const r = await s3.send(new UploadPartCommand({ ...base, PartNumber: i + 1, Body: body, ...ssec(k) }));
    assert.equal(r.SSECustomerKeyMD5, k.md5);
    assert.equal(r.SSECustomerAlgorithm, 'AES256');
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  const complete = await s3.send(new CompleteMultipartUploadCommand({ ...base, MultipartUpload: { Parts: done } }));
  assert.match(complete.ETag ?? '', /-2"$/);
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mpu-ssec' })), 400, 'InvalidRequest', STORED_WITH_SSE);
  const data = Buffer.concat(parts);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'mpu-ssec', ...ssec(k) })).equals(data));
  await checkRanges('mpu-ssec', data, [5 * MiB + 3], ssec(k));
  const p2 = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mpu-ssec', PartNumber: 2, ...ssec(k) }));
  assert.ok(Buffer.from(await p2.Body!.transformToByteArray()).equals(parts[1]!));
});

test('CopyObject of an SSE-C source: without the copy-source key, or with a bad algorithm or conflicting SSE, it is refused as recorded', async () => {
  const k = customerKey();
  const k2 = customerKey();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-src', Body: 'test_data', ...ssec(k) }));
  const source = { Bucket: bucket, CopySource: `${bucket}/ssec-src` };
  const srcKey = { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: k.key as unknown as string };
  await assertFails(s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy' })), 400, 'InvalidRequest', STORED_WITH_SSE);
  await assertFails(s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy', CopySourceSSECustomerAlgorithm: 'KMS', CopySourceSSECustomerKey: k.key as unknown as string })),
    400, 'InvalidEncryptionAlgorithmError', 'The Encryption request you specified is not valid. Supported value: AES256.', { ArgumentName: SSE, ArgumentValue: 'KMS' });
  await assertFails(s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy', ...srcKey, SSECustomerAlgorithm: 'KMS', SSECustomerKey: k2.key as unknown as string })),
    400, 'InvalidEncryptionAlgorithmError', 'The Encryption request you specified is not valid. Supported value: AES256.', { ArgumentName: SSE, ArgumentValue: 'KMS' });
  await assertFails(s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy', ...srcKey, ...ssec(k2), ServerSideEncryption: 'AES256' })), 400, 'InvalidArgument',
    'Server Side Encryption with Customer provided key is incompatible with the encryption method specified', { ArgumentName: SSE, ArgumentValue: 'AES256' });
  await assertFails(s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy', ...ssec(k) })), 400, 'InvalidRequest', STORED_WITH_SSE);
});

test('CopyObject of an SSE-C source with the copy-source key re-encrypts under a new customer key or the bucket default', async () => {
  const k = customerKey();
  const k2 = customerKey();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec-src2', Body: 'test_data', ...ssec(k) }));
  const source = { Bucket: bucket, CopySource: `${bucket}/ssec-src2` };
  const srcKey = { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: k.key as unknown as string };
  const toC = await s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy', ...srcKey, ...ssec(k2) }));
  assert.equal(toC.SSECustomerAlgorithm, 'AES256');
  assert.equal(toC.SSECustomerKeyMD5, k2.md5);
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'ssec-copy', ...ssec(k2) })).toString(), 'test_data');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec-copy', ...ssec(k) })), 403, 'AccessDenied', WRONG_KEY);
  const toDefault = await s3.send(new CopyObjectCommand({ ...source, Key: 'ssec-copy-plain', ...srcKey }));
  assert.equal(toDefault.ServerSideEncryption, 'AES256');
  assert.equal(toDefault.SSECustomerKeyMD5, undefined);
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'ssec-copy-plain' })).toString(), 'test_data');
  // UploadPartCopy takes the same copy-source key.
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'ssec-upc' }));
  const part = await s3.send(new UploadPartCopyCommand({ ...source, Key: 'ssec-upc', UploadId: c.UploadId, PartNumber: 1, ...srcKey }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'ssec-upc', UploadId: c.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult?.ETag }] } }));
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'ssec-upc' })).toString(), 'test_data');
});

test('DSSE-KMS (aws:kms:dsse): PUT, GET, HEAD and ranges round-trip; multipart with reads across parts', async () => {
  const body = randomBytes(300_000);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dsse', Body: body, ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyA.id }));
  assert.equal(put.ServerSideEncryption, 'aws:kms:dsse');
  assert.equal(put.SSEKMSKeyId, keyA.arn);
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dsse' }));
  assert.equal(head.ServerSideEncryption, 'aws:kms:dsse');
  assert.equal(head.SSEKMSKeyId, keyA.arn);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'dsse' })).equals(body));
  for (const [a, b] of [[0, 0], [65_535, 65_536], [65_000, 140_000], [299_990, 299_999], [123_456, 123_456]] as const) {
    assert.ok((await rangeOf('dsse', a, b)).equals(body.subarray(a, b + 1)), `bytes ${a}-${b}`);
  }
  const parts = [randomBytes(5 * MiB + 7), randomBytes(100_001)];
  const r = await multipart('dsse-mpu', parts, { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyB.arn });
  for (const resp of [r.create, ...r.parts, r.complete]) {
    assert.equal(resp.ServerSideEncryption, 'aws:kms:dsse');
    assert.equal(resp.SSEKMSKeyId, keyB.arn);
  }
  const data = Buffer.concat(parts);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'dsse-mpu' })).equals(data));
  await checkRanges('dsse-mpu', data, [5 * MiB + 7]);
  const p2 = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dsse-mpu', PartNumber: 2 }));
  assert.ok(Buffer.from(await p2.Body!.transformToByteArray()).equals(parts[1]!));
});
