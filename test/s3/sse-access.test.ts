// SSE-KMS access is cryptographic and per principal, through @aws-sdk/client-s3 and
// client-kms against the real server, with IAM users in the server's own IAM store.
// S3 calls the KMS as the requesting principal (kms:ViaService = s3.us-east-1.amazonaws.com):
// PutObject and CreateMultipartUpload need kms:GenerateDataKey, GetObject, UploadPart and
// UploadPartCopy need kms:Decrypt, CopyObject needs Decrypt on the source key and
// GenerateDataKey on the destination key. Without them: 403 AccessDenied with KMS's
// message naming the user, the action and the key ARN, while listing and HEAD work.
// Grants, policy changes and key-policy conditions (kms:ViaService,
// kms:EncryptionContext:aws:s3:arn) decide on the next request, also for objects written
// earlier and with bucket keys (a cached bucket key never skips the check). The aws/s3
// key serves any user with S3 permissions but not direct KMS calls. Every KMS call S3
// makes is in the audit log under the requesting principal, with the S3 ARN as context.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, PutBucketEncryptionCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import {
  NO_IDENTITY_ALLOW, assertKmsCalls, assertKmsDenied, keyPolicyWith, kmsEventsOf, kmsOn, refusal, s3On, userFactory, type TestUser,
} from '../helpers/sse-principals.js';
import { InProcessKms } from '../../src/kms/port.js';

const VIA_S3 = 's3.us-east-1.amazonaws.com';
let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let acct: string;
const bucket = uniqueBucket('sse-access');
const objArn = (key: string, b = bucket) => `arn:aws:s3:::${b}/${key}`;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  acct = srv.coffer.root.accountId;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function newKey(policy?: string): Promise<string> {
  const md = (await srv.kms.send(new CreateKeyCommand(policy ? { Policy: policy } : {}))).KeyMetadata!;
  return md.Arn!;
}

const body = (text: string) => Buffer.from(`${text} — sse access test body`);

/** PutObject under SSE-KMS `keyId` (an ARN, id or alias). */
function putKms(s3: S3Client, key: string, keyId: string | undefined, opts: { bucketKey?: boolean; b?: string } = {}) {
  return s3.send(new PutObjectCommand({
    Bucket: opts.b ?? bucket, Key: key, Body: body(key), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId,
    ...(opts.bucketKey !== undefined ? { BucketKeyEnabled: opts.bucketKey } : {}),
  }));
}

async function getText(s3: S3Client, key: string, b = bucket): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: b, Key: key }));
  return r.Body!.transformToString();
}

async function readable(s3: S3Client, key: string): Promise<void> {
  assert.equal(await getText(s3, key), body(key).toString());
}

async function grantDecrypt(keyArn: string, user: TestUser, operations: ('Decrypt' | 'GenerateDataKey')[] = ['Decrypt']): Promise<string> {
  const g = await srv.kms.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: user.arn, Operations: operations }));
  return g.GrantId!;
}

test('without kms:Decrypt a user with s3:* gets 403 AccessDenied naming itself, kms:Decrypt and the key ARN; ListObjectsV2 and HeadObject still work', async () => {
  const key = await newKey();
  const u = await users.create('no-decrypt', { s3: [s3On(bucket)], kms: [kmsOn('kms:GenerateDataKey', key)] });
  const put = await putKms(u.s3, 'nd/own.txt', key);
  assert.equal(put.ServerSideEncryption, 'aws:kms');
  assert.equal(put.SSEKMSKeyId, key);
  await putKms(srv.s3, 'nd/root.txt', key);

  for (const k of ['nd/own.txt', 'nd/root.txt']) {
    const e = await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: k })), u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await assertKmsCalls(srv, e.$metadata.requestId, u.arn, [{ eventName: 'Decrypt', keyArn: key, s3Arn: objArn(k), denied: true }]);
  }
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'nd/root.txt', Range: 'bytes=0-0' })), u.arn, 'kms:Decrypt', key);
  // DSSE-KMS objects and empty objects need the key just the same.
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'nd/dsse.txt', Body: 'two layers', ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: key }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'nd/empty.txt', Body: '', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  for (const k of ['nd/dsse.txt', 'nd/empty.txt']) {
    await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: k })), u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
  }

  const head = await u.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'nd/root.txt' }));
  assert.equal(head.ServerSideEncryption, 'aws:kms');
  assert.equal(head.SSEKMSKeyId, key);
  assert.equal(head.ContentLength, body('nd/root.txt').length);
  const list = await u.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'nd/' }));
  assert.deepEqual(list.Contents?.map((o) => o.Key), ['nd/dsse.txt', 'nd/empty.txt', 'nd/own.txt', 'nd/root.txt']);
  // The same object is readable by a principal the key allows: the refusal was the key's.
  await readable(srv.s3, 'nd/root.txt');
});

