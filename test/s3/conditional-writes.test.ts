// Conditional writes and deletes as AWS answers them: If-Match / If-None-Match: * on
// PutObject and CompleteMultipartUpload (412 PreconditionFailed, 404 NoSuchKey for If-Match
// on a missing key, 409 ConditionalRequestConflict when another write lands between the
// check and the commit), If-Match on DeleteObject and per-object <ETag> in DeleteObjects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, DeleteObjectsCommand,
  GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { openRequest, tmpBlobs, waitFor } from '../interop/support.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('cond');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

const put = (Key: string, Body: string, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}) =>
  s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ...extra }));
async function read(Key: string): Promise<string> {
  return (await s3.send(new GetObjectCommand({ Bucket: bucket, Key }))).Body!.transformToString();
}
const exists = (Key: string) => s3.send(new HeadObjectCommand({ Bucket: bucket, Key })).then(() => true, () => false);

test('PutObject If-Match: the current ETag (quoted or bare) writes; another ETag is 412; a missing key is 404 NoSuchKey', async () => {
  const first = await put('im', 'one');
  const second = await put('im', 'two', { IfMatch: first.ETag });
  assert.equal(await read('im'), 'two');
  await put('im', 'three', { IfMatch: second.ETag!.replace(/"/g, '') });
  assert.equal(await read('im'), 'three');
  await assertFails(put('im', 'four', { IfMatch: first.ETag }), 412, 'PreconditionFailed');
  assert.equal(await read('im'), 'three');
  await assertFails(put('im-missing', 'x', { IfMatch: first.ETag }), 404, 'NoSuchKey');
  assert.equal(await exists('im-missing'), false);
});

test('PutObject If-None-Match: * over an existing key is 412 and keeps it', async () => {
  await put('inm', 'one', { IfNoneMatch: '*' });
  await assertFails(put('inm', 'two', { IfNoneMatch: '*' }), 412, 'PreconditionFailed');
  assert.equal(await read('inm'), 'one');
});

test('a write that lands between the check and the commit of a conditional PUT makes it 409 ConditionalRequestConflict', async () => {
  // The conditional PUT passes its check, streams a first chunk (large enough to leave a
  // temporary blob, which shows the check is behind it), then another PUT of the key commits.
  const body = Buffer.alloc(200 * 1024, 7);
  const req = await openRequest({
    method: 'PUT', url: srv.url, path: `/${bucket}/race`,
    headers: { 'if-none-match': '*', 'content-length': String(body.length) },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
  });
  req.write(body.subarray(0, 128 * 1024));
  assert.ok(await waitFor(async () => (await tmpBlobs(srv.dataDir)).length > 0, 20_000), 'the conditional PUT is writing its blob');
  await put('race', 'the other writer');
  req.end(body.subarray(128 * 1024));
  const r = await response;
  assert.equal(r.status, 409, r.body);
  assert.match(r.body, /<Code>ConditionalRequestConflict<\/Code>/);
  assert.equal(await read('race'), 'the other writer');
});

async function multipart(Key: string, data: string) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
  const p = await s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: data }));
  return (extra: Partial<ConstructorParameters<typeof CompleteMultipartUploadCommand>[0]> = {}) =>
    s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] }, ...extra }));
}

test('CompleteMultipartUpload If-Match: 412 on another ETag (the upload stays), 404 NoSuchKey on a missing key, success on the current ETag', async () => {
  const old = await put('mp', 'old');
  const complete = await multipart('mp', 'new');
  await assertFails(complete({ IfMatch: '"0123456789abcdef0123456789abcdef"' }), 412, 'PreconditionFailed');
  assert.equal(await read('mp'), 'old');
  const done = await complete({ IfMatch: old.ETag });
  assert.match(done.ETag ?? '', /-1"$/);
  assert.equal(await read('mp'), 'new');
  const missing = await multipart('mp-missing', 'x');
  await assertFails(missing({ IfMatch: old.ETag }), 404, 'NoSuchKey');
  assert.equal(await exists('mp-missing'), false);
});

test('DeleteObject If-Match: another ETag is 412 and keeps the object; the current ETag or * deletes; a missing key is 404 NoSuchKey', async () => {
  const r = await put('del', 'x');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del', IfMatch: '"0123456789abcdef0123456789abcdef"' })), 412, 'PreconditionFailed');
  assert.equal(await exists('del'), true);
  const d = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del', IfMatch: r.ETag }));
  assert.equal(d.$metadata.httpStatusCode, 204);
  assert.equal(await exists('del'), false);
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del', IfMatch: r.ETag })), 404, 'NoSuchKey');
  await put('del-star', 'x');
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del-star', IfMatch: '*' }));
  assert.equal(await exists('del-star'), false);
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del-star', IfMatch: '*' })), 404, 'NoSuchKey');
  // Without a condition, deleting a missing key still succeeds.
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del-star' }));
});

test('DeleteObject size and last-modified conditions (directory buckets only in AWS) are NotImplemented, not ignored', async () => {
  await put('del-size', 'x');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del-size', IfMatchSize: 1 })), 501, 'NotImplemented');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del-size', IfMatchLastModifiedTime: new Date() })), 501, 'NotImplemented');
  assert.equal(await exists('del-size'), true);
});

test('DeleteObjects honours each object\'s <ETag>: a match is Deleted, a mismatch PreconditionFailed, a missing key NoSuchKey', async () => {
  const a = await put('multi-a', 'a');
  await put('multi-b', 'b');
  const r = await s3.send(new DeleteObjectsCommand({
    Bucket: bucket,
    Delete: {
      Objects: [
        { Key: 'multi-a', ETag: a.ETag },
        { Key: 'multi-b', ETag: '"0123456789abcdef0123456789abcdef"' },
        { Key: 'multi-missing', ETag: a.ETag },
        { Key: 'multi-plain-missing' },
      ],
    },
  }));
  assert.deepEqual(r.Deleted?.map((d) => d.Key).sort(), ['multi-a', 'multi-plain-missing']);
  const errors = Object.fromEntries((r.Errors ?? []).map((e) => [e.Key, e.Code]));
  assert.deepEqual(errors, { 'multi-b': 'PreconditionFailed', 'multi-missing': 'NoSuchKey' });
  assert.equal(await exists('multi-a'), false);
  assert.equal(await exists('multi-b'), true);
});
