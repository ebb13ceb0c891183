// Object tagging, ACLs (Object Ownership "bucket owner enforced") and
// GetObjectAttributes through @aws-sdk/client-s3 against the real server, plus raw
// signed requests where the exact XML on the wire matters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectTaggingCommand, GetBucketAclCommand,
  GetObjectAclCommand, GetObjectAttributesCommand, GetObjectTaggingCommand, HeadObjectCommand, ListBucketsCommand, PutBucketAclCommand,
  PutObjectAclCommand, PutObjectCommand, PutObjectTaggingCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, ROOT_KEY_ID, ROOT_SECRET, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('tags');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

/** A SigV4-signed request sent with fetch, for checks on the raw response. */
async function signedFetch(method: string, path: string, query: Record<string, string>, headers: Record<string, string> = {}, body = ''): Promise<Response> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('../helpers/sha256.js');
  const url = new URL(`${srv.url}${path}`);
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, uriEscapePath: false });
  const signed = await signer.sign({
    method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query,
    headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), ...headers }, body,
  });
  const qs = new URLSearchParams(query).toString().replace(/=(&|$)/g, '$1');
  return fetch(`${url.origin}${url.pathname}?${qs}`, { method, headers: signed.headers as Record<string, string>, body: method === 'GET' ? undefined : body });
}

test('PutObjectTagging, GetObjectTagging and DeleteObjectTagging round-trip', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't1', Body: 'x' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 't1' }))).TagSet, []);
  const tagSet = [{ Key: 'project', Value: 'coffer' }, { Key: 'empty', Value: '' }, { Key: 'ünï +-=._:/@', Value: 'välue 1' }];
  const put = await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 't1', Tagging: { TagSet: tagSet } }));
  assert.equal(put.$metadata.httpStatusCode, 200);
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 't1' }))).TagSet, tagSet);
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 't1' }));
  assert.equal(head.TagCount, 3);
  const del = await s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: 't1' }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 't1' }))).TagSet, []);
});

test('changing tags keeps the ETag and Last-Modified', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't-keep', Body: 'keep' }));
  const before = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 't-keep' }));
  await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 't-keep', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }));
  const afterHead = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 't-keep' }));
  assert.equal(afterHead.ETag, put.ETag);
  assert.equal(afterHead.LastModified?.getTime(), before.LastModified?.getTime());
});

test('x-amz-tagging on PutObject is what GetObjectTagging returns', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't2', Body: 'x', Tagging: 'a=1&b=with%20space&c=' }));
  const r = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 't2' }));
  assert.deepEqual(r.TagSet, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: 'with space' }, { Key: 'c', Value: '' }]);
});

test('the raw GetObjectTagging document has AWS shape', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw-tags', Body: 'x', Tagging: 'k=v' }));
  const r = await signedFetch('GET', `/${bucket}/raw-tags`, { tagging: '' });
  assert.equal(r.status, 200);
  const xml = await r.text();
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Tagging xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><TagSet><Tag><Key>k<\/Key><Value>v<\/Value><\/Tag><\/TagSet><\/Tagging>$/);
});

test('invalid tag sets are refused with AWS codes and messages', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't3', Body: 'x' }));
  const put = (TagSet: { Key: string; Value: string }[]) => s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 't3', Tagging: { TagSet } }));
  await assertFails(put([{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }]), 400, 'InvalidTag', 'Cannot provide multiple Tags with the same key');
  await assertFails(put(Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))), 400, 'BadRequest', 'Object tags cannot be greater than 10');
  await assertFails(put([{ Key: 'k'.repeat(129), Value: 'v' }]), 400, 'InvalidTag', 'The TagKey you have provided is invalid');
  await assertFails(put([{ Key: 'k', Value: 'v'.repeat(257) }]), 400, 'InvalidTag', 'The TagValue you have provided is invalid');
  await assertFails(put([{ Key: 'aws:reserved', Value: 'v' }]), 400, 'InvalidTag', 'Your TagKey cannot be prefixed with aws:');
  // Ten tags are fine, and nothing of the refused sets was stored.
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 't3' }))).TagSet, []);
  await put(Array.from({ length: 10 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })));
  assert.equal((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 't3' }))).TagSet?.length, 10);
});

test('x-amz-tagging with a duplicate key or more than 10 tags fails PutObject', async () => {
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't4', Body: 'x', Tagging: 'a=1&a=2' })), 400, 'InvalidTag', 'Cannot provide multiple Tags with the same key');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't4', Body: 'x', Tagging: Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&') })), 400, 'BadRequest');
});

