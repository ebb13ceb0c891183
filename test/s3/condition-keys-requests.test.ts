// The condition keys of what a request asks for, on the actions AWS's Service Authorization
// Reference lists them for, through @aws-sdk/client-s3 against the real server: s3:x-amz-acl
// and s3:x-amz-grant-* (PutObject, PutObjectAcl, PutBucketAcl, CreateBucket), s3:versionid (the
// actions of one version, DeleteObjects' <VersionId> entries too), the s3:object-lock-* keys
// (PutObject, PutObjectRetention, PutObjectLegalHold: the retention or hold in the body),
// s3:x-amz-storage-class, s3:prefix on ListBucketVersions, and s3:if-none-match with
// s3:ObjectCreationOperation (AWS's "enforce conditional writes" policy).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, UploadPartCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectVersionsCommand, PutBucketAclCommand,
  PutBucketPolicyCommand, PutBucketVersioningCommand, PutObjectAclCommand, PutObjectCommand, PutObjectLegalHoldCommand, PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
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

async function assertDenied(p: Promise<unknown>): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.$metadata.httpStatusCode, 403, `${e.name}: ${e.message}`);
  assert.equal(e.name, 'AccessDenied', e.message);
}

async function newBucket(prefix: string, opts: { lock?: boolean; versioned?: boolean } = {}): Promise<string> {
  const b = uniqueBucket(prefix);
  await srv.s3.send(new CreateBucketCommand({ Bucket: b, ...(opts.lock ? { ObjectLockEnabledForBucket: true } : {}) }));
  if (opts.versioned) await srv.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  return b;
}

const denyAll = (b: string, ...statements: object[]) =>
  srv.s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: policyDoc(...statements.map((st) => ({ Effect: 'Deny', Principal: '*', ...st }))) }));

const days = (n: number) => new Date(Date.now() + n * 86_400_000);

test('s3:x-amz-acl and s3:x-amz-grant-*: AWS\'s "require bucket-owner-full-control" takes uploads that send it and refuses the rest; grants and bucket ACLs by policy', async () => {
  const b = await newBucket('ckr-acl');
  await denyAll(b,
    { Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } } },
    { Action: 's3:PutObjectAcl', Resource: `arn:aws:s3:::${b}/*`, Condition: { Null: { 's3:x-amz-grant-read': 'false' } } },
    { Action: 's3:PutBucketAcl', Resource: `arn:aws:s3:::${b}`, Condition: { StringEquals: { 's3:x-amz-acl': 'public-read' } } });
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ACL: 'bucket-owner-full-control' }));
  await assertDenied(srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' })));
  await assertDenied(srv.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp', ACL: 'private' })));
  await assertDenied(srv.s3.send(new PutObjectAclCommand({ Bucket: b, Key: 'k', GrantRead: 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' })));
  await assertDenied(srv.s3.send(new PutBucketAclCommand({ Bucket: b, ACL: 'public-read' })));

  // CreateBucket, by an identity policy: only private buckets.
  const u = await users.create('ckr-creator', {
    create: [{ Effect: 'Allow', Action: 's3:CreateBucket', Resource: 'arn:aws:s3:::*', Condition: { StringEquals: { 's3:x-amz-acl': 'private' } } }],
  });
  await u.s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('ckr-private'), ACL: 'private' }));
  await assertDenied(u.s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('ckr-noacl') })));
});

test('s3:x-amz-object-ownership on CreateBucket: AWS\'s "require Bucket owner enforced for new buckets"', async () => {
  const u = await users.create('ckr-enforcer', {
    create: [{ Effect: 'Allow', Action: 's3:CreateBucket', Resource: 'arn:aws:s3:::*', Condition: { StringEquals: { 's3:x-amz-object-ownership': 'BucketOwnerEnforced' } } }],
  });
  await u.s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('ckr-enforced'), ObjectOwnership: 'BucketOwnerEnforced' }));
  await assertDenied(u.s3.send(new CreateBucketCommand({ Bucket: uniqueBucket('ckr-writer'), ObjectOwnership: 'ObjectWriter' })));
});