test('without kms:GenerateDataKey, PutObject and CreateMultipartUpload with the key are 403 (by ARN, by alias, and by bucket default), and nothing is written', async () => {
  const key = await newKey();
  const alias = `alias/sse-access-${Date.now().toString(36)}`;
  await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key }));
  const u = await users.create('no-gdk', { s3: [s3On(bucket)], kms: [kmsOn('kms:Decrypt', key)] });
  for (const ref of [key, alias]) {
    const e = await assertKmsDenied(putKms(u.s3, 'ngdk/a.txt', ref), u.arn, 'kms:GenerateDataKey', key, NO_IDENTITY_ALLOW('kms:GenerateDataKey'));
    await assertKmsCalls(srv, e.$metadata.requestId, u.arn, [{ eventName: 'GenerateDataKey', keyArn: key, s3Arn: objArn('ngdk/a.txt'), denied: true }]);
    await assertKmsDenied(
      u.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'ngdk/mpu.bin', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: ref })),
      u.arn, 'kms:GenerateDataKey', key,
    );
  }
  assert.equal((await refusal(srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ngdk/a.txt' })))).$metadata.httpStatusCode, 404);

  // A bucket whose default encryption names the key: a PUT without SSE headers needs the same permission.
  const b2 = uniqueBucket('sse-default');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b2 }));
  await srv.s3.send(new PutBucketEncryptionCommand({
    Bucket: b2,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key } }] },
  }));
  await u.put('s3-b2', s3On(b2));
  await assertKmsDenied(u.s3.send(new PutObjectCommand({ Bucket: b2, Key: 'plain-request.txt', Body: 'x' })), u.arn, 'kms:GenerateDataKey', key);
  // Granting GenerateDataKey lets the same requests through.
  await u.put('kms', kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], key));
  const ok = await u.s3.send(new PutObjectCommand({ Bucket: b2, Key: 'plain-request.txt', Body: 'x' }));
  assert.equal(ok.SSEKMSKeyId, key);
  await assertKmsCalls(srv, ok.$metadata.requestId, u.arn, [{ eventName: 'GenerateDataKey', keyArn: key, s3Arn: objArn('plain-request.txt', b2) }]);
});

test('UploadPart and UploadPartCopy need kms:Decrypt on the upload\'s key (AWS: S3 reads the encrypted parts), CreateMultipartUpload only GenerateDataKey', async () => {
  const key = await newKey();
  const u = await users.create('mpu-no-decrypt', { s3: [s3On(bucket)], kms: [kmsOn('kms:GenerateDataKey', key)] });
  const created = await u.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu/obj.bin', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  assert.equal(created.SSEKMSKeyId, key);
  const UploadId = created.UploadId!;
  const part = Buffer.alloc(5 * 1024 * 1024, 7);
  const e = await assertKmsDenied(
    u.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu/obj.bin', UploadId, PartNumber: 1, Body: part })),
    u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'),
  );
  await assertKmsCalls(srv, e.$metadata.requestId, u.arn, [{ eventName: 'Decrypt', keyArn: key, s3Arn: objArn('mpu/obj.bin'), denied: true }]);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'mpu/src.txt', Body: 'copy source' }));
  await assertKmsDenied(
    u.s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'mpu/obj.bin', UploadId, PartNumber: 2, CopySource: `${bucket}/mpu/src.txt` })),
    u.arn, 'kms:Decrypt', key,
  );

  await u.put('kms', kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], key));
  const p1 = await u.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu/obj.bin', UploadId, PartNumber: 1, Body: part }));
  assert.equal(p1.ServerSideEncryption, 'aws:kms');
  assert.equal(p1.SSEKMSKeyId, key);
  await assertKmsCalls(srv, p1.$metadata.requestId, u.arn, [{ eventName: 'Decrypt', keyArn: key, s3Arn: objArn('mpu/obj.bin') }]);
  const p2 = await u.s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'mpu/obj.bin', UploadId, PartNumber: 2, CopySource: `${bucket}/mpu/src.txt` }));
  await u.s3.send(new CompleteMultipartUploadCommand({
    Bucket: bucket, Key: 'mpu/obj.bin', UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag }] },
  }));
  const got = Buffer.from(await (await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mpu/obj.bin' }))).Body!.transformToByteArray());
  assert.ok(got.equals(Buffer.concat([part, Buffer.from('copy source')])));
});

