// A hostile review of the caches on the SSE-KMS read path — KMS's opened ciphertexts
// (kms/opened-ciphertexts.ts), its remembered decisions (kms/decision-memo.ts), S3's decoded
// envelopes (s3/sse/kms-envelope-memo.ts) and bucket keys (s3/sse/bucket-keys.ts) — through
// @aws-sdk/client-s3, client-kms and client-iam against the real server. Each probe first
// warms every cache as a principal the key allows, then changes who asks or what holds, and
// the next request must be answered as an uncached one: another principal without
// kms:Decrypt, a disabled or pending-deletion key (AWS's KMS.DisabledException and
// KMS.KMSInvalidStateException, aws-recordings/s3-encryption.json), a key policy statement
// removed, a grant revoked, an identity policy deleted, an access key deactivated, an
// encryption-context condition that holds in one bucket and not in another, a copy source
// read by a principal without Decrypt. Each is run for an object of its own data key and
// for one under a bucket key. HEAD needs no kms:Decrypt (as in AWS). Every plain SSE-KMS GET
// leaves one Decrypt record, warm or not; a bucket-key hit leaves none when allowed (S3 makes
// no KMS call, as in AWS) and a refusal when refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateGrantCommand, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, PutKeyPolicyCommand, RevokeGrantCommand, ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { UpdateAccessKeyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import {
  NO_IDENTITY_ALLOW, assertKmsDenied, keyPolicyWith, kmsEventsOf, kmsOn, refusal, s3On, userFactory,
} from '../helpers/sse-principals.js';
import { iamClient } from '../iam/iam-helpers.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let iam: IAMClient;
let acct: string;
const b1 = uniqueBucket('cache-authz-one');
const b2 = uniqueBucket('cache-authz-two');
const KINDS = [{ name: 'own data key', bucketKey: false }, { name: 'bucket key', bucketKey: true }] as const;
const DECRYPT_GDK = ['kms:Decrypt', 'kms:GenerateDataKey'];

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
  for (const b of [b1, b2]) await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
});
after(async () => {
  users?.destroy();
  iam?.destroy();
  await srv?.stop();
});

let n = 0;
const unique = (prefix: string) => `${prefix}-${Date.now()}-${n++}`;

async function newKey(policy?: string): Promise<string> {
  return (await srv.kms.send(new CreateKeyCommand(policy ? { Policy: policy } : {}))).KeyMetadata!.Arn!;
}

const BODY = (key: string) => `the body of ${key}, long enough for a range`;

function put(s3: S3Client, bucket: string, key: string, keyArn: string, bucketKey: boolean) {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: BODY(key), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, BucketKeyEnabled: bucketKey }));
}

async function get(s3: S3Client, bucket: string, key: string, extra: { Range?: string; PartNumber?: number } = {}): Promise<{ text: string; requestId: string | undefined }> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return { text: await r.Body!.transformToString(), requestId: r.$metadata.requestId };
}

/** Reads as `u` twice (every cache warm for this object and principal), checking the body. */
async function warm(s3: S3Client, bucket: string, key: string): Promise<void> {
  for (let i = 0; i < 2; i++) assert.equal((await get(s3, bucket, key)).text, BODY(key));
}

/** An error's wire code, status and message. */
async function answer(p: Promise<unknown>): Promise<[string, number | undefined, string]> {
  const e = await refusal(p);
  return [e.name, e.$metadata.httpStatusCode, e.message];
}

