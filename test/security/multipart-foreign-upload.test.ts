// An upload id is no capability: a principal with s3:* on its own bucket only, given the
// upload id of another principal's upload in a bucket it cannot write, gets NoSuchUpload
// for every call naming its own bucket (or another key) with that id, AccessDenied for
// calls naming the other bucket, and the other upload keeps its parts and completes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, ListPartsCommand,
  UploadPartCommand, UploadPartCopyCommand, PutObjectCommand,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { refusal, s3On, userFactory } from '../helpers/sse-principals.js';
import { getBody } from '../helpers/sse.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
const mine = uniqueBucket('mp-mine');
const theirs = uniqueBucket('mp-theirs');

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  for (const Bucket of [mine, theirs]) await srv.s3.send(new CreateBucketCommand({ Bucket }));
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function code(p: Promise<unknown>): Promise<[string, number | undefined]> {
  const e = await refusal(p);
  return [e.name, e.$metadata.httpStatusCode];
}

test('the upload id of another bucket\'s upload: NoSuchUpload in one\'s own bucket, AccessDenied in theirs; their upload is untouched', async () => {
  const u = await users.create(`mp-foreign-${Date.now()}`, { own: [s3On(mine)] });
  const Key = 'shared/name.bin';
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: theirs, Key }));
  const theirPart = await srv.s3.send(new UploadPartCommand({ Bucket: theirs, Key, UploadId, PartNumber: 1, Body: 'their bytes' }));
  await u.s3.send(new PutObjectCommand({ Bucket: mine, Key: 'src', Body: 'attacker bytes' }));

  const calls = (Bucket: string, k: string) => [
    () => u.s3.send(new UploadPartCommand({ Bucket, Key: k, UploadId, PartNumber: 1, Body: 'attacker bytes' })),
    () => u.s3.send(new UploadPartCopyCommand({ Bucket, Key: k, UploadId, PartNumber: 1, CopySource: `${mine}/src` })),
    () => u.s3.send(new ListPartsCommand({ Bucket, Key: k, UploadId })),
    () => u.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: k, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: theirPart.ETag! }] } })),
    () => u.s3.send(new AbortMultipartUploadCommand({ Bucket, Key: k, UploadId })),
  ];
  for (const c of calls(mine, Key)) assert.deepEqual(await code(c()), ['NoSuchUpload', 404]);
  for (const c of calls(mine, 'other')) assert.deepEqual(await code(c()), ['NoSuchUpload', 404]);
  for (const c of calls(theirs, Key)) assert.deepEqual(await code(c()), ['AccessDenied', 403]);

  const parts = await srv.s3.send(new ListPartsCommand({ Bucket: theirs, Key, UploadId }));
  assert.deepEqual(parts.Parts?.map((p) => [p.PartNumber, p.ETag]), [[1, theirPart.ETag]]);
  await srv.s3.send(new CompleteMultipartUploadCommand({ Bucket: theirs, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: theirPart.ETag! }] } }));
  assert.equal((await getBody(srv.s3, { Bucket: theirs, Key })).toString(), 'their bytes');
  assert.equal((await refusal(u.s3.send(new ListPartsCommand({ Bucket: mine, Key, UploadId })))).name, 'NoSuchUpload');
});