test('CopyObject needs kms:Decrypt on the source key and kms:GenerateDataKey on the destination key', async () => {
  const src = await newKey();
  const dst = await newKey();
  await putKms(srv.s3, 'copy/src.txt', src);
  const copy = (s3: S3Client, to: string) => s3.send(new CopyObjectCommand({
    Bucket: bucket, Key: to, CopySource: `${bucket}/copy/src.txt`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: dst,
  }));

  const onlyDecrypt = await users.create('copy-decrypt-only', { s3: [s3On(bucket)], kms: [kmsOn('kms:Decrypt', src)] });
  const e1 = await assertKmsDenied(copy(onlyDecrypt.s3, 'copy/a.txt'), onlyDecrypt.arn, 'kms:GenerateDataKey', dst, NO_IDENTITY_ALLOW('kms:GenerateDataKey'));
  const e1Events = await kmsEventsOf(srv, e1.$metadata.requestId);
  assert.ok(e1Events.some((ev) => ev.eventName === 'GenerateDataKey' && ev.resources[0]?.ARN === dst && ev.errorCode), 'the refused GenerateDataKey is audited');

  const onlyGdk = await users.create('copy-gdk-only', { s3: [s3On(bucket)], kms: [kmsOn('kms:GenerateDataKey', dst)] });
  const e2 = await assertKmsDenied(copy(onlyGdk.s3, 'copy/b.txt'), onlyGdk.arn, 'kms:Decrypt', src, NO_IDENTITY_ALLOW('kms:Decrypt'));
  await assertKmsCalls(srv, e2.$metadata.requestId, onlyGdk.arn, [{ eventName: 'Decrypt', keyArn: src, s3Arn: objArn('copy/src.txt'), denied: true }]);
  for (const k of ['copy/a.txt', 'copy/b.txt']) {
    assert.equal((await refusal(srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: k })))).$metadata.httpStatusCode, 404, `${k} not written`);
  }

  const both = await users.create('copy-both', { s3: [s3On(bucket)], kms: [kmsOn('kms:Decrypt', src), kmsOn('kms:GenerateDataKey', dst)] });
  const ok = await copy(both.s3, 'copy/c.txt');
  assert.equal(ok.ServerSideEncryption, 'aws:kms');
  assert.equal(ok.SSEKMSKeyId, dst);
  const calls = (await kmsEventsOf(srv, ok.$metadata.requestId))
    .map((ev) => [ev.eventName, ev.resources[0]?.ARN, ev.userIdentity.arn, (ev.requestParameters?.encryptionContext as Record<string, string>)['aws:s3:arn'], ev.errorCode ?? 'ok']);
  assert.deepEqual(calls.sort(), [
    ['Decrypt', src, both.arn, objArn('copy/src.txt'), 'ok'],
    ['GenerateDataKey', dst, both.arn, objArn('copy/c.txt'), 'ok'],
  ]);
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copy/c.txt' }));
  assert.equal(head.SSEKMSKeyId, dst);
  assert.equal(await getText(srv.s3, 'copy/c.txt'), body('copy/src.txt').toString());
});

