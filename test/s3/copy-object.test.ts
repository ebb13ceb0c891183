// CopyObject through @aws-sdk/client-s3 against the real server: the metadata and
// tagging directives, copies onto itself (illegal, and legal without rewriting bytes),
// the copy-source preconditions, missing sources, encoded keys, multipart sources and
// checksums on copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand,
  GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails, failure } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('copy');
const other = uniqueBucket('copy-dst');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: other }));
});
after(async () => srv?.stop());

const md5hex = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const src = (b: string, k: string) => `${b}/${encodeURIComponent(k)}`;

async function bodyOf(b: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: b, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function blobFiles(): Promise<string[]> {
  const root = join(srv.dataDir, 'blobs');
  const out: string[] = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && !e.parentPath.includes(`${join(root, 'tmp')}`)) out.push(e.name);
  }
  return out.sort();
}

test('COPY directive copies bytes, headers, metadata and tags to another bucket', async () => {
  const body = randomBytes(70_000);
  await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: 'orig', Body: body, ContentType: 'image/png', CacheControl: 'no-cache',
    ContentDisposition: 'inline', Metadata: { color: 'red', size: 'xl' }, Tagging: 'a=1&b=two',
  }));
  const r = await s3.send(new CopyObjectCommand({ Bucket: other, Key: 'copied', CopySource: src(bucket, 'orig') }));
  assert.equal(r.CopyObjectResult?.ETag, `"${md5hex(body)}"`);
  assert.ok(r.CopyObjectResult?.LastModified instanceof Date);
  assert.ok(Math.abs(r.CopyObjectResult!.LastModified!.getTime() - Date.now()) < 60_000);
  assert.equal(r.CopySourceVersionId, undefined);
  const head = await s3.send(new HeadObjectCommand({ Bucket: other, Key: 'copied' }));
  assert.equal(head.ContentType, 'image/png');
  assert.equal(head.CacheControl, 'no-cache');
  assert.equal(head.ContentDisposition, 'inline');
  assert.deepEqual(head.Metadata, { color: 'red', size: 'xl' });
  assert.equal(head.ETag, `"${md5hex(body)}"`);
  assert.ok((await bodyOf(other, 'copied')).equals(body));
  const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: other, Key: 'copied' }));
  assert.deepEqual(tags.TagSet, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: 'two' }]);
});

test('REPLACE directive takes headers and metadata from the request only', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'rep-src', Body: 'replace me', ContentType: 'text/plain', CacheControl: 'max-age=1', Metadata: { old: 'yes' } }));
  await s3.send(new CopyObjectCommand({
    Bucket: bucket, Key: 'rep-dst', CopySource: src(bucket, 'rep-src'), MetadataDirective: 'REPLACE',
    ContentType: 'application/json', Metadata: { fresh: 'new' },
  }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'rep-dst' }));
  assert.equal(head.ContentType, 'application/json');
  assert.equal(head.CacheControl, undefined);
  assert.deepEqual(head.Metadata, { fresh: 'new' });
  assert.equal((await bodyOf(bucket, 'rep-dst')).toString(), 'replace me');
});

test('an unknown metadata directive is InvalidArgument', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'md-bad', Body: 'x' }));
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'md-bad2', CopySource: src(bucket, 'md-bad'), MetadataDirective: 'MOVE' as 'COPY' })), 400, 'InvalidArgument', 'Unknown metadata directive.');
});

test('tagging directive REPLACE takes x-amz-tagging; COPY keeps the source tags', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tag-src', Body: 'x', Tagging: 'keep=me' }));
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'tag-rep', CopySource: src(bucket, 'tag-src'), TaggingDirective: 'REPLACE', Tagging: 'new=tag&n2=v2' }));
  const rep = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tag-rep' }));
  assert.deepEqual(rep.TagSet, [{ Key: 'new', Value: 'tag' }, { Key: 'n2', Value: 'v2' }]);
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'tag-copy', CopySource: src(bucket, 'tag-src'), Tagging: 'ignored=1' }));
  const copy = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tag-copy' }));
  assert.deepEqual(copy.TagSet, [{ Key: 'keep', Value: 'me' }]);
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'tag-none', CopySource: src(bucket, 'tag-src'), TaggingDirective: 'REPLACE' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tag-none' }))).TagSet, []);
});

test('copying an object onto itself without changing anything is InvalidRequest', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'self', Body: 'same' }));
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'self', CopySource: src(bucket, 'self') })), 400, 'InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
});

test('copying onto itself with REPLACE updates metadata and Last-Modified without rewriting the bytes', async () => {
  const body = randomBytes(10_000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'self-rep', Body: body, Metadata: { v: '1' } }));
  const before = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'self-rep' }));
  const filesBefore = await blobFiles();
  await new Promise((r) => setTimeout(r, 1100)); // Last-Modified has one-second resolution on the wire
  const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'self-rep', CopySource: src(bucket, 'self-rep'), MetadataDirective: 'REPLACE', Metadata: { v: '2' }, ContentType: 'text/x-new' }));
  assert.equal(r.CopyObjectResult?.ETag, `"${md5hex(body)}"`);
  const afterHead = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'self-rep' }));
  assert.deepEqual(afterHead.Metadata, { v: '2' });
  assert.equal(afterHead.ContentType, 'text/x-new');
  assert.equal(afterHead.ETag, before.ETag);
  assert.ok(afterHead.LastModified!.getTime() > before.LastModified!.getTime());
  await new Promise((r2) => setTimeout(r2, 100)); // let any garbage collection run
  assert.deepEqual(await blobFiles(), filesBefore, 'the same blob serves the object: no new blob, none deleted');
  assert.ok((await bodyOf(bucket, 'self-rep')).equals(body));
});

