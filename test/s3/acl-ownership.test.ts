// Object Ownership, ACLs (when ownership allows them) and the bucket's Public Access Block
// through @aws-sdk/client-s3 against the real server: the shapes, defaults and errors AWS
// gives. Enforcement in authorization is in acl-authorization.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, CompleteMultipartUploadCommand, DeleteBucketOwnershipControlsCommand,
  DeletePublicAccessBlockCommand, GetBucketAclCommand, GetBucketOwnershipControlsCommand, GetBucketPolicyStatusCommand, GetObjectAclCommand,
  GetPublicAccessBlockCommand, PutBucketAclCommand, PutBucketOwnershipControlsCommand, PutBucketPolicyCommand, PutObjectAclCommand,
  PutObjectCommand, PutPublicAccessBlockCommand, UploadPartCommand, type Grant, type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
const AUTH_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
const LOG_DELIVERY = 'http://acs.amazonaws.com/groups/s3/LogDelivery';
const OTHER_ID = 'a'.repeat(64);

let srv: TestServer;
let s3: S3Client;
let ownerId: string;

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  const b = uniqueBucket('owner');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  ownerId = (await s3.send(new GetBucketAclCommand({ Bucket: b }))).Owner!.ID!;
});
after(async () => srv?.stop());

/** A bucket with ACLs enabled (ObjectWriter) and no public access block. */
async function aclBucket(prefix: string): Promise<string> {
  const b = uniqueBucket(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: b, ObjectOwnership: 'ObjectWriter' }));
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
  return b;
}

/** Grants as "<grantee> <permission>" strings, the owner's FULL_CONTROL first, for comparisons. */
function grantsOf(grants: Grant[] | undefined): string[] {
  return (grants ?? []).map((g) => `${g.Grantee?.Type}:${g.Grantee?.URI ?? (g.Grantee?.ID === ownerId ? 'owner' : g.Grantee?.ID)} ${g.Permission}`);
}

test('a new bucket is BucketOwnerEnforced with all four public access block settings on, as AWS creates buckets', async () => {
  const b = uniqueBucket('defaults');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const own = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: b }));
  assert.deepEqual(own.OwnershipControls?.Rules, [{ ObjectOwnership: 'BucketOwnerEnforced' }]);
  const pab = await s3.send(new GetPublicAccessBlockCommand({ Bucket: b }));
  assert.deepEqual(pab.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
});

test('PutBucketOwnershipControls / Get / Delete round-trip; after delete OwnershipControlsNotFoundError (404) naming the bucket', async () => {
  const b = uniqueBucket('own');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  for (const ObjectOwnership of ['BucketOwnerPreferred', 'ObjectWriter', 'BucketOwnerEnforced'] as const) {
    await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership }] } }));
    const got = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: b }));
    assert.deepEqual(got.OwnershipControls?.Rules, [{ ObjectOwnership }]);
  }
  const del = await s3.send(new DeleteBucketOwnershipControlsCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await assertFails(s3.send(new GetBucketOwnershipControlsCommand({ Bucket: b })), 404, 'OwnershipControlsNotFoundError', 'The bucket ownership controls were not found', { BucketName: b });
  // Without ownership controls ACLs are enabled (AWS's ObjectWriter behaviour).
  await s3.send(new PutBucketAclCommand({ Bucket: b, GrantRead: `id="${OTHER_ID}"` }));
  assert.ok(grantsOf((await s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants).includes(`CanonicalUser:${OTHER_ID} READ`));
});

test('PutBucketOwnershipControls refuses an unknown setting or rule-less body with MalformedXML', async () => {
  const b = uniqueBucket('own-bad');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await assertFails(s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: 'Nobody' as 'ObjectWriter' }] } })), 400, 'MalformedXML');
  await assertFails(s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [] } })), 400, 'MalformedXML');
});

test('BucketOwnerEnforced cannot be set while the bucket ACL grants to others: InvalidBucketAclWithObjectOwnership', async () => {
  const b = await aclBucket('own-acl');
  await s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read' }));
  await assertFails(
    s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } })),
    400, 'InvalidBucketAclWithObjectOwnership', "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
  );
  await s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'private' }));
  await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } }));
});