test('a KMS grant for Decrypt lets a user read objects written earlier; RevokeGrant takes effect on the very next request', async () => {
  const key = await newKey();
  await putKms(srv.s3, 'grant/old.txt', key);
  const u = await users.create('grantee', { s3: [s3On(bucket)] });
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'grant/old.txt' })), u.arn, 'kms:Decrypt', key);
  const grantId = await grantDecrypt(key, u);
  const r = await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'grant/old.txt' }));
  assert.equal(await r.Body!.transformToString(), body('grant/old.txt').toString());
  await assertKmsCalls(srv, r.$metadata.requestId, u.arn, [{ eventName: 'Decrypt', keyArn: key, s3Arn: objArn('grant/old.txt') }]);
  // A multipart upload under the key, begun while the grant (for both operations) held.
  const both = await grantDecrypt(key, u, ['Decrypt', 'GenerateDataKey']);
  const { UploadId } = await u.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'grant/mpu.bin', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key }));
  await u.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'grant/mpu.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024, 1) }));
  await srv.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId: grantId }));
  await srv.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId: both }));
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'grant/old.txt' })), u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
  await assertKmsDenied(
    u.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'grant/mpu.bin', UploadId, PartNumber: 2, Body: Buffer.alloc(1024, 2) })),
    u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'),
  );
});

test('with bucket keys, a revoked grant takes effect on the next GET and PUT although the bucket key is cached', async () => {
  const key = await newKey();
  // Written before the grant exists, under a bucket key (context: the bucket ARN).
  const w = await putKms(srv.s3, 'bk-grant/old-1.txt', key, { bucketKey: true });
  assert.equal(w.BucketKeyEnabled, true);
  await putKms(srv.s3, 'bk-grant/old-2.txt', key, { bucketKey: true });
  const u = await users.create('bk-grantee', { s3: [s3On(bucket)] });
  const denied = await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'bk-grant/old-1.txt' })), u.arn, 'kms:Decrypt', key);
  assert.ok(denied);
  const grantId = await grantDecrypt(key, u, ['Decrypt', 'GenerateDataKey']);
  // Several reads and writes: from the second on the bucket key is cached.
  for (let i = 0; i < 3; i++) {
    await readable(u.s3, 'bk-grant/old-1.txt');
    await readable(u.s3, 'bk-grant/old-2.txt');
    const put = await putKms(u.s3, `bk-grant/new-${i}.txt`, key, { bucketKey: true });
    assert.equal(put.BucketKeyEnabled, true);
  }
  await srv.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId: grantId }));
  for (const k of ['bk-grant/old-1.txt', 'bk-grant/old-2.txt', 'bk-grant/new-0.txt']) {
    await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: k })), u.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
  }
  await assertKmsDenied(putKms(u.s3, 'bk-grant/after-revoke.txt', key, { bucketKey: true }), u.arn, 'kms:GenerateDataKey', key, NO_IDENTITY_ALLOW('kms:GenerateDataKey'));
  // The bucket key itself still works for a principal the key allows.
  await readable(srv.s3, 'bk-grant/new-0.txt');
});

test('changing or deleting the identity policy statement takes effect on the next request (plain and bucket-key objects)', async () => {
  const key = await newKey();
  await putKms(srv.s3, 'pol/plain.txt', key);
  await putKms(srv.s3, 'pol/bk.txt', key, { bucketKey: true });
  const u = await users.create('policy-change', { s3: [s3On(bucket)], kms: [kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], key)] });
  const keys = ['pol/plain.txt', 'pol/bk.txt'];
  for (const k of keys) await readable(u.s3, k);
  await putKms(u.s3, 'pol/by-user.txt', key, { bucketKey: true });

  // Replace the statement with one that no longer allows Decrypt.
  await u.put('kms', kmsOn(['kms:GenerateDataKey', 'kms:DescribeKey'], key));
  for (const k of keys) await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: k })), u.arn, 'kms:Decrypt', key);
  await putKms(u.s3, 'pol/still-writes.txt', key, { bucketKey: true });

  await u.put('kms', kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], key));
  for (const k of keys) await readable(u.s3, k);

  // Delete the policy: neither reads nor writes under the key.
  await u.remove('kms');
  for (const k of keys) await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: k })), u.arn, 'kms:Decrypt', key);
  await assertKmsDenied(putKms(u.s3, 'pol/after-delete.txt', key, { bucketKey: true }), u.arn, 'kms:GenerateDataKey', key);
  await assertKmsDenied(putKms(u.s3, 'pol/after-delete.txt', key), u.arn, 'kms:GenerateDataKey', key);

  // An explicit deny added beside the allow wins at once, also over a grant.
  await u.put('kms', kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], key));
  await grantDecrypt(key, u);
  await readable(u.s3, 'pol/bk.txt');
  await u.put('deny', { Effect: 'Deny', Action: 'kms:Decrypt', Resource: key });
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'pol/bk.txt' })), u.arn, 'kms:Decrypt', key, 'with an explicit deny in an identity-based policy');
});

