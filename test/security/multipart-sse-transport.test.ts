// The TLS rule for server-side encryption on the parts of a multipart upload: AWS refuses
// SSE-C requests over plain HTTP, and every PUT of an SSE-KMS object. CreateMultipartUpload
// was refused from afar, but UploadPart and UploadPartCopy carried a customer key (or the
// plaintext of an SSE-KMS upload's part) over plain HTTP from a non-loopback client.
// Server on all interfaces, as test/http/sse-transport.test.ts; skipped without a
// non-loopback IPv4 interface (run it in a network namespace of its own with one).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { customerKey, ssec } from '../helpers/sse.js';
import { nonLoopbackIPv4 } from '../helpers/tls.js';

const external = nonLoopbackIPv4();
const skip = !external && 'no non-loopback IPv4 interface here';

const KMS_OVER_HTTP = 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.';
const SSEC_OVER_HTTP = 'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.';

let srv: TestServer | undefined;
let local: S3Client;
let remote: S3Client;

before(async () => {
  if (skip) return;
  srv = await startTestServer({ COFFER_ADDRESS: '0.0.0.0' });
  local = srv.client({ endpoint: `http://127.0.0.1:${srv.coffer.port}` });
  remote = srv.client({ endpoint: `http://${external}:${srv.coffer.port}`, maxAttempts: 1 });
});

after(async () => {
  local?.destroy();
  remote?.destroy();
  await srv?.stop();
});

test('plain HTTP from afar: UploadPart of an SSE-C or SSE-KMS upload, and UploadPartCopy with a customer key, are refused; unencrypted parts are not', { skip }, async () => {
  const Bucket = uniqueBucket('mp-transport');
  await local.send(new CreateBucketCommand({ Bucket }));
  const k = customerKey();
  const body = Buffer.from('part over plain http');

  const ssecUpload = await local.send(new CreateMultipartUploadCommand({ Bucket, Key: 'ssec', ...ssec(k) }));
  await assertFails(remote.send(new UploadPartCommand({ Bucket, Key: 'ssec', UploadId: ssecUpload.UploadId, PartNumber: 1, Body: body, ...ssec(k) })), 400, 'InvalidRequest', SSEC_OVER_HTTP);
  await local.send(new UploadPartCommand({ Bucket, Key: 'ssec', UploadId: ssecUpload.UploadId, PartNumber: 1, Body: body, ...ssec(k) }));

  const kmsUpload = await local.send(new CreateMultipartUploadCommand({ Bucket, Key: 'kms', ServerSideEncryption: 'aws:kms' }));
  await assertFails(remote.send(new UploadPartCommand({ Bucket, Key: 'kms', UploadId: kmsUpload.UploadId, PartNumber: 1, Body: body })), 400, 'InvalidRequest', KMS_OVER_HTTP);

  // A copy into a plain upload from an SSE-C source: the source's key crosses the wire.
  await local.send(new PutObjectCommand({ Bucket, Key: 'src', Body: body, ...ssec(k) }));
  const plain = await local.send(new CreateMultipartUploadCommand({ Bucket, Key: 'plain' }));
  await assertFails(
    remote.send(new UploadPartCopyCommand({
      Bucket, Key: 'plain', UploadId: plain.UploadId, PartNumber: 1, CopySource: `${Bucket}/src`,
      CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: k.key as unknown as string,
    })),
    400, 'InvalidRequest', SSEC_OVER_HTTP,
  );
  // Into the SSE-C upload, from a plain source: the upload's key crosses the wire.
  await local.send(new PutObjectCommand({ Bucket, Key: 'plain-src', Body: body }));
  await assertFails(
    remote.send(new UploadPartCopyCommand({ Bucket, Key: 'ssec', UploadId: ssecUpload.UploadId, PartNumber: 2, CopySource: `${Bucket}/plain-src`, ...ssec(k) })),
    400, 'InvalidRequest', SSEC_OVER_HTTP,
  );

  // Unencrypted parts from afar, and the same copy from loopback, are fine.
  const part = await remote.send(new UploadPartCommand({ Bucket, Key: 'plain', UploadId: plain.UploadId, PartNumber: 1, Body: body }));
  assert.ok(part.ETag);
  const copied = await local.send(new UploadPartCopyCommand({
    Bucket, Key: 'plain', UploadId: plain.UploadId, PartNumber: 2, CopySource: `${Bucket}/src`,
    CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: k.key as unknown as string,
  }));
  assert.ok(copied.CopyPartResult?.ETag);
});
