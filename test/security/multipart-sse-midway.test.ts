// What changes between CreateMultipartUpload and the later calls of its upload: the KMS
// key disabled or scheduled for deletion (AWS: KMS.DisabledException and
// KMS.KMSInvalidStateException, aws-recordings/s3-encryption.json) refuses UploadPart,
// UploadPartCopy and Complete, which write nothing, and the upload goes on once the key is
// enabled again; for an own data key and a bucket key (a cached one too). And an SSE-C
// source copied into a part needs its own key: none is InvalidRequest, another AccessDenied.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListPartsCommand, PutObjectCommand,
  UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { CancelKeyDeletionCommand, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { refusal } from '../helpers/sse-principals.js';
import { customerKey, getBody, ssec } from '../helpers/sse.js';

let srv: TestServer;
const Bucket = uniqueBucket('mp-midway');

before(async () => {
  srv = await startTestServer();
  await srv.s3.send(new CreateBucketCommand({ Bucket }));
});
after(async () => {
  await srv?.stop();
});

async function answer(p: Promise<unknown>): Promise<[string, number | undefined, string]> {
  const e = await refusal(p);
  return [e.name, e.$metadata.httpStatusCode, e.message];
}

for (const bucketKey of [false, true]) {
  test(`[${bucketKey ? 'bucket key' : 'own data key'}] a key disabled, then pending deletion, after CreateMultipartUpload refuses UploadPart, UploadPartCopy and Complete; enabled again, the upload completes`, async () => {
    const s3 = srv.s3;
    const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const Key = `mid-${bucketKey}`;
    await s3.send(new PutObjectCommand({ Bucket, Key: `${Key}-src`, Body: 'copy source' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: bucketKey }));
    // A first part warms every cache (the bucket key's included).
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    const p1 = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: body }));

    await srv.kms.send(new DisableKeyCommand({ KeyId: key }));
    const disabled: [string, number, string] = ['KMS.DisabledException', 400, `${key} is disabled.`];
    assert.deepEqual(await answer(s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: 'two' }))), disabled);
    assert.deepEqual(await answer(s3.send(new UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: 2, CopySource: `${Bucket}/${Key}-src` }))), disabled);
    const complete = () => s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag! }] } }));
    assert.deepEqual(await answer(complete()), disabled);
    await srv.kms.send(new EnableKeyCommand({ KeyId: key }));
    await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key, PendingWindowInDays: 7 }));
    const pending: [string, number, string] = ['KMS.KMSInvalidStateException', 400, `${key} is pending deletion.`];
    assert.deepEqual(await answer(s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: 'two' }))), pending);
    assert.deepEqual(await answer(complete()), pending);

    // Nothing was written: one part, no object; the upload goes on with the key back.
    const parts = await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }));
    assert.deepEqual(parts.Parts?.map((p) => p.PartNumber), [1]);
    assert.equal((await refusal(s3.send(new GetObjectCommand({ Bucket, Key })))).name, 'NoSuchKey');
    await srv.kms.send(new CancelKeyDeletionCommand({ KeyId: key }));
    await srv.kms.send(new EnableKeyCommand({ KeyId: key }));
    const done = await complete();
    assert.equal(done.SSEKMSKeyId, key);
    assert.ok((await getBody(s3, { Bucket, Key })).equals(body));
  });
}

test('UploadPartCopy of an SSE-C source: without the copy-source key InvalidRequest, with another key AccessDenied; with its key the part reads back', async () => {
  const s3 = srv.s3;
  const k = customerKey();
  const other = customerKey();
  await s3.send(new PutObjectCommand({ Bucket, Key: 'ssec-src', Body: 'secret source bytes', ...ssec(k) }));
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'ssec-dst' }));
  const copy = (key?: { key: Buffer }) =>
    s3.send(new UploadPartCopyCommand({
      Bucket, Key: 'ssec-dst', UploadId, PartNumber: 1, CopySource: `${Bucket}/ssec-src`,
      ...(key ? { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: key.key as unknown as string } : {}),
    }));
  assert.deepEqual(await answer(copy()), [
    'InvalidRequest', 400, 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.',
  ]);
  assert.deepEqual(await answer(copy(other)), ['AccessDenied', 403, 'Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.']);
  assert.equal((await s3.send(new ListPartsCommand({ Bucket, Key: 'ssec-dst', UploadId }))).Parts, undefined, 'no part was written');
  const part = await copy(k);
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'ssec-dst', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult!.ETag! }] } }));
  assert.equal((await getBody(s3, { Bucket, Key: 'ssec-dst' })).toString(), 'secret source bytes');
});
