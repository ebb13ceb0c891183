// Object versions with the JS SDK: version ids on PutObject, GET/HEAD by versionId, delete
// markers (404 NoSuchKey with x-amz-delete-marker on the key, 405 MethodNotAllowed by id),
// DELETE by version id (delete markers too, never a new marker), the null version of
// never-versioned and suspended buckets, and invalid version ids.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand,
  PutBucketVersioningCommand, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { committedBlobs, rawRequest, waitFor } from '../interop/support.js';

let srv: TestServer;
let s3: S3Client;

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
});
after(async () => srv?.stop());

async function bucketWith(status?: 'Enabled' | 'Suspended'): Promise<string> {
  const b = uniqueBucket('vobj');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  if (status) await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: status } }));
  return b;
}

const body = async (p: Promise<{ Body?: { transformToString(): Promise<string> } }>) => (await p).Body!.transformToString();

test('a never-versioned bucket sends no x-amz-version-id; its objects are the null version', async () => {
  const b = await bucketWith();
  const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }));
  assert.equal(put.VersionId, undefined);
  const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(get.VersionId, undefined);
  assert.equal(await get.Body!.transformToString(), 'one');
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }))), 'one');
  const del = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(del.DeleteMarker, undefined);
  assert.equal(del.VersionId, undefined);
  await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 404, 'NoSuchKey');
});

test('each PUT to an Enabled bucket makes a new 32-character version; GET and HEAD by id read any of them', async () => {
  const b = await bucketWith('Enabled');
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two!' }))).VersionId!;
  assert.match(v1, /^[0-9A-Za-z]{32}$/);
  assert.notEqual(v1, v2);
  const cur = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(cur.VersionId, v2);
  assert.equal(await cur.Body!.transformToString(), 'two!');
  const old = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  assert.equal(old.VersionId, v1);
  assert.equal(await old.Body!.transformToString(), 'one');
  const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  assert.deepEqual([head.VersionId, head.ContentLength], [v1, 3]);
  const ranged = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v2, Range: 'bytes=1-2' }));
  assert.equal(await ranged.Body!.transformToString(), 'wo');
});

test('a version id of the right form that names no version is NoSuchVersion; a malformed or empty one InvalidArgument', async () => {
  const b = await bucketWith('Enabled');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const missing = 'A'.repeat(32);
  await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: missing })), 404, 'NoSuchVersion', 'The specified version does not exist.', { Key: 'k', VersionId: missing });
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', VersionId: missing })), 404, 'NotFound');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'not-a-version' })), 400, 'InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId' });
  const empty = await rawRequest({ method: 'GET', url: srv.url, path: `/${b}/k`, query: { versionId: '' } });
  assert.equal(empty.status, 400);
  assert.match(empty.body, /<Code>InvalidArgument<\/Code><Message>Version id cannot be the empty string<\/Message>/);
});

test('DELETE without a version id adds a delete marker: the key reads as 404 NoSuchKey with x-amz-delete-marker, and leaves listings', async () => {
  const b = await bucketWith('Enabled');
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }))).VersionId!;
  const del = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(del.DeleteMarker, true);
  assert.match(del.VersionId ?? '', /^[0-9A-Za-z]{32}$/);
  const get = await rawRequest({ method: 'GET', url: srv.url, path: `/${b}/k` });
  assert.equal(get.status, 404);
  assert.match(get.body, /<Code>NoSuchKey<\/Code>/);
  assert.equal(get.headers['x-amz-delete-marker'], 'true');
  assert.equal(get.headers['x-amz-version-id'], del.VersionId);
  assert.ok(get.headers['last-modified']);
  const head = await rawRequest({ method: 'HEAD', url: srv.url, path: `/${b}/k` });
  assert.deepEqual([head.status, head.headers['x-amz-delete-marker'], head.headers['x-amz-version-id']], [404, 'true', del.VersionId]);
  assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 0);
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }))), 'one', 'the old version is kept');
  // A marker on a key that never existed is still a marker.
  const ghost = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'never' }));
  assert.equal(ghost.DeleteMarker, true);
});