test('a malformed Tagging document is MalformedXML', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 't5', Body: 'x' }));
  const r = await signedFetch('PUT', `/${bucket}/t5`, { tagging: '' }, {}, '<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>');
  assert.equal(r.status, 400);
  assert.match(await r.text(), /<Code>MalformedXML<\/Code>/);
  const notXml = await signedFetch('PUT', `/${bucket}/t5`, { tagging: '' }, {}, '<Tagging><TagSet>');
  assert.equal(notXml.status, 400);
  assert.match(await notXml.text(), /<Code>MalformedXML<\/Code>/);
});

test('tagging a missing object is NoSuchKey, in a missing bucket NoSuchBucket', async () => {
  await assertFails(s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'nope' })), 404, 'NoSuchKey');
  await assertFails(s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'nope', Tagging: { TagSet: [] } })), 404, 'NoSuchKey');
  await assertFails(s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: 'nope' })), 404, 'NoSuchKey');
  await assertFails(s3.send(new GetObjectTaggingCommand({ Bucket: 'no-such-bucket-coffer', Key: 'nope' })), 404, 'NoSuchBucket');
});

test('GetBucketAcl and GetObjectAcl answer the owner with FULL_CONTROL', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl', Body: 'x' }));
  const owner = (await s3.send(new ListBucketsCommand({}))).Owner!;
  assert.match(owner.ID!, /^[0-9a-f]{64}$/);
  for (const r of [await s3.send(new GetBucketAclCommand({ Bucket: bucket })), await s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'acl' }))]) {
    assert.equal(r.Owner?.ID, owner.ID);
    assert.equal(r.Owner?.DisplayName, owner.DisplayName);
    assert.equal(r.Grants?.length, 1);
    assert.equal(r.Grants![0]!.Permission, 'FULL_CONTROL');
    assert.equal(r.Grants![0]!.Grantee?.Type, 'CanonicalUser');
    assert.equal(r.Grants![0]!.Grantee?.ID, owner.ID);
  }
});

test('the raw ACL document declares the xsi namespace on the Grantee', async () => {
  const r = await signedFetch('GET', `/${bucket}`, { acl: '' });
  assert.equal(r.status, 200);
  const xml = await r.text();
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<AccessControlPolicy xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><Owner><ID>[0-9a-f]{64}<\/ID>/);
  assert.match(xml, /<AccessControlList><Grant><Grantee xmlns:xsi="http:\/\/www.w3.org\/2001\/XMLSchema-instance" xsi:type="CanonicalUser"><ID>[0-9a-f]{64}<\/ID>.*<\/Grantee><Permission>FULL_CONTROL<\/Permission><\/Grant><\/AccessControlList><\/AccessControlPolicy>$/);
});

test('ACL reads on a missing object or bucket are NoSuchKey / NoSuchBucket', async () => {
  await assertFails(s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'nope' })), 404, 'NoSuchKey');
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'nope', ACL: 'private' })), 404, 'NoSuchKey');
  await assertFails(s3.send(new GetBucketAclCommand({ Bucket: 'no-such-bucket-coffer' })), 404, 'NoSuchBucket');
});

test('ACL writes that grant only the owner succeed and change nothing', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl-ok', Body: 'x' }));
  const owner = (await s3.send(new ListBucketsCommand({}))).Owner!;
  for (const ACL of ['private', 'bucket-owner-full-control'] as const) {
    assert.equal((await s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'acl-ok', ACL }))).$metadata.httpStatusCode, 200);
  }
  assert.equal((await s3.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'private' }))).$metadata.httpStatusCode, 200);
  const policy = { Owner: owner, Grants: [{ Grantee: { Type: 'CanonicalUser' as const, ID: owner.ID }, Permission: 'FULL_CONTROL' as const }] };
  await s3.send(new PutBucketAclCommand({ Bucket: bucket, AccessControlPolicy: policy }));
  await s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'acl-ok', AccessControlPolicy: policy }));
  await s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'acl-ok', GrantFullControl: `id="${owner.ID}"` }));
  const r = await s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: 'acl-ok' }));
  assert.equal(r.Grants?.length, 1);
});

