// ListObjects and ListObjectsV2 against the real server: prefixes, delimiters,
// pagination, start-after, markers, encoding-type=url, fetch-owner.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('list');
const KEYS = ['a.txt', 'dir/a', 'dir/b', 'dir/sub/c', 'dir/sub/d', 'dir2/x', 'é-accent', 'space key', 'z'];

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const Key of KEYS) await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
});
after(async () => srv?.stop());

test('ListObjectsV2 lists every key in UTF-8 order with sizes and ETags', async () => {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  assert.deepEqual(r.Contents?.map((c) => c.Key), [...KEYS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  assert.equal(r.KeyCount, KEYS.length);
  assert.equal(r.IsTruncated, false);
  assert.equal(r.Contents?.[0]?.Size, 'a.txt'.length);
  assert.match(r.Contents?.[0]?.ETag ?? '', /^"[0-9a-f]{32}"$/);
  assert.equal(r.Contents?.[0]?.Owner, undefined);
});

test('delimiter rolls keys up into CommonPrefixes', async () => {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
  assert.deepEqual(r.CommonPrefixes?.map((p) => p.Prefix), ['dir/', 'dir2/']);
  assert.deepEqual(r.Contents?.map((c) => c.Key), ['a.txt', 'space key', 'z', 'é-accent']);
  const sub = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/', Prefix: 'dir/' }));
  assert.deepEqual(sub.Contents?.map((c) => c.Key), ['dir/a', 'dir/b']);
  assert.deepEqual(sub.CommonPrefixes?.map((p) => p.Prefix), ['dir/sub/']);
});

test('V2 pagination with max-keys and continuation tokens visits every entry once', async () => {
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 2, Delimiter: '/', ContinuationToken: token }));
    seen.push(...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((p) => p.Prefix!));
    token = r.NextContinuationToken;
    assert.equal(r.IsTruncated, token !== undefined);
    pages++;
  } while (token && pages < 20);
  assert.deepEqual(seen.sort(), ['a.txt', 'dir/', 'dir2/', 'space key', 'z', 'é-accent'].sort());
});

test('start-after and fetch-owner', async () => {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, StartAfter: 'dir/sub/c', FetchOwner: true }));
  assert.equal(r.Contents?.[0]?.Key, 'dir/sub/d');
  assert.ok(r.Contents?.[0]?.Owner?.ID);
  assert.equal(r.StartAfter, 'dir/sub/c');
});

test('ListObjects v1 with marker, NextMarker and max-keys', async () => {
  const first = await s3.send(new ListObjectsCommand({ Bucket: bucket, MaxKeys: 3, Delimiter: '/' }));
  assert.equal(first.IsTruncated, true);
  assert.deepEqual([...(first.Contents ?? []).map((c) => c.Key), ...(first.CommonPrefixes ?? []).map((p) => p.Prefix)], ['a.txt', 'dir/', 'dir2/']);
  assert.equal(first.NextMarker, 'dir2/');
  const second = await s3.send(new ListObjectsCommand({ Bucket: bucket, Marker: first.NextMarker, Delimiter: '/' }));
  assert.deepEqual(second.Contents?.map((c) => c.Key), ['space key', 'z', 'é-accent']);
  assert.ok(first.Contents?.[0]?.Owner?.ID, 'v1 always lists the owner');
});

test('encoding-type=url encodes keys and prefixes, a space as %20 as AWS does (not +)', async () => {
  const r = await fetchList();
  assert.match(r, /<Key>space%20key<\/Key>/);
  assert.match(r, /<EncodingType>url<\/EncodingType>/);
});

test('max-keys=0 and an invalid max-keys', async () => {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 0 }));
  assert.equal(r.KeyCount, 0);
  await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: -1 })), (e: Error) => e.name === 'InvalidArgument');
});

async function fetchList(): Promise<string> {
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  const signed = await getSignedUrl(s3, new ListObjectsV2Command({ Bucket: bucket, EncodingType: 'url', Prefix: 'space' }), { expiresIn: 60 });
  const r = await fetch(signed);
  assert.equal(r.status, 200);
  return r.text();
}