for (const kind of KINDS) {
  test(`[${kind.name}] read as A (warm), then as B without kms:Decrypt: GET, Range and partNumber are AccessDenied as uncached; HEAD answers without Decrypt`, async () => {
    const key = await newKey();
    const a = await users.create(unique('warm-a'), { s3: [s3On(b1)], kms: [kmsOn(DECRYPT_GDK, key)] });
    const b = await users.create(unique('cold-b'), { s3: [s3On(b1)] });
    const k = unique('obj');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    // Before any read by A: B's refusal as uncached (for a bucket key, the write cached it already: compare below).
    await warm(a.s3, b1, k);
    assert.equal((await get(a.s3, b1, k, { Range: 'bytes=4-7' })).text, BODY(k).slice(4, 8));
    assert.equal((await get(a.s3, b1, k, { PartNumber: 1 })).text, BODY(k));
    for (const extra of [{}, { Range: 'bytes=0-3' }, { PartNumber: 1 }]) {
      await assertKmsDenied(b.s3.send(new GetObjectCommand({ Bucket: b1, Key: k, ...extra })), b.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    }
    const head = await b.s3.send(new HeadObjectCommand({ Bucket: b1, Key: k }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(head.SSEKMSKeyId, key);
    assert.equal(head.BucketKeyEnabled, kind.bucketKey ? true : undefined);
    // A is still served (B's refusal spoiled nothing).
    assert.equal((await get(a.s3, b1, k)).text, BODY(k));
  });

  test(`[${kind.name}] read (warm), then DisableKey: KMS.DisabledException as AWS; EnableKey serves again; ScheduleKeyDeletion: KMS.KMSInvalidStateException`, async () => {
    const key = await newKey();
    const a = await users.create(unique('state-a'), { s3: [s3On(b1)], kms: [kmsOn(DECRYPT_GDK, key)] });
    const k = unique('state');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    await warm(a.s3, b1, k);
    await warm(srv.s3, b1, k);
    await srv.kms.send(new DisableKeyCommand({ KeyId: key }));
    for (const s3 of [a.s3, srv.s3]) {
      assert.deepEqual(await answer(s3.send(new GetObjectCommand({ Bucket: b1, Key: k }))), ['KMS.DisabledException', 400, `${key} is disabled.`]);
    }
    assert.deepEqual(await answer(put(a.s3, b1, unique('state-put'), key, kind.bucketKey)), ['KMS.DisabledException', 400, `${key} is disabled.`]);
    await srv.kms.send(new EnableKeyCommand({ KeyId: key }));
    await warm(a.s3, b1, k);
    await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key, PendingWindowInDays: 7 }));
    assert.deepEqual(await answer(a.s3.send(new GetObjectCommand({ Bucket: b1, Key: k }))), ['KMS.KMSInvalidStateException', 400, `${key} is pending deletion.`]);
    assert.deepEqual(await answer(a.s3.send(new GetObjectCommand({ Bucket: b1, Key: k, Range: 'bytes=0-0' }))), ['KMS.KMSInvalidStateException', 400, `${key} is pending deletion.`]);
  });

  test(`[${kind.name}] read (warm) by a principal the key policy names, then PutKeyPolicy without it: the next GET is AccessDenied`, async () => {
    const a = await users.create(unique('kp-a'), { s3: [s3On(b1)] });
    const withA = keyPolicyWith(acct, { Sid: 'A', Effect: 'Allow', Principal: { AWS: a.arn }, Action: DECRYPT_GDK, Resource: '*' });
    const key = await newKey(withA);
    const k = unique('kp');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    await warm(a.s3, b1, k);
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: keyPolicyWith(acct) }));
    await assertKmsDenied(a.s3.send(new GetObjectCommand({ Bucket: b1, Key: k })), a.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: withA }));
    await warm(a.s3, b1, k);
  });

  test(`[${kind.name}] read (warm) through a grant, then RevokeGrant; through an identity policy, then delete it; then an access key deactivated: each refuses the next GET`, async () => {
    const key = await newKey();
    const g = await users.create(unique('grant'), { s3: [s3On(b1)] });
    const i = await users.create(unique('ident'), { s3: [s3On(b1)], kms: [kmsOn(DECRYPT_GDK, key)] });
    const k = unique('revoke');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    const { GrantId } = await srv.kms.send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: g.arn, Operations: ['Decrypt'] }));
    await warm(g.s3, b1, k);
    await warm(i.s3, b1, k);
    await srv.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId }));
    await assertKmsDenied(g.s3.send(new GetObjectCommand({ Bucket: b1, Key: k })), g.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await i.remove('kms');
    await assertKmsDenied(i.s3.send(new GetObjectCommand({ Bucket: b1, Key: k })), i.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await i.put('kms', kmsOn(DECRYPT_GDK, key));
    await warm(i.s3, b1, k);
    await iam.send(new UpdateAccessKeyCommand({ UserName: i.name, AccessKeyId: i.credentials.accessKeyId, Status: 'Inactive' }));
    const [code, status] = await answer(i.s3.send(new GetObjectCommand({ Bucket: b1, Key: k })));
    assert.deepEqual([code, status], ['InvalidAccessKeyId', 403]);
  });

  test(`[${kind.name}] a key policy condition on the encryption context (the object's or bucket's ARN) allows one bucket, warm, and still refuses the same key name in another`, async () => {
    const c = await users.create(unique('ec'), { s3: [s3On(b1), s3On(b2)] });
    const key = await newKey(keyPolicyWith(acct, {
      Sid: 'OnlyBucketOne', Effect: 'Allow', Principal: { AWS: c.arn }, Action: 'kms:Decrypt', Resource: '*',
      Condition: { StringLike: { 'kms:EncryptionContext:aws:s3:arn': [`arn:aws:s3:::${b1}`, `arn:aws:s3:::${b1}/*`] } },
    }));
    const k = unique('ec');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    await put(srv.s3, b2, k, key, kind.bucketKey);
    await warm(srv.s3, b2, k); // the root warms the other bucket's object too
    await warm(c.s3, b1, k);
    await assertKmsDenied(c.s3.send(new GetObjectCommand({ Bucket: b2, Key: k })), c.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    await warm(c.s3, b1, k);
  });

  test(`[${kind.name}] CopyObject and UploadPartCopy of a warm SSE-KMS source by a principal without kms:Decrypt on its key are AccessDenied`, async () => {
    const key = await newKey();
    const b = await users.create(unique('copier'), { s3: [s3On(b1), s3On(b2)] });
    const k = unique('src');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    await warm(srv.s3, b1, k);
    // The root's copy works (and warms whatever a copy warms).
    await srv.s3.send(new CopyObjectCommand({ Bucket: b2, Key: `${k}-root`, CopySource: `${b1}/${k}` }));
    await assertKmsDenied(b.s3.send(new CopyObjectCommand({ Bucket: b2, Key: `${k}-copy`, CopySource: `${b1}/${k}` })), b.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
    const up = await b.s3.send(new CreateMultipartUploadCommand({ Bucket: b2, Key: `${k}-mpu` }));
    await assertKmsDenied(b.s3.send(new UploadPartCopyCommand({ Bucket: b2, Key: `${k}-mpu`, UploadId: up.UploadId, PartNumber: 1, CopySource: `${b1}/${k}` })), b.arn, 'kms:Decrypt', key, NO_IDENTITY_ALLOW('kms:Decrypt'));
  });

  test(`[${kind.name}] the audit log: each read of a warm object is accounted for under its reader — one Decrypt per GET (none for an allowed bucket-key hit), one refusal per refused GET`, async () => {
    const key = await newKey();
    const a = await users.create(unique('audit-a'), { s3: [s3On(b1)], kms: [kmsOn(DECRYPT_GDK, key)] });
    const b = await users.create(unique('audit-b'), { s3: [s3On(b1)] });
    const k = unique('audit');
    await put(srv.s3, b1, k, key, kind.bucketKey);
    await warm(a.s3, b1, k);
    for (const extra of [{}, { Range: 'bytes=0-3' }, { PartNumber: 1 }, {}]) {
      const { requestId } = await get(a.s3, b1, k, extra);
      const events = await kmsEventsOf(srv, requestId);
      assert.deepEqual(events.map((e) => [e.eventName, e.userIdentity.arn, e.errorCode ?? 'ok', e.resources[0]?.ARN]), kind.bucketKey ? [] : [['Decrypt', a.arn, 'ok', key]]);
    }
    const e = await refusal(b.s3.send(new GetObjectCommand({ Bucket: b1, Key: k })));
    const events = await kmsEventsOf(srv, e.$metadata.requestId);
    assert.deepEqual(events.map((x) => [x.eventName, x.userIdentity.arn, x.errorCode, x.resources[0]?.ARN]), [['Decrypt', b.arn, 'AccessDeniedException', key]]);
  });
}
