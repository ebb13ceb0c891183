// x-amz-expiration against the real server through @aws-sdk/client-s3: PUT, GET, HEAD,
// CopyObject and CompleteMultipartUpload name the expiry (the object's age rounded up to the
// next midnight UTC, or the rule's Date) and the URL-encoded rule id of the enabled Expiration
// rule that applies to the current version; tag and size filters decide, disabled rules and
// ExpiredObjectDeleteMarker rules say nothing, nor does a read naming a version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand, PutObjectCommand, UploadPartCommand, type LifecycleRule,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => srv?.stop());

const DAY = 86_400_000;

async function bucketWith(rules: LifecycleRule[]): Promise<string> {
  const b = uniqueBucket('lch');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: rules } }));
  return b;
}

/** What AWS answers for an object last modified at `ms` under a Days rule. */
function expected(ms: number, days: number, ruleId: string): string {
  const at = Math.ceil((ms + days * DAY) / DAY) * DAY;
  return `expiry-date="${new Date(at).toUTCString()}", rule-id="${ruleId}"`;
}

test('PUT, GET and HEAD name the expiry rounded up to midnight UTC and the URL-encoded rule id', async () => {
  const b = await bucketWith([{ ID: 'logs rule/1', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 3 } }]);
  const put = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'logs/a', Body: 'x' }));
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'logs/a' }));
  const want = expected(head.LastModified!.getTime(), 3, 'logs%20rule/1');
  assert.equal(put.Expiration, want);
  assert.equal(head.Expiration, want);
  assert.match(want, /^expiry-date="\w{3}, \d{2} \w{3} \d{4} 00:00:00 GMT", rule-id="logs%20rule\/1"$/);
  const get = await srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'logs/a' }));
  assert.equal(get.Expiration, want);
  await get.Body!.transformToString();
  // Outside the rule's prefix: nothing.
  const other = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'other', Body: 'x' }));
  assert.equal(other.Expiration, undefined);
});

test('a Date rule names its date; with two rules the earlier expiry wins', async () => {
  const b = await bucketWith([
    { ID: 'late', Status: 'Enabled', Filter: {}, Expiration: { Date: new Date('2099-01-01T00:00:00Z') } },
    { ID: 'early', Status: 'Enabled', Filter: {}, Expiration: { Date: new Date('2098-06-01T00:00:00Z') } },
  ]);
  const put = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  assert.equal(put.Expiration, 'expiry-date="Sun, 01 Jun 2098 00:00:00 GMT", rule-id="early"');
});

test('tag and size filters decide; a disabled rule and an ExpiredObjectDeleteMarker rule say nothing', async () => {
  const b = await bucketWith([
    { ID: 'tmp', Status: 'Enabled', Filter: { And: { Tags: [{ Key: 'tmp', Value: 'yes' }], ObjectSizeGreaterThan: 2 } }, Expiration: { Days: 1 } },
    { ID: 'off', Status: 'Disabled', Filter: {}, Expiration: { Days: 1 } },
    { ID: 'markers', Status: 'Enabled', Filter: {}, Expiration: { ExpiredObjectDeleteMarker: true } },
  ]);
  assert.equal((await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'plain', Body: 'xxxx' }))).Expiration, undefined);
  assert.equal((await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'small', Body: 'x', Tagging: 'tmp=yes' }))).Expiration, undefined);
  const tagged = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'tagged', Body: 'xxxx', Tagging: 'tmp=yes' }));
  assert.match(tagged.Expiration ?? '', /rule-id="tmp"$/);
});

test('CopyObject and CompleteMultipartUpload name the expiry of what they wrote', async () => {
  const b = await bucketWith([{ ID: 'all', Status: 'Enabled', Filter: {}, Expiration: { Days: 10 } }]);
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'src', Body: 'x' }));
  const copy = await srv.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'dst', CopySource: `${b}/src` }));
  assert.equal(copy.Expiration, expected(copy.CopyObjectResult!.LastModified!.getTime(), 10, 'all'));
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp' }));
  const part = await srv.s3.send(new UploadPartCommand({ Bucket: b, Key: 'mp', UploadId, PartNumber: 1, Body: 'part' }));
  const done = await srv.s3.send(new CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'mp' }));
  assert.equal(done.Expiration, expected(head.LastModified!.getTime(), 10, 'all'));
});

test('a read naming a version carries no x-amz-expiration', async () => {
  const b = await bucketWith([{ ID: 'all', Status: 'Enabled', Filter: {}, Expiration: { Days: 10 } }]);
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }));
  assert.equal(head.Expiration, undefined);
});
