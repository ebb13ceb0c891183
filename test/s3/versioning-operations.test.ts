// The other operations on versions, with the JS SDK: CopyObject from a source version
// (x-amz-copy-source-version-id, x-amz-version-id), copies onto the same key, UploadPartCopy's
// source version, CompleteMultipartUpload and PostObject version ids, DeleteObjects with
// <VersionId> and delete-marker results, tagging, ACLs and GetObjectAttributes per version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  DeleteObjectTaggingCommand, DeleteObjectsCommand, DeletePublicAccessBlockCommand, GetObjectAclCommand, GetObjectAttributesCommand, GetObjectCommand,
  GetObjectTaggingCommand, ListObjectVersionsCommand, PutBucketOwnershipControlsCommand, PutBucketVersioningCommand, PutObjectAclCommand,
  PutObjectCommand, PutObjectTaggingCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('vops');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
});
after(async () => srv?.stop());

const put = async (Key: string, Body: string) => (await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }))).VersionId!;
const read = async (Key: string, VersionId?: string) => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key, VersionId }))).Body!.transformToString();

test('CopyObject copies a named source version and answers both version ids', async () => {
  const v1 = await put('src', 'first');
  await put('src', 'second');
  const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'dst', CopySource: `${bucket}/src?versionId=${v1}` }));
  assert.equal(r.CopySourceVersionId, v1);
  assert.match(r.VersionId ?? '', /^[0-9A-Za-z]{32}$/);
  assert.equal(await read('dst'), 'first');
  const current = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'dst2', CopySource: `${bucket}/src` }));
  assert.notEqual(current.CopySourceVersionId, v1);
  assert.equal(await read('dst2'), 'second');
});

test('copying an older version over its own key restores it as a new version; a delete marker cannot be a copy source', async () => {
  const v1 = await put('restore', 'old');
  await put('restore', 'new');
  const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'restore', CopySource: `${bucket}/restore?versionId=${v1}` }));
  assert.equal(await read('restore'), 'old');
  const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'restore' }))).Versions!;
  assert.equal(versions.length, 3);
  assert.equal(versions[0]!.VersionId, r.VersionId);
  const marker = (await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'restore' }))).VersionId!;
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'x', CopySource: `${bucket}/restore` })), 404, 'NoSuchKey');
  await assertFails(
    s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'x', CopySource: `${bucket}/restore?versionId=${marker}` })),
    400, 'InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.',
  );
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'x', CopySource: `${bucket}/restore?versionId=${'B'.repeat(32)}` })), 404, 'NoSuchVersion');
});

test('a metadata copy onto itself keeps the old version readable, and each survives the other being deleted', async () => {
  const v1 = await put('meta', 'body');
  const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'meta', CopySource: `${bucket}/meta`, MetadataDirective: 'REPLACE', Metadata: { n: '2' } }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'meta', VersionId: v1 }));
  assert.equal(await read('meta', r.VersionId), 'body', 'the shared bytes stay while a version uses them');
  const again = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'meta' }));
  assert.equal(again.Metadata?.n, '2');
  assert.equal(await again.Body!.transformToString(), 'body');
});

test('UploadPartCopy reads a named source version; CompleteMultipartUpload answers the new version id', async () => {
  const v1 = await put('mp-src', 'part-one-bytes');
  await put('mp-src', 'later');
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
  const part = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'mp', UploadId: up.UploadId, PartNumber: 1, CopySource: `${bucket}/mp-src?versionId=${v1}` }));
  assert.equal(part.CopySourceVersionId, v1);
  const done = await s3.send(new CompleteMultipartUploadCommand({
    Bucket: bucket, Key: 'mp', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult!.ETag }] },
  }));
  assert.match(done.VersionId ?? '', /^[0-9A-Za-z]{32}$/);
  assert.equal(await read('mp', done.VersionId), 'part-one-bytes');
});

