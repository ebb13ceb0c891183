// Bucket tagging against the real server through @aws-sdk/client-s3: Put/Get/DeleteBucketTagging
// as AWS answers them (moto's AWS-verified tests, LocalStack's AWS-validated snapshots:
// PutBucketTagging 204, an empty tag set removing the tags, NoSuchTagSet, InvalidTag for
// duplicate and aws: keys), the order tags were put in, the integrity header S3 requires,
// and aws:ResourceTag/<key> from the bucket's tags in identity and bucket policies.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand, DeleteBucketTaggingCommand, GetBucketTaggingCommand, GetObjectCommand, ListObjectsV2Command, PutBucketPolicyCommand,
  PutBucketTaggingCommand, PutObjectCommand, type Tag,
} from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../helpers/sha256.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { policyDoc, refusal, userFactory } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function newBucket(tags?: Tag[]): Promise<string> {
  const b = uniqueBucket('btag');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  if (tags) await srv.s3.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet: tags } }));
  return b;
}

const putTags = (b: string, TagSet: Tag[]) => srv.s3.send(new PutBucketTaggingCommand({ Bucket: b, Tagging: { TagSet } }));

test('PutBucketTagging (204) then GetBucketTagging answers the tags in the order put; a new set replaces them; delete and an empty set remove them', async () => {
  const b = await newBucket();
  await assertFails(srv.s3.send(new GetBucketTaggingCommand({ Bucket: b })), 404, 'NoSuchTagSet', 'The TagSet does not exist', { BucketName: b });
  const tags = [{ Key: 'zeta', Value: 'last-first' }, { Key: '2', Value: 'numeric' }, { Key: 'alpha', Value: '' }, { Key: '1', Value: 'one' }];
  const put = await putTags(b, tags);
  assert.equal(put.$metadata.httpStatusCode, 204);
  assert.deepEqual((await srv.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet, tags);
  await putTags(b, [{ Key: 'tag3', Value: 'tag3' }]);
  assert.deepEqual((await srv.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet, [{ Key: 'tag3', Value: 'tag3' }]);
  const del = await srv.s3.send(new DeleteBucketTaggingCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  assert.equal((await srv.s3.send(new DeleteBucketTaggingCommand({ Bucket: b }))).$metadata.httpStatusCode, 204, 'idempotent');
  await assertFails(srv.s3.send(new GetBucketTaggingCommand({ Bucket: b })), 404, 'NoSuchTagSet');
  await putTags(b, [{ Key: 'a', Value: 'b' }]);
  await putTags(b, []);
  await assertFails(srv.s3.send(new GetBucketTaggingCommand({ Bucket: b })), 404, 'NoSuchTagSet', 'The TagSet does not exist');
  const missing = uniqueBucket('notag');
  await assertFails(srv.s3.send(new GetBucketTaggingCommand({ Bucket: missing })), 404, 'NoSuchBucket');
  await assertFails(srv.s3.send(new DeleteBucketTaggingCommand({ Bucket: missing })), 404, 'NoSuchBucket');
  await assertFails(putTags(missing, []), 404, 'NoSuchBucket');
});

test('PutBucketTagging validates as AWS: duplicate keys, aws: keys, key and value lengths, at most 50 tags; nothing is stored on refusal', async () => {
  const b = await newBucket([{ Key: 'kept', Value: 'yes' }]);
  await assertFails(putTags(b, [{ Key: 'TagOne', Value: 'ValueOne' }, { Key: 'TagOne', Value: 'ValueOneAgain' }]), 400, 'InvalidTag', 'Cannot provide multiple Tags with the same key');
  await assertFails(putTags(b, [{ Key: 'aws:sometag', Value: 'nope' }]), 400, 'InvalidTag', 'System tags cannot be added/updated by requester');
  await putTags(b, [{ Key: 'something:aws:stuff', Value: 'this is fine' }]);
  await assertFails(putTags(b, [{ Key: 'k'.repeat(129), Value: 'v' }]), 400, 'InvalidTag', 'The TagKey you have provided is invalid');
  await assertFails(putTags(b, [{ Key: 'k', Value: 'v'.repeat(257) }]), 400, 'InvalidTag', 'The TagValue you have provided is invalid');
  await putTags(b, [{ Key: 'k'.repeat(128), Value: 'v'.repeat(256) }]);
  const many = (n: number) => Array.from({ length: n }, (_, i) => ({ Key: `tag${i}`, Value: `v${i}` }));
  await putTags(b, many(50));
  assert.equal((await srv.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet?.length, 50);
  await assertFails(putTags(b, many(51)), 400, 'InvalidTag');
  assert.deepEqual((await srv.s3.send(new GetBucketTaggingCommand({ Bucket: b }))).TagSet, many(50), 'a refused set changes nothing');
});

test('PutBucketTagging without Content-MD5 or a checksum is InvalidRequest', async () => {
  const b = await newBucket();
  const body = '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>';
  const url = new URL(`/${b}?tagging`, srv.url);
  const signer = new SignatureV4({ credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
  const send = async (extra: Record<string, string>) => {
    const signed = await signer.sign({
      method: 'PUT', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query: { tagging: '' },
      headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), ...extra }, body,
    });
    return fetch(url, { method: 'PUT', headers: signed.headers as Record<string, string>, body });
  };
  const bare = await send({});
  assert.equal(bare.status, 400);
  assert.match(await bare.text(), /<Code>InvalidRequest<\/Code><Message>Missing required header for this request: Content-MD5<\/Message>/);
  const ok = await send({ 'content-md5': createHash('md5').update(body).digest('base64') });
  assert.equal(ok.status, 204);
});

test('aws:ResourceTag/<key> in an identity policy: a user allowed only on buckets tagged team=blue reaches those, and not others or untagged ones', async () => {
  const blue = await newBucket([{ Key: 'team', Value: 'blue' }]);
  const red = await newBucket([{ Key: 'team', Value: 'red' }]);
  const untagged = await newBucket();
  for (const b of [blue, red, untagged]) await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'obj', Body: 'data' }));
  const u = await users.create('tag-blue', {
    blue: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/team': 'blue' } } }],
  });
  assert.equal((await u.s3.send(new ListObjectsV2Command({ Bucket: blue }))).KeyCount, 1);
  assert.equal(await (await u.s3.send(new GetObjectCommand({ Bucket: blue, Key: 'obj' }))).Body!.transformToString(), 'data');
  for (const b of [red, untagged]) {
    assert.equal((await refusal(u.s3.send(new ListObjectsV2Command({ Bucket: b })))).$metadata.httpStatusCode, 403);
    assert.equal((await refusal(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'obj' })))).name, 'AccessDenied');
  }
  // Retagging the bucket changes the decision at once.
  await putTags(red, [{ Key: 'team', Value: 'blue' }]);
  assert.equal((await u.s3.send(new ListObjectsV2Command({ Bucket: red }))).KeyCount, 1);
});

test('aws:ResourceTag/<key> in a bucket policy: a Deny on buckets tagged locked=true refuses even the allowed user until the tag goes', async () => {
  const b = await newBucket([{ Key: 'locked', Value: 'true' }]);
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'obj', Body: 'data' }));
  const u = await users.create('tag-locked', { all: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: b,
    Policy: policyDoc({ Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 'aws:ResourceTag/locked': 'true' } } }),
  }));
  const denied = await refusal(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'obj' })));
  assert.equal(denied.name, 'AccessDenied');
  assert.match(denied.message, /explicit deny in a resource-based policy/);
  await srv.s3.send(new DeleteBucketTaggingCommand({ Bucket: b }));
  assert.equal(await (await u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'obj' }))).Body!.transformToString(), 'data');
});
