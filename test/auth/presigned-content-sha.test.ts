// A presigned PUT may state its payload hash (X-Amz-Content-Sha256 in the query, or the
// header): a value that is neither a hex SHA-256 nor a known sentinel is refused with
// AWS's 400 InvalidArgument; a stated SHA-256 is held against the body.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { presignUrl } from '../../src/auth/sign.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { xmlText } from '../interop/support.js';

let srv: TestServer;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  bucket = uniqueBucket('presha');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

const body = Buffer.from('presigned body');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MESSAGE = 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.';

async function presignedPut(key: string, opts: { contentSha256?: string; header?: string }) {
  const host = new URL(srv.url).host;
  const target = presignUrl({
    method: 'PUT', rawUrl: `/${bucket}/${key}`, headers: { host }, accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET,
    region: 'us-east-1', service: 's3', now: new Date(), expires: 300, ...(opts.contentSha256 !== undefined ? { contentSha256: opts.contentSha256 } : {}),
  });
  const res = await fetch(srv.url + target, { method: 'PUT', body, headers: opts.header !== undefined ? { 'x-amz-content-sha256': opts.header } : {} });
  return { status: res.status, text: await res.text() };
}

for (const [where, opts] of [
  ['query', { contentSha256: 'not-a-hash' }],
  ['query (63 hex digits)', { contentSha256: sha(body).slice(1) }],
  ['header', { header: 'garbage' }],
] as const) {
  test(`a presigned PUT whose X-Amz-Content-Sha256 (${where}) is neither a SHA-256 nor a sentinel is 400 InvalidArgument`, async () => {
    const r = await presignedPut('bad', opts);
    assert.equal(r.status, 400, r.text);
    assert.equal(xmlText(r.text, 'Code'), 'InvalidArgument');
    assert.equal(xmlText(r.text, 'Message'), MESSAGE);
    assert.equal(xmlText(r.text, 'ArgumentName'), 'x-amz-content-sha256');
    await assert.rejects(srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'bad' })), { name: 'NoSuchKey' });
  });
}

test('a presigned PUT signed with the body\'s SHA-256 in the query stores the body', async () => {
  const r = await presignedPut('good', { contentSha256: sha(body) });
  assert.equal(r.status, 200, r.text);
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'good' }));
  assert.equal(await got.Body!.transformToString(), body.toString());
});

test('a presigned PUT whose stated SHA-256 is another body\'s is 400 XAmzContentSHA256Mismatch', async () => {
  const r = await presignedPut('mismatch', { contentSha256: sha(Buffer.from('other')) });
  assert.equal(r.status, 400, r.text);
  assert.equal(xmlText(r.text, 'Code'), 'XAmzContentSHA256Mismatch');
});

test('a presigned PUT with UNSIGNED-PAYLOAD in the query or the header stores the body', async () => {
  assert.equal((await presignedPut('unsigned-q', { contentSha256: 'UNSIGNED-PAYLOAD' })).status, 200);
  assert.equal((await presignedPut('unsigned-h', { header: 'UNSIGNED-PAYLOAD' })).status, 200);
});