test('CreateBucket: an ACL granting others needs an ownership that allows ACLs, and a public one needs the block off', async () => {
  await assertFails(s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('cb-acl'), ACL: 'public-read' })), 400, 'InvalidBucketAclWithObjectOwnership');
  await assertFails(
    s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('cb-acl'), ACL: 'public-read', ObjectOwnership: 'ObjectWriter' })),
    400, 'InvalidBucketAclWithBlockPublicAccessError', 'Bucket cannot have public ACLs set with BlockPublicAccess enabled',
  );
  await assertFails(s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('cb-acl'), ObjectOwnership: 'Everyone' as 'ObjectWriter' })), 400, 'InvalidArgument');
  const b = uniqueBucket('cb-acl');
  await s3.send(new CreateBucketCommand({ Bucket: b, ObjectOwnership: 'BucketOwnerPreferred', GrantRead: `id="${OTHER_ID}"` }));
  // Grant headers are the whole ACL: the owner keeps FULL_CONTROL only by naming itself.
  assert.deepEqual(grantsOf((await s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants), [`CanonicalUser:${OTHER_ID} READ`]);
  const own = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: b }));
  assert.deepEqual(own.OwnershipControls?.Rules, [{ ObjectOwnership: 'BucketOwnerPreferred' }]);
});

test('canned ACLs expand to AWS\'s grants on buckets and objects', async () => {
  const b = await aclBucket('canned');
  const bucketCases: [string, string[]][] = [
    ['private', []],
    ['public-read', [`Group:${ALL_USERS} READ`]],
    ['public-read-write', [`Group:${ALL_USERS} READ`, `Group:${ALL_USERS} WRITE`]],
    ['authenticated-read', [`Group:${AUTH_USERS} READ`]],
    ['log-delivery-write', [`Group:${LOG_DELIVERY} WRITE`, `Group:${LOG_DELIVERY} READ_ACP`]],
  ];
  for (const [ACL, extra] of bucketCases) {
    await s3.send(new PutBucketAclCommand({ Bucket: b, ACL: ACL as 'private' }));
    assert.deepEqual(grantsOf((await s3.send(new GetBucketAclCommand({ Bucket: b }))).Grants), ['CanonicalUser:owner FULL_CONTROL', ...extra], ACL);
  }
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', ACL: 'public-read' }));
  assert.deepEqual(grantsOf((await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'o' }))).Grants), ['CanonicalUser:owner FULL_CONTROL', `Group:${ALL_USERS} READ`]);
  for (const ACL of ['bucket-owner-read', 'bucket-owner-full-control', 'private'] as const) {
    await s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'o', ACL }));
    assert.deepEqual(grantsOf((await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'o' }))).Grants), ['CanonicalUser:owner FULL_CONTROL'], ACL);
  }
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'o', ACL: 'world-writable' as 'private' })), 400, 'InvalidArgument');
});

test('grant headers and AccessControlPolicy bodies are stored and returned with xsi:type CanonicalUser / Group', async () => {
  const b = await aclBucket('grants');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'g', Body: 'x', GrantRead: `uri="${AUTH_USERS}", id="${OTHER_ID}"`, GrantWriteACP: `id=${OTHER_ID}` }));
  assert.deepEqual(grantsOf((await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'g' }))).Grants), [
    `Group:${AUTH_USERS} READ`, `CanonicalUser:${OTHER_ID} READ`, `CanonicalUser:${OTHER_ID} WRITE_ACP`,
  ]);
  await s3.send(new PutObjectAclCommand({
    Bucket: b, Key: 'g',
    AccessControlPolicy: {
      Owner: { ID: ownerId },
      Grants: [
        { Grantee: { Type: 'CanonicalUser', ID: ownerId }, Permission: 'FULL_CONTROL' },
        { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ_ACP' },
      ],
    },
  }));
  const r = await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'g' }));
  assert.equal(r.Owner?.ID, ownerId);
  assert.deepEqual(grantsOf(r.Grants), ['CanonicalUser:owner FULL_CONTROL', `Group:${ALL_USERS} READ_ACP`]);
  // Errors: an unknown group, a malformed id, an email grantee (Coffer knows no account by e-mail), both canned and grants.
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'g', GrantRead: 'uri="http://acs.amazonaws.com/groups/global/Nobody"' })), 400, 'InvalidArgument');
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'g', GrantRead: 'id="not-a-canonical-id"' })), 400, 'InvalidArgument');
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'g', GrantRead: 'emailAddress="someone@example.com"' })), 400, 'UnresolvableGrantByEmailAddress');
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'g', ACL: 'private', GrantRead: `id="${OTHER_ID}"` })), 400, 'InvalidRequest');
  await assertFails(s3.send(new PutObjectAclCommand({
    Bucket: b, Key: 'g', AccessControlPolicy: { Owner: { ID: ownerId }, Grants: [{ Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'EVERYTHING' as 'READ' }] },
  })), 400, 'MalformedACLError');
});