async function twoVersions(prefix: string): Promise<{ b: string; v1: string; v2: string }> {
  const b = await newBucket(prefix, { versioned: true });
  const v1 = (await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }))).VersionId!;
  const v2 = (await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two' }))).VersionId!;
  return { b, v1, v2 };
}

test('s3:versionid: a user allowed one version reads it and not another', async () => {
  const { b, v1, v2 } = await twoVersions('ckr-ver');
  const u = await users.create('ckr-version-reader', {
    read: [{ Effect: 'Allow', Action: 's3:GetObjectVersion', Resource: `arn:aws:s3:::${b}/k`, Condition: { StringEquals: { 's3:versionid': v1 } } }],
  });
  assert.equal(await (await u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v1 }))).Body!.transformToString(), 'one');
  await assertDenied(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 })));
});

test('s3:versionid on a copy\'s source: a user allowed one version may copy it and not another', async () => {
  const { b, v1, v2 } = await twoVersions('ckr-copyv');
  const u = await users.create('ckr-version-copier', {
    copy: [
      { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/copy` },
      { Effect: 'Allow', Action: 's3:GetObjectVersion', Resource: `arn:aws:s3:::${b}/k`, Condition: { StringEquals: { 's3:versionid': v1 } } },
    ],
  });
  await u.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'copy', CopySource: `${b}/k?versionId=${v1}` }));
  await assertDenied(u.s3.send(new CopyObjectCommand({ Bucket: b, Key: 'copy', CopySource: `${b}/k?versionId=${v2}` })));
});

test('s3:versionid on DeleteObjects: a bucket policy keeps the <VersionId> it names from being deleted and lets the other go', async () => {
  const { b, v1, v2 } = await twoVersions('ckr-delv');
  await denyAll(b, { Action: 's3:DeleteObjectVersion', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:versionid': v1 } } });
  const out = await srv.s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'k', VersionId: v1 }, { Key: 'k', VersionId: v2 }] } }));
  assert.deepEqual(out.Errors?.map((e) => [e.VersionId, e.Code]), [[v1, 'AccessDenied']]);
  assert.deepEqual(out.Deleted?.map((d) => d.VersionId), [v2]);
});

async function lockedBucket(prefix: string): Promise<string> {
  const b = await newBucket(prefix, { lock: true });
  await denyAll(b,
    { Action: ['s3:PutObject', 's3:PutObjectRetention'], Resource: `arn:aws:s3:::${b}/*`, Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': '30' } } },
    { Action: 's3:PutObjectRetention', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:object-lock-mode': 'COMPLIANCE' } } },
    { Action: 's3:PutObjectLegalHold', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:object-lock-legal-hold': 'OFF' } } });
  return b;
}

const lockedPut = (b: string, until: Date) => srv.s3.send(new PutObjectCommand({
  Bucket: b, Key: 'k', Body: 'locked', ChecksumAlgorithm: 'CRC32', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until,
}));

test('object lock keys on PutObject: a retention longer than 30 days is refused by policy, a shorter one is not', async () => {
  const b = await lockedBucket('ckr-lockput');
  await assertDenied(lockedPut(b, days(40)));
  await assertDenied(lockedPut(b, new Date(days(30).getTime() + 60_000))); // a part of a day counts as a day
  await lockedPut(b, days(10));
});

test('object lock keys of the body: PutObjectRetention longer than 30 days or in COMPLIANCE mode is refused by policy; a shorter GOVERNANCE one is not', async () => {
  const b = await lockedBucket('ckr-lockbody');
  await lockedPut(b, days(10));
  const retain = (mode: 'GOVERNANCE' | 'COMPLIANCE', until: Date) => srv.s3.send(new PutObjectRetentionCommand({
    Bucket: b, Key: 'k', Retention: { Mode: mode, RetainUntilDate: until }, ChecksumAlgorithm: 'CRC32',
  }));
  await assertDenied(retain('GOVERNANCE', days(40)));
  await assertDenied(retain('COMPLIANCE', days(12)));
  await retain('GOVERNANCE', days(20));
});

test('s3:object-lock-legal-hold of the body: a policy lets a legal hold be put ON and refuses turning it OFF', async () => {
  const b = await lockedBucket('ckr-hold');
  await lockedPut(b, days(10));
  const hold = (Status: 'ON' | 'OFF') => srv.s3.send(new PutObjectLegalHoldCommand({ Bucket: b, Key: 'k', LegalHold: { Status }, ChecksumAlgorithm: 'CRC32' }));
  await hold('ON');
  await assertDenied(hold('OFF'));
});

test('s3:x-amz-storage-class on PutObject', async () => {
  const b = await newBucket('ckr-class');
  await denyAll(b, { Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:x-amz-storage-class': 'REDUCED_REDUNDANCY' } } });
  await assertDenied(srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', StorageClass: 'REDUCED_REDUNDANCY' })));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', StorageClass: 'STANDARD_IA' }));
});

test('s3:prefix on ListBucketVersions: a user listing versions only under home/', async () => {
  const b = await newBucket('ckr-lsv');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'home/k', Body: 'x' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'other/k', Body: 'x' }));

  const u = await users.create('ckr-version-lister', {
    list: [{ Effect: 'Allow', Action: 's3:ListBucketVersions', Resource: `arn:aws:s3:::${b}`, Condition: { StringEquals: { 's3:prefix': 'home/' } } }],
  });
  const listed = await u.s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'home/' }));
  assert.deepEqual(listed.Versions?.map((v) => v.Key), ['home/k']);
  await assertDenied(u.s3.send(new ListObjectVersionsCommand({ Bucket: b })));
});

test('s3:if-none-match and s3:ObjectCreationOperation: AWS\'s "enforce conditional writes" policy takes If-None-Match: * uploads, single and multipart, and refuses the rest', async () => {
  const b = await newBucket('ckr-cond');
  await denyAll(b, {
    Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`,
    Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
  });
  await assertDenied(srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' })));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', IfNoneMatch: '*' }));
  // The steps of a multipart upload before its completion are not creations: they go through.
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp' }));
  const { ETag } = await srv.s3.send(new UploadPartCommand({ Bucket: b, Key: 'mp', UploadId, PartNumber: 1, Body: 'part' }));
  const complete = (extra: object) => srv.s3.send(new CompleteMultipartUploadCommand({
    Bucket: b, Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] }, ...extra,
  }));
  await assertDenied(complete({}));
  await complete({ IfNoneMatch: '*' });
});

test('PostObject: the form\'s acl field is s3:x-amz-acl, as a PUT\'s header is', async () => {
  const b = await newBucket('ckr-postacl');
  await denyAll(b, { Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } } });
  const post = async (key: string, extra: Record<string, string>) => {
    const { url, fields } = await createPresignedPost(srv.s3, { Bucket: b, Key: key, Fields: extra, Conditions: Object.entries(extra).map(([k, v]) => ({ [k]: v })) });
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    fd.append('file', new Blob(['by form']), 'f.txt');
    const res = await fetch(url, { method: 'POST', body: fd });
    return { status: res.status, body: await res.text() };
  };
  const denied = await post('plain', {});
  assert.equal(denied.status, 403, denied.body);
  const ok = await post('owned', { acl: 'bucket-owner-full-control' });
  assert.equal(ok.status, 204, ok.body);
});

test('s3:locationconstraint on CreateBucket: AWS\'s "restrict bucket creation to a Region" lets a user create buckets that name eu-west-1 and refuses another', async () => {
  const eu = await startTestServer({ COFFER_REGION: 'eu-west-1' });
  const euUsers = userFactory(eu);
  try {
    const u = await euUsers.create('ckr-eu-creator', {
      create: [{ Effect: 'Allow', Action: 's3:CreateBucket', Resource: 'arn:aws:s3:::*', Condition: { StringEquals: { 's3:LocationConstraint': 'eu-west-1' } } }],
    });
    const euClient = eu.client({ credentials: u.credentials, region: 'eu-west-1', maxAttempts: 1 });
    try {
      await euClient.send(new CreateBucketCommand({ Bucket: uniqueBucket('ckr-eu'), CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
      // Another constraint is refused by the policy before the location is checked.
      await assertDenied(euClient.send(new CreateBucketCommand({ Bucket: uniqueBucket('ckr-other'), CreateBucketConfiguration: { LocationConstraint: 'eu-central-1' } })));
    } finally {
      euClient.destroy();
    }
  } finally {
    euUsers.destroy();
    await eu.stop();
  }
});