test('copying onto itself with a new storage class is allowed', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'self-class', Body: 'cls', Metadata: { keep: 'yes' } }));
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'self-class', CopySource: src(bucket, 'self-class'), StorageClass: 'STANDARD_IA' }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'self-class' }));
  assert.equal(head.StorageClass, 'STANDARD_IA');
  assert.deepEqual(head.Metadata, { keep: 'yes' });
  assert.equal((await bodyOf(bucket, 'self-class')).toString(), 'cls');
});

test('each copy-source precondition that fails answers 412 PreconditionFailed', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cond', Body: 'conditional' }));
  const past = new Date(Date.now() - 3600_000);
  const future = new Date(Date.now() + 3600_000);
  const cases: Partial<ConstructorParameters<typeof CopyObjectCommand>[0]>[] = [
    { CopySourceIfMatch: '"0123456789abcdef0123456789abcdef"' },
    { CopySourceIfNoneMatch: put.ETag },
    { CopySourceIfModifiedSince: future },
    { CopySourceIfUnmodifiedSince: past },
  ];
  for (const c of cases) {
    const f = await failure(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'cond-dst', CopySource: src(bucket, 'cond'), ...c })));
    assert.equal(f.name, 'PreconditionFailed', JSON.stringify(c));
    assert.equal(f.status, 412);
  }
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cond-dst' })), 404, 'NotFound'); // no refused copy was stored
  // The same conditions, satisfied, copy.
  await s3.send(new CopyObjectCommand({
    Bucket: bucket, Key: 'cond-dst', CopySource: src(bucket, 'cond'),
    CopySourceIfMatch: put.ETag, CopySourceIfNoneMatch: '"0123456789abcdef0123456789abcdef"', CopySourceIfUnmodifiedSince: future,
  }));
  assert.equal((await bodyOf(bucket, 'cond-dst')).toString(), 'conditional');
});

test('a missing source key is NoSuchKey and a missing source bucket NoSuchBucket', async () => {
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'x', CopySource: src(bucket, 'does-not-exist') })), 404, 'NoSuchKey');
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'x', CopySource: src('no-such-bucket-coffer', 'k') })), 404, 'NoSuchBucket');
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: 'no-such-dest-bucket', Key: 'x', CopySource: src(bucket, 'cond') })), 404, 'NoSuchBucket');
});

test('keys with spaces, unicode and reserved characters work as copy sources, with or without a leading slash', async () => {
  const keys = ['sp ace/ü/日本語.txt', 'a+b=c&d?e', 'percent%20literal'];
  for (const key of keys) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
    await s3.send(new CopyObjectCommand({ Bucket: other, Key: `copy of ${key}`, CopySource: src(bucket, key) }));
    assert.equal((await bodyOf(other, `copy of ${key}`)).toString(), `body of ${key}`);
    await s3.send(new CopyObjectCommand({ Bucket: other, Key: `slash ${key}`, CopySource: `/${src(bucket, key)}` }));
    assert.equal((await bodyOf(other, `slash ${key}`)).toString(), `body of ${key}`);
  }
});

test('a copy source versionId that cannot be a version id is InvalidArgument; versionId=null copies the null version', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ver', Body: 'v' }));
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'ver2', CopySource: `${src(bucket, 'ver')}?versionId=abc` })), 400, 'InvalidArgument');
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'ver2', CopySource: `${src(bucket, 'ver')}?versionId=null` }));
  assert.equal((await bodyOf(bucket, 'ver2')).toString(), 'v');
});

test('a multipart source is copied as a single-part object with an MD5 ETag', async () => {
  const parts = [randomBytes(5 * 1024 * 1024), randomBytes(1000)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu-src' }));
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu-src', UploadId, PartNumber: i + 1, Body: parts[i] }));
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mpu-src', UploadId, MultipartUpload: { Parts: done } }));
  const whole = Buffer.concat(parts);
  const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'mpu-copy', CopySource: src(bucket, 'mpu-src') }));
  assert.equal(r.CopyObjectResult?.ETag, `"${md5hex(whole)}"`);
  assert.ok((await bodyOf(bucket, 'mpu-copy')).equals(whole));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mpu-copy', PartNumber: 1 }));
  assert.equal(head.PartsCount, undefined);
});

test('x-amz-checksum-algorithm on copy computes that checksum and returns it in CopyObjectResult', async () => {
  const body = randomBytes(3000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ck-src', Body: body }));
  const r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'ck-dst', CopySource: src(bucket, 'ck-src'), ChecksumAlgorithm: 'CRC32' }));
  const d = Buffer.alloc(4);
  d.writeUInt32BE(crc32(body) >>> 0);
  assert.equal(r.CopyObjectResult?.ChecksumCRC32, d.toString('base64'));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ck-dst', ChecksumMode: 'ENABLED' }));
  assert.equal(head.ChecksumCRC32, d.toString('base64'));
});

test('an ACL other than private on the copy is AccessControlListNotSupported', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl-src', Body: 'a' }));
  await assertFails(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'acl-dst', CopySource: src(bucket, 'acl-src'), ACL: 'public-read' })), 400, 'AccessControlListNotSupported');
});