test('a key policy condition on kms:ViaService is honoured: S3 gets through, a direct KMS call and another service\'s condition do not', async () => {
  const u = await users.create('via-s3', { s3: [s3On(bucket)] });
  const through = (service: string) => ({
    Sid: `${u.name} via ${service}`, Effect: 'Allow', Principal: { AWS: u.arn }, Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*',
    Condition: { StringEquals: { 'kms:ViaService': service } },
  });
  const viaS3 = await newKey(keyPolicyWith(acct, through(VIA_S3)));
  const viaOther = await newKey(keyPolicyWith(acct, through('s3.eu-west-1.amazonaws.com')));

  const put = await putKms(u.s3, 'via/ok.txt', viaS3);
  await assertKmsCalls(srv, put.$metadata.requestId, u.arn, [{ eventName: 'GenerateDataKey', keyArn: viaS3, s3Arn: objArn('via/ok.txt') }]);
  await readable(u.s3, 'via/ok.txt');
  // Directly, without S3, the same principal may not use the key.
  const direct = await refusal(u.kms.send(new GenerateDataKeyCommand({ KeyId: viaS3, KeySpec: 'AES_256' })));
  assert.equal(direct.name, 'AccessDeniedException', direct.message);
  assert.match(direct.message, new RegExp(`^User: ${u.arn} is not authorized to perform: kms:GenerateDataKey on resource: ${viaS3} because`));
  const blob = (await srv.kms.send(new GenerateDataKeyCommand({ KeyId: viaS3, KeySpec: 'AES_256' }))).CiphertextBlob!;
  const directDecrypt = await refusal(u.kms.send(new DecryptCommand({ CiphertextBlob: blob })));
  assert.equal(directDecrypt.name, 'AccessDeniedException', directDecrypt.message);

  await assertKmsDenied(putKms(u.s3, 'via/other.txt', viaOther), u.arn, 'kms:GenerateDataKey', viaOther);
  await putKms(srv.s3, 'via/other-root.txt', viaOther);
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'via/other-root.txt' })), u.arn, 'kms:Decrypt', viaOther);
});

test('a key policy condition on kms:EncryptionContext:aws:s3:arn is honoured for PUT and GET', async () => {
  const u = await users.create('ctx-scoped', { s3: [s3On(bucket)] });
  const key = await newKey(keyPolicyWith(acct, {
    Sid: 'only the open/ prefix', Effect: 'Allow', Principal: { AWS: u.arn }, Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: '*',
    Condition: { StringLike: { 'kms:EncryptionContext:aws:s3:arn': `arn:aws:s3:::${bucket}/open/*` } },
  }));
  const put = await putKms(u.s3, 'open/a.txt', key);
  assert.equal(put.SSEKMSKeyId, key);
  await readable(u.s3, 'open/a.txt');
  const e = await assertKmsDenied(putKms(u.s3, 'closed/b.txt', key), u.arn, 'kms:GenerateDataKey', key);
  await assertKmsCalls(srv, e.$metadata.requestId, u.arn, [{ eventName: 'GenerateDataKey', keyArn: key, s3Arn: objArn('closed/b.txt'), denied: true }]);
  await putKms(srv.s3, 'closed/c.txt', key);
  await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'closed/c.txt' })), u.arn, 'kms:Decrypt', key);
  // With a bucket key the context is the bucket ARN, which the condition does not match.
  await assertKmsDenied(putKms(u.s3, 'open/bk.txt', key, { bucketKey: true }), u.arn, 'kms:GenerateDataKey', key);
});