test('public-read and other grants are AccessControlListNotSupported', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl-no', Body: 'x' }));
  const refused = (p: Promise<unknown>) => assertFails(p, 400, 'AccessControlListNotSupported', 'The bucket does not allow ACLs');
  await refused(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl-pub', Body: 'x', ACL: 'public-read' })));
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'acl-pub' })), 404, 'NotFound'); // the refused PUT stored nothing
  await refused(s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'acl-no', ACL: 'public-read' })));
  await refused(s3.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' })));
  await refused(s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'acl-no', GrantRead: 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' })));
  const owner = (await s3.send(new ListBucketsCommand({}))).Owner!;
  await refused(s3.send(new PutBucketAclCommand({
    Bucket: bucket,
    AccessControlPolicy: {
      Owner: owner,
      Grants: [
        { Grantee: { Type: 'CanonicalUser', ID: owner.ID }, Permission: 'FULL_CONTROL' },
        { Grantee: { Type: 'Group', URI: 'http://acs.amazonaws.com/groups/global/AllUsers' }, Permission: 'READ' },
      ],
    },
  })));
});

test('GetObjectAttributes answers the requested attributes of a single-part object', async () => {
  const body = randomBytes(1234);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'attrs', Body: body, ChecksumAlgorithm: 'SHA256', StorageClass: 'STANDARD_IA' }));
  const r = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'attrs', ObjectAttributes: ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] }));
  assert.equal(r.ETag, createHash('md5').update(body).digest('hex'), 'unquoted, as AWS');
  assert.equal(r.Checksum?.ChecksumSHA256, createHash('sha256').update(body).digest('base64'));
  assert.equal(r.Checksum?.ChecksumType, 'FULL_OBJECT');
  assert.equal(r.ObjectParts, undefined);
  assert.equal(r.StorageClass, 'STANDARD_IA');
  assert.equal(r.ObjectSize, 1234);
  assert.ok(r.LastModified instanceof Date);
  const some = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'attrs', ObjectAttributes: ['ObjectSize'] }));
  assert.equal(some.ObjectSize, 1234);
  assert.equal(some.ETag, undefined);
  assert.equal(some.StorageClass, undefined);
});

test('GetObjectAttributes lists the parts of a composite-checksum multipart object', async () => {
  const parts = [randomBytes(5 * 1024 * 1024), randomBytes(2000)];
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'attrs-mpu', ChecksumAlgorithm: 'SHA256' }));
  const done = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'attrs-mpu', UploadId, PartNumber: i + 1, Body: parts[i], ChecksumAlgorithm: 'SHA256' }));
    done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumSHA256: r.ChecksumSHA256 });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'attrs-mpu', UploadId, MultipartUpload: { Parts: done } }));
  const r = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'attrs-mpu', ObjectAttributes: ['ETag', 'Checksum', 'ObjectParts'] }));
  const partDigests = parts.map((p) => createHash('sha256').update(p).digest());
  assert.equal(r.Checksum?.ChecksumSHA256, createHash('sha256').update(Buffer.concat(partDigests)).digest('base64'), 'composite, without the -N suffix');
  assert.equal(r.Checksum?.ChecksumType, 'COMPOSITE');
  assert.match(r.ETag!, /^[0-9a-f]{32}-2$/);
  assert.equal(r.ObjectParts?.TotalPartsCount, 2);
  assert.equal(r.ObjectParts?.IsTruncated, false);
  assert.deepEqual(r.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumSHA256]), parts.map((p, i) => [i + 1, p.length, partDigests[i]!.toString('base64')]));
  const page = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'attrs-mpu', ObjectAttributes: ['ObjectParts'], MaxParts: 1 }));
  assert.equal(page.ObjectParts?.IsTruncated, true);
  assert.equal(page.ObjectParts?.NextPartNumberMarker, '1');
  assert.equal(page.ObjectParts?.Parts?.length, 1);
  const next = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'attrs-mpu', ObjectAttributes: ['ObjectParts'], MaxParts: 1, PartNumberMarker: '1' }));
  assert.equal(next.ObjectParts?.Parts?.[0]?.PartNumber, 2);
  assert.equal(next.ObjectParts?.IsTruncated, false);
});

test('GetObjectAttributes refuses a missing or unknown attribute and a missing key', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'attrs2', Body: 'x' }));
  await assertFails(s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'attrs2', ObjectAttributes: ['Bogus' as 'ETag'] })), 400, 'InvalidArgument', 'Invalid attribute name specified.');
  const none = await signedFetch('GET', `/${bucket}/attrs2`, { attributes: '' });
  assert.equal(none.status, 400);
  assert.match(await none.text(), /<Code>InvalidRequest<\/Code><Message>The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty<\/Message>/);
  await assertFails(s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: 'nope', ObjectAttributes: ['ETag'] })), 404, 'NoSuchKey');
});