test('CopyObject and multipart uploads take the ACL of their own request, not the source\'s', async () => {
  const b = await aclBucket('copy-acl');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'src', Body: 'x', ACL: 'public-read' }));
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'plain-copy', CopySource: `${b}/src` }));
  assert.deepEqual(grantsOf((await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'plain-copy' }))).Grants), ['CanonicalUser:owner FULL_CONTROL']);
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'auth-copy', CopySource: `${b}/src`, ACL: 'authenticated-read' }));
  assert.deepEqual(grantsOf((await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'auth-copy' }))).Grants), ['CanonicalUser:owner FULL_CONTROL', `Group:${AUTH_USERS} READ`]);
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ACL: 'public-read' }));
  const part = await s3.send(new UploadPartCommand({ Bucket: b, Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: 'part' }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: b, Key: 'mp', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  assert.deepEqual(grantsOf((await s3.send(new GetObjectAclCommand({ Bucket: b, Key: 'mp' }))).Grants), ['CanonicalUser:owner FULL_CONTROL', `Group:${ALL_USERS} READ`]);
});

test('PutPublicAccessBlock / Get / Delete; NoSuchPublicAccessBlockConfiguration (404) when absent; omitted settings are false', async () => {
  const b = uniqueBucket('pab');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true } }));
  assert.deepEqual((await s3.send(new GetPublicAccessBlockCommand({ Bucket: b }))).PublicAccessBlockConfiguration, {
    BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: true,
  });
  const del = await s3.send(new DeletePublicAccessBlockCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await assertFails(s3.send(new GetPublicAccessBlockCommand({ Bucket: b })), 404, 'NoSuchPublicAccessBlockConfiguration', 'The public access block configuration was not found', { BucketName: b });
  await assertFails(s3.send(new GetPublicAccessBlockCommand({ Bucket: uniqueBucket('none') })), 404, 'NoSuchBucket');
});

test('BlockPublicAcls refuses public ACLs on PutBucketAcl, PutObjectAcl and PutObject (403 AccessDenied); private ones pass', async () => {
  const b = await aclBucket('block-acls');
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicAcls: true } }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', GrantRead: `id="${OTHER_ID}"` }));
  await assertFails(s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read' })), 403, 'AccessDenied');
  await assertFails(s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'o', ACL: 'authenticated-read' })), 403, 'AccessDenied');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: b, Key: 'p', Body: 'x', GrantRead: `uri="${ALL_USERS}"` })), 403, 'AccessDenied');
  await s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'o', ACL: 'private' }));
});

test('BlockPublicPolicy refuses a public bucket policy with AccessDenied; a non-public one passes; GetBucketPolicyStatus agrees', async () => {
  const b = uniqueBucket('block-policy');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const read = { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` };
  const doc = (st: object) => JSON.stringify({ Version: '2012-10-17', Statement: [st] });
  await assertFails(
    s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: doc(read) })), 403, 'AccessDenied',
    new RegExp(`not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::${b}" because public policies are blocked by the BlockPublicPolicy block public access setting`),
  );
  const narrowed = { ...read, Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } };
  await s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: doc(narrowed) }));
  assert.equal((await s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus?.IsPublic, false);
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicPolicy: false } }));
  await s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: doc(read) }));
  assert.equal((await s3.send(new GetBucketPolicyStatusCommand({ Bucket: b }))).PolicyStatus?.IsPublic, true);
});
