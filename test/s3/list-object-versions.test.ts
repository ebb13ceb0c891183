// ListObjectVersions on a bucket that never had versioning: every object is listed once
// as its only version, VersionId "null", IsLatest — with prefix, delimiter, max-keys,
// key-marker/version-id-marker paging and encoding-type=url. Also GetBucketVersioning's
// empty configuration. (Versioned buckets: versioning-*.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, GetBucketVersioningCommand, ListObjectVersionsCommand, PutObjectCommand,
  type ListObjectVersionsCommandOutput, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawRequest } from '../interop/support.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('versions');
const KEYS = ['a.txt', 'dir/a', 'dir/b', 'dir/sub/c', 'space key', 'z'];

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const Key of KEYS) await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key, ...(Key === 'z' ? { ChecksumAlgorithm: 'SHA256' } : {}) }));
});
after(async () => srv?.stop());

test('every object is one null version: Key, VersionId, IsLatest, LastModified, ETag, Size, StorageClass, Owner, ChecksumAlgorithm', async () => {
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
  assert.equal(r.$metadata.httpStatusCode, 200);
  assert.deepEqual(r.Versions?.map((v) => v.Key), KEYS);
  assert.equal(r.DeleteMarkers, undefined);
  assert.equal(r.IsTruncated, false);
  assert.equal(r.Name, bucket);
  assert.equal(r.MaxKeys, 1000);
  for (const v of r.Versions!) {
    assert.equal(v.VersionId, 'null');
    assert.equal(v.IsLatest, true);
    assert.equal(v.Size, Buffer.byteLength(v.Key!));
    assert.match(v.ETag ?? '', /^"[0-9a-f]{32}"$/);
    assert.ok(v.LastModified instanceof Date);
    assert.equal(v.StorageClass, 'STANDARD');
    assert.ok(v.Owner?.ID);
  }
  assert.deepEqual(r.Versions!.find((v) => v.Key === 'z')!.ChecksumAlgorithm, ['SHA256']);
});

test('prefix and delimiter roll keys up into CommonPrefixes', async () => {
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/' }));
  assert.deepEqual(r.Versions?.map((v) => v.Key), ['a.txt', 'space key', 'z']);
  assert.deepEqual(r.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
  assert.equal(r.Delimiter, '/');
  const sub = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/', Prefix: 'dir/' }));
  assert.deepEqual(sub.Versions?.map((v) => v.Key), ['dir/a', 'dir/b']);
  assert.deepEqual(sub.CommonPrefixes?.map((p) => p.Prefix), ['dir/sub/']);
  assert.equal(sub.Prefix, 'dir/');
});

test('max-keys pages with NextKeyMarker / NextVersionIdMarker and visits every entry once', async () => {
  const seen: string[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  let pages = 0;
  for (;;) {
    const r: ListObjectVersionsCommandOutput = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 2, Delimiter: '/', KeyMarker, VersionIdMarker }));
    pages++;
    seen.push(...(r.Versions ?? []).map((v) => v.Key!), ...(r.CommonPrefixes ?? []).map((p) => p.Prefix!));
    if (!r.IsTruncated) {
      assert.equal(r.NextKeyMarker, undefined);
      break;
    }
    assert.ok(r.NextKeyMarker);
    KeyMarker = r.NextKeyMarker;
    VersionIdMarker = r.NextVersionIdMarker;
  }
  assert.deepEqual(seen.sort(), ['a.txt', 'dir/', 'space key', 'z']);
  assert.equal(pages, 2);
  const first = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1 }));
  assert.equal(first.NextKeyMarker, 'a.txt');
  assert.equal(first.NextVersionIdMarker, 'null');
  // key-marker with version-id-marker "null" resumes after that key, as without it.
  const next = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1, KeyMarker: 'a.txt', VersionIdMarker: 'null' }));
  assert.deepEqual(next.Versions?.map((v) => v.Key), ['dir/a']);
  assert.equal(next.KeyMarker, 'a.txt');
  assert.equal(next.VersionIdMarker, 'null');
});

test('a version-id-marker without a key-marker, or naming no version, is InvalidArgument', async () => {
  await assertFails(s3.send(new ListObjectVersionsCommand({ Bucket: bucket, VersionIdMarker: 'null' })), 400, 'InvalidArgument', 'A version-id marker cannot be specified without a key marker.');
  await assertFails(s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: 'a.txt', VersionIdMarker: 'v123' })), 400, 'InvalidArgument', 'Invalid version id specified');
  await assertFails(s3.send(new ListObjectVersionsCommand({ Bucket: uniqueBucket('absent') })), 404, 'NoSuchBucket');
});

test('encoding-type=url percent-encodes keys, prefixes and markers (a space as %20)', async () => {
  const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}`, query: { versions: '', 'encoding-type': 'url', prefix: 'space ', 'max-keys': '5' } });
  const xml = r.body.toString();
  assert.equal(r.status, 200, xml);
  assert.match(xml, /^<\?xml[^>]*>\s*<ListVersionsResult xmlns="http:\/\/s3\.amazonaws\.com\/doc\/2006-03-01\/">/);
  assert.match(xml, /<Prefix>space%20<\/Prefix>/);
  assert.match(xml, /<Version><Key>space%20key<\/Key><VersionId>null<\/VersionId><IsLatest>true<\/IsLatest>/);
  assert.match(xml, /<EncodingType>url<\/EncodingType>/);
});

test('GetBucketVersioning of a bucket that never had versioning answers an empty configuration', async () => {
  const g = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  assert.equal(g.Status, undefined);
  assert.equal(g.MFADelete, undefined);
});