test('the aws/s3 key serves a user with only S3 permissions, who cannot use it through KMS directly', async () => {
  const u = await users.create('s3-only', { s3: [s3On(bucket)] });
  const put = await u.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'managed/a.txt', Body: body('managed/a.txt'), ServerSideEncryption: 'aws:kms' }));
  const md = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!;
  assert.equal(md.KeyManager, 'AWS');
  assert.equal(put.SSEKMSKeyId, md.Arn);
  await assertKmsCalls(srv, put.$metadata.requestId, u.arn, [{ eventName: 'GenerateDataKey', keyArn: md.Arn!, s3Arn: objArn('managed/a.txt') }]);
  const get = await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'managed/a.txt' }));
  assert.equal(await get.Body!.transformToString(), body('managed/a.txt').toString());
  assert.equal(get.SSEKMSKeyId, md.Arn);
  await assertKmsCalls(srv, get.$metadata.requestId, u.arn, [{ eventName: 'Decrypt', keyArn: md.Arn!, s3Arn: objArn('managed/a.txt') }]);
  // Another user reads it too (any principal of the account, through S3).
  const other = await users.create('s3-only-2', { s3: [s3On(bucket)] });
  await readable(other.s3, 'managed/a.txt');

  // Direct use: no kms:ViaService, so the key policy allows nothing (even with kms:* in the identity policy).
  await u.put('all-kms', kmsOn('kms:*'));
  const gdk = await refusal(u.kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/aws/s3', KeySpec: 'AES_256' })));
  assert.equal(gdk.name, 'AccessDeniedException', gdk.message);
  // A data key S3 would have made (the KMS as S3 calls it, in process) is not decryptable directly either.
  const context = { 'aws:s3:arn': objArn('managed/a.txt') };
  const viaS3 = await new InProcessKms(srv.coffer.kms).generateDataKey({
    caller: {
      principal: { kind: 'root', accountId: acct, arn: `arn:aws:iam::${acct}:root`, userName: 'root' },
      requestId: 'sse-access-test', sourceIp: '127.0.0.1', secureTransport: true, viaService: VIA_S3,
    },
    keyId: 'alias/aws/s3', numberOfBytes: 32, encryptionContext: context,
  });
  const dec = await refusal(u.kms.send(new DecryptCommand({ CiphertextBlob: viaS3.ciphertextBlob, EncryptionContext: context })));
  assert.equal(dec.name, 'AccessDeniedException', dec.message);
  assert.match(dec.message, new RegExp(`^User: ${u.arn} is not authorized to perform: kms:Decrypt on resource: ${md.Arn}`));
  // And S3 on the user's behalf still works.
  await readable(u.s3, 'managed/a.txt');
});

test('every KMS call S3 makes is audited under the requesting principal, with the object ARN in the encryption context', async () => {
  const key = await newKey();
  const u = await users.create('audited', { s3: [s3On(bucket)], kms: [kmsOn(['kms:Decrypt', 'kms:GenerateDataKey'], key)] });
  const put = await putKms(u.s3, 'audit/x.txt', key);
  await assertKmsCalls(srv, put.$metadata.requestId, u.arn, [{ eventName: 'GenerateDataKey', keyArn: key, s3Arn: objArn('audit/x.txt') }]);
  const get = await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'audit/x.txt' }));
  await get.Body!.transformToString();
  await assertKmsCalls(srv, get.$metadata.requestId, u.arn, [{ eventName: 'Decrypt', keyArn: key, s3Arn: objArn('audit/x.txt') }]);
  // The root's own S3 requests are audited under the root, not under anyone else.
  const rootGet = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'audit/x.txt' }));
  await rootGet.Body!.transformToString();
  await assertKmsCalls(srv, rootGet.$metadata.requestId, `arn:aws:iam::${acct}:root`, [{ eventName: 'Decrypt', keyArn: key, s3Arn: objArn('audit/x.txt') }]);
  // HEAD and LIST use no key: no KMS call.
  const head = await u.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'audit/x.txt' }));
  await assertKmsCalls(srv, head.$metadata.requestId, u.arn, []);
});