test('GET or HEAD of a delete marker by version id is 405 MethodNotAllowed with x-amz-delete-marker, Last-Modified and Allow: DELETE', async () => {
  const b = await bucketWith('Enabled');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }));
  const marker = (await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId!;
  const get = await rawRequest({ method: 'GET', url: srv.url, path: `/${b}/k`, query: { versionId: marker } });
  assert.equal(get.status, 405);
  assert.match(get.body, /<Code>MethodNotAllowed<\/Code><Message>The specified method is not allowed against this resource.<\/Message><Method>GET<\/Method><ResourceType>DeleteMarker<\/ResourceType>/);
  assert.equal(get.headers['x-amz-delete-marker'], 'true');
  assert.equal(get.headers['x-amz-version-id'], marker);
  assert.equal(get.headers.allow, 'DELETE');
  assert.ok(get.headers['last-modified']);
  const head = await rawRequest({ method: 'HEAD', url: srv.url, path: `/${b}/k`, query: { versionId: marker } });
  assert.deepEqual([head.status, head.headers['x-amz-delete-marker'], head.headers.allow], [405, 'true', 'DELETE']);
  await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: marker })), 405, 'MethodNotAllowed');
});

test('DELETE by version id removes that version for good, a delete marker too, and never adds a marker', async () => {
  const b = await bucketWith('Enabled');
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two' }))).VersionId!;
  const marker = (await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId!;
  const delMarker = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: marker }));
  assert.deepEqual([delMarker.DeleteMarker, delMarker.VersionId], [true, marker]);
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }))), 'two', 'removing the marker restores the object');
  const delV2 = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
  assert.deepEqual([delV2.DeleteMarker, delV2.VersionId], [undefined, v2]);
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }))), 'one', 'the next newest version is current');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 })), 404, 'NoSuchVersion');
  const again = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
  assert.equal(again.$metadata.httpStatusCode, 204, 'deleting a version that is gone succeeds');
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual([list.Versions, list.DeleteMarkers], [undefined, undefined], 'no version and no marker left');
});

test('objects written before versioning keep version "null"; a suspended bucket overwrites the null version and keeps the others', async () => {
  const b = await bucketWith();
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'before' }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal(head.VersionId, 'null', 'a versioned bucket names the null version');
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'enabled' }))).VersionId!;
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }))), 'before');
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  const s1 = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'suspended-1' }));
  assert.equal(s1.VersionId, 'null');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'suspended-2' }));
  const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: b }))).Versions!;
  assert.deepEqual(versions.map((v) => [v.VersionId, v.IsLatest]), [['null', true], [v1, false]], 'one null version, the newest');
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }))), 'suspended-2');
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }))), 'enabled');
});

test('in a suspended bucket DELETE puts a null delete marker that replaces the null version; other versions stay', async () => {
  const b = await bucketWith('Enabled');
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'v1' }))).VersionId!;
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'null-version' }));
  const del = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.deepEqual([del.DeleteMarker, del.VersionId], [true, 'null']);
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(list.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest]), [['null', true]]);
  assert.deepEqual(list.Versions?.map((v) => v.VersionId), [v1], 'the null object version is gone, v1 is kept');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })), 404, 'NoSuchKey');
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }));
  assert.equal(await body(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }))), 'v1');
});

test('If-None-Match: * succeeds over a delete marker; If-Match finds no object behind one', async () => {
  const b = await bucketWith('Enabled');
  const etag = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }))).ETag!;
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await assertFails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'y', IfMatch: etag })), 404, 'NoSuchKey');
  const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'z', IfNoneMatch: '*' }));
  assert.ok(put.VersionId);
});

test('a bucket holding only noncurrent versions or delete markers is not empty', async () => {
  const b = await bucketWith('Enabled');
  const v = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }))).VersionId!;
  const m = (await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId!;
  const del = await rawRequest({ method: 'DELETE', url: srv.url, path: `/${b}` });
  assert.equal(del.status, 409);
  assert.match(del.body, /<Code>BucketNotEmpty<\/Code>/);
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v }));
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: m }));
  assert.equal((await rawRequest({ method: 'DELETE', url: srv.url, path: `/${b}` })).status, 204);
});

test('the blob of a removed version is freed; those of kept versions are not', async () => {
  const b = await bucketWith('Enabled');
  const big = (n: number) => Buffer.alloc(100 * 1024, n); // over the 64 KiB inline tier: one blob file each
  const before = (await committedBlobs(srv.dataDir)).length;
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: big(1) }))).VersionId!;
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: big(2) }));
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  assert.equal((await committedBlobs(srv.dataDir)).length, before + 2, 'a new version and a delete marker free nothing');
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  assert.ok(await waitFor(async () => (await committedBlobs(srv.dataDir)).length === before + 1), 'v1\'s blob is deleted');
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: big(3) }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: big(4) }));
  assert.ok(await waitFor(async () => (await committedBlobs(srv.dataDir)).length === before + 2), 'the overwritten null version\'s blob is deleted');
  const last = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
  assert.deepEqual(Buffer.from(await last.Body!.transformToByteArray()), big(4));
});
