// Bucket operations through @aws-sdk/client-s3 against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteBucketCommand, GetBucketLocationCommand, HeadBucketCommand, ListBucketsCommand,
  PutObjectCommand, DeleteObjectCommand, GetBucketVersioningCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
});
after(async () => srv?.stop());

async function code(p: Promise<unknown>): Promise<[string, number | undefined]> {
  try {
    await p;
    return ['ok', 200];
  } catch (e) {
    const err = e as { name: string; $metadata?: { httpStatusCode?: number } };
    return [err.name, err.$metadata?.httpStatusCode];
  }
}

test('create, list, head, locate and delete a bucket', async () => {
  const b = uniqueBucket('life');
  const created = await s3.send(new CreateBucketCommand({ Bucket: b }));
  assert.equal(created.Location, `/${b}`);
  const list = await s3.send(new ListBucketsCommand({}));
  assert.ok(list.Buckets?.some((x) => x.Name === b && x.CreationDate instanceof Date));
  assert.ok(list.Owner?.ID);
  const head = await s3.send(new HeadBucketCommand({ Bucket: b }));
  assert.equal(head.BucketRegion, 'us-east-1');
  const loc = await s3.send(new GetBucketLocationCommand({ Bucket: b }));
  assert.equal(loc.LocationConstraint, undefined);
  const ver = await s3.send(new GetBucketVersioningCommand({ Bucket: b }));
  assert.equal(ver.Status, undefined);
  await s3.send(new DeleteBucketCommand({ Bucket: b }));
  assert.deepEqual(await code(s3.send(new HeadBucketCommand({ Bucket: b }))), ['NotFound', 404]);
});

test('invalid bucket names are InvalidBucketName', async () => {
  for (const name of ['ab', 'UpperCase', 'has_underscore', '-dash-first', 'a..b', '192.168.1.1', 'x'.repeat(64), 'xn--punycode']) {
    const raw = await fetch(`${srv.url}/${name}`, { method: 'PUT' }); // anonymous: name checks must not leak; use the SDK instead
    assert.equal(raw.status, 403);
    const [c, status] = await code(s3.send(new CreateBucketCommand({ Bucket: name })));
    assert.deepEqual([c, status], ['InvalidBucketName', 400], name);
  }
});

test('re-creating an owned bucket in us-east-1 succeeds; a foreign LocationConstraint is refused', async () => {
  const b = uniqueBucket('again');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  assert.deepEqual(await code(s3.send(new CreateBucketCommand({ Bucket: b }))), ['ok', 200]);
  const [c, status] = await code(s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('eu'), CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })));
  assert.deepEqual([c, status], ['IllegalLocationConstraintException', 400]);
});

test('a bucket with objects is BucketNotEmpty; a missing one is NoSuchBucket', async () => {
  const b = uniqueBucket('full');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  assert.deepEqual(await code(s3.send(new DeleteBucketCommand({ Bucket: b }))), ['BucketNotEmpty', 409]);
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await s3.send(new DeleteBucketCommand({ Bucket: b }));
  assert.deepEqual(await code(s3.send(new DeleteBucketCommand({ Bucket: b }))), ['NoSuchBucket', 404]);
});

test('ListBuckets paginates with max-buckets and prefix', async () => {
  const prefix = `page-${process.pid}-`;
  for (let i = 0; i < 3; i++) await s3.send(new CreateBucketCommand({ Bucket: `${prefix}${i}` }));
  const first = await s3.send(new ListBucketsCommand({ Prefix: prefix, MaxBuckets: 2 }));
  assert.deepEqual(first.Buckets?.map((b) => b.Name), [`${prefix}0`, `${prefix}1`]);
  assert.ok(first.ContinuationToken);
  const second = await s3.send(new ListBucketsCommand({ Prefix: prefix, MaxBuckets: 2, ContinuationToken: first.ContinuationToken }));
  assert.deepEqual(second.Buckets?.map((b) => b.Name), [`${prefix}2`]);
});