test('PostObject answers x-amz-version-id in a versioned bucket', async () => {
  const { url, fields } = await createPresignedPost(s3, { Bucket: bucket, Key: 'posted' });
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('file', new Blob(['form body']), 'f.txt');
  const r = await fetch(url, { method: 'POST', body: fd });
  assert.equal(r.status, 204);
  const id = r.headers.get('x-amz-version-id');
  assert.match(id ?? '', /^[0-9A-Za-z]{32}$/);
  assert.equal(await read('posted', id!), 'form body');
});

test('DeleteObjects: <VersionId> removes that version (DeleteMarker for a marker); without one it adds markers', async () => {
  const a1 = await put('da', 'a1');
  const a2 = await put('da', 'a2');
  const r = await s3.send(new DeleteObjectsCommand({
    Bucket: bucket,
    Delete: { Objects: [{ Key: 'da', VersionId: a1 }, { Key: 'db' }, { Key: 'da', VersionId: 'not-a-version' }] },
  }));
  const byKey = new Map(r.Deleted!.map((d) => [`${d.Key}:${d.VersionId ?? ''}`, d]));
  assert.equal(byKey.get(`da:${a1}`)?.DeleteMarker, undefined);
  const db = byKey.get('db:')!;
  assert.equal(db.DeleteMarker, true);
  assert.match(db.DeleteMarkerVersionId ?? '', /^[0-9A-Za-z]{32}$/);
  assert.deepEqual(r.Errors?.map((e) => [e.Key, e.VersionId, e.Code]), [['da', 'not-a-version', 'NoSuchVersion']]);
  const again = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'db', VersionId: db.DeleteMarkerVersionId }] } }));
  assert.deepEqual(
    again.Deleted!.map((d) => [d.Key, d.VersionId, d.DeleteMarker, d.DeleteMarkerVersionId]),
    [['db', db.DeleteMarkerVersionId, true, db.DeleteMarkerVersionId]],
  );
  assert.deepEqual((await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'da' }))).Versions?.map((v) => v.VersionId), [a2]);
});

test('tagging is per version: Get/Put/DeleteObjectTagging with VersionId answer it and touch only it', async () => {
  const v1 = await put('tagged', 'one');
  const v2 = await put('tagged', 'two');
  const p = await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', VersionId: v1, Tagging: { TagSet: [{ Key: 'era', Value: 'old' }] } }));
  assert.equal(p.VersionId, v1);
  const g1 = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', VersionId: v1 }));
  assert.deepEqual([g1.VersionId, g1.TagSet], [v1, [{ Key: 'era', Value: 'old' }]]);
  const cur = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' }));
  assert.deepEqual([cur.VersionId, cur.TagSet], [v2, []]);
  const d = await s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', VersionId: v1 }));
  assert.equal(d.VersionId, v1);
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', VersionId: v1 }))).TagSet, []);
  await assertFails(s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged', VersionId: 'C'.repeat(32) })), 404, 'NoSuchVersion');
});

test('GetObjectAttributes and object ACLs read and write the version named', async () => {
  const b = uniqueBucket('vacl');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] } }));
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'short' }))).VersionId!;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'much longer' }))).VersionId!;
  const attrs = await s3.send(new GetObjectAttributesCommand({ Bucket: b, Key: 'k', VersionId: v1, ObjectAttributes: ['ObjectSize'] }));
  assert.deepEqual([attrs.ObjectSize, attrs.VersionId], [5, v1]);
  await s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', VersionId: v1, ACL: 'public-read' }));
  const acl1 = await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'k', VersionId: v1 }));
  assert.ok(acl1.Grants?.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers'));
  const acl2 = await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'k' }));
  assert.ok(!acl2.Grants?.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers'), `${v2} keeps its private ACL`);
  const anon = await fetch(`${srv.url}/${b}/k?versionId=${v1}`);
  assert.equal(anon.status, 200, 'the public-read grant of that version lets anyone read it');
  assert.equal(await anon.text(), 'short');
  assert.equal((await fetch(`${srv.url}/${b}/k`)).status, 403);
});
