// POST /_coffer/api/objects/rewrap, one object at a time, against the real server: the
// envelope's key id and KMS blob change and nothing else in the record does; a version
// other than the one the caller listed (expectedETag) or an overwrite that lands
// between the route's read and its commit wins and is reported as `changed`; a bucket
// policy that pins the KMS key of writes also pins re-wraps, one that denies reading
// objects by their tags refuses re-wrapping them; bad bodies and the
// preflight (check: true). Object lock: a locked version answers skipped "object-lock" (or,
// for GOVERNANCE with bypassGovernanceRetention and no s3:BypassGovernanceRetention, S3's
// AccessDenied), and a retention set between the read and the commit refuses the commit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutBucketPolicyCommand, PutObjectCommand, PutObjectRetentionCommand } from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand } from '@aws-sdk/client-kms';
import { auditEvents, s3On, kmsOn, userFactory } from '../helpers/sse-principals.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { decodeEnvelope } from '../../src/crypto/index.js';
import { rewrapObject, type RewrapDeps } from '../../src/s3/rewrap/rewrap-object.js';
import type { Caller } from '../../src/kms/service.js';
import { InProcessKms } from '../../src/kms/port.js';
import type { MetadataStore } from '../../src/storage/types.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { join } from 'node:path';
import type { StoredSse } from '../../src/s3/sse/object-keys.js';

let srv: TestServer;
/** A second connection to the server's metadata database (the server's own is not exposed). */
let meta: SqliteMetadataStore;
let keyA: string;
let keyB: string;
const bucket = uniqueBucket('rewrap');

async function put(key: string, body: string, keyId = keyA) {
  return srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
}

async function text(key: string): Promise<string> {
  return (await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
}

const rewrap = (body: Record<string, unknown>) => adminCall(srv, 'POST', 'objects/rewrap', { body });

before(async () => {
  srv = await startTestServer();
  keyA = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  keyB = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/route-b', TargetKeyId: keyB }));
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  meta = SqliteMetadataStore.open(join(srv.dataDir, 'metadata.sqlite'));
});

after(async () => {
  await meta.close();
  await srv.stop();
});

test('only the key id and the KMS blob of the envelope change; the record is otherwise the same', async () => {
  await put('one', 'hello rewrap');
  const before = (await meta.getObject(bucket, 'one'))!;
  const r = await rewrap({ bucket, key: 'one', toKeyId: 'alias/route-b' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { status: 'rewrapped', keyId: keyB, previousKeyId: keyA, size: 12 });
  const afterRec = (await meta.getObject(bucket, 'one'))!;
  const [e1, e2] = [before, afterRec].map((rec) => decodeEnvelope(Buffer.from((rec.sys.sse as StoredSse).env, 'base64')));
  assert.equal(e2!.keyId, keyB);
  assert.deepEqual(e2!.objectId, e1!.objectId, 'same object id: same object key derivation');
  assert.deepEqual(e2!.context, e1!.context);
  assert.notDeepEqual(e2!.wrappedKey, e1!.wrappedKey);
  assert.deepEqual({ ...afterRec, sys: {} }, { ...before, sys: {} }, 'ETag, size, parts, last-modified and metadata unchanged');
  assert.equal(await text('one'), 'hello rewrap');
  assert.deepEqual((await rewrap({ bucket, key: 'one', toKeyId: keyB })).body, { status: 'unchanged', keyId: keyB, size: 12 });
});

test('a version other than the one listed is left alone: changed', async () => {
  const v1 = await put('etag', 'first');
  await put('etag', 'second');
  const r = await rewrap({ bucket, key: 'etag', toKeyId: keyB, expectedETag: v1.ETag });
  assert.deepEqual(r.body, { status: 'changed', size: 6 });
  assert.equal((await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'etag' }))).SSEKMSKeyId, keyA);
});

test('an overwrite between the read and the commit wins over the re-wrap', async () => {
  await put('race', 'old version');
  // The real store, with a PUT of a new version landing right after the re-wrap read the record.
  const racing: MetadataStore = Object.create(meta, {
    getObject: {
      value: async (b: string, k: string) => {
        const rec = await meta.getObject(b, k);
        await put('race', 'new version');
        return rec;
      },
    },
  });
  const deps: RewrapDeps = {
    meta: racing, kms: new InProcessKms(srv.coffer.kms), rootKey: srv.coffer.rootKey, region: 'us-east-1', log: srv.coffer.log, accountId: srv.coffer.root.accountId,
    identityPolicies: async () => [], sessionPolicy: () => undefined, now: () => Date.now(),
  };
  const root = { kind: 'root', arn: `arn:aws:iam::${srv.coffer.root.accountId}:root`, accountId: srv.coffer.root.accountId, userName: 'root' } as const;
  const caller: Caller = { principal: root, requestId: 'test-race', secureTransport: false };
  assert.deepEqual(await rewrapObject(deps, caller, { bucket, key: 'race', toKeyId: keyB }), { status: 'changed', size: 11 });
  assert.equal(await text('race'), 'new version');
  assert.equal((await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'race' }))).SSEKMSKeyId, keyA, 'the new version keeps the key it was written with');
});

test('a retention set between the read and the commit refuses the commit: skipped object-lock, the version keeps its key', async () => {
  const locked = uniqueBucket('rewrap-lock');
  await srv.s3.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
  const v = await srv.s3.send(new PutObjectCommand({ Bucket: locked, Key: 'race', Body: 'unlocked when read', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
  // The real store, with a COMPLIANCE retention (PutObjectRetention, its own write) landing right after the re-wrap read the version.
  const racing: MetadataStore = Object.create(meta, {
    getObjectVersion: {
      value: async (b: string, k: string, id: string) => {
        const rec = await meta.getObjectVersion(b, k, id);
        await srv.s3.send(new PutObjectRetentionCommand({
          Bucket: locked, Key: 'race', VersionId: v.VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 86_400_000) },
        }));
        return rec;
      },
    },
  });
  const deps: RewrapDeps = {
    meta: racing, kms: new InProcessKms(srv.coffer.kms), rootKey: srv.coffer.rootKey, region: 'us-east-1', log: srv.coffer.log, accountId: srv.coffer.root.accountId,
    identityPolicies: async () => [], sessionPolicy: () => undefined, now: () => Date.now(),
  };
  const root = { kind: 'root', arn: `arn:aws:iam::${srv.coffer.root.accountId}:root`, accountId: srv.coffer.root.accountId, userName: 'root' } as const;
  const caller: Caller = { principal: root, requestId: 'test-lock-race', secureTransport: false };
  assert.deepEqual(await rewrapObject(deps, caller, { bucket: locked, key: 'race', versionId: v.VersionId!, toKeyId: keyB }), { status: 'skipped', reason: 'object-lock', size: 18 });
  const h = await srv.s3.send(new HeadObjectCommand({ Bucket: locked, Key: 'race', VersionId: v.VersionId }));
  assert.deepEqual([h.SSEKMSKeyId, h.ObjectLockMode], [keyA, 'COMPLIANCE']);
});

test('object lock on the wire: skipped object-lock, GOVERNANCE only with bypassGovernanceRetention, a non-boolean flag refused', async () => {
  const locked = uniqueBucket('rewrap-gov');
  await srv.s3.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
  const until = new Date(Date.now() + 86_400_000);
  const gov = await srv.s3.send(new PutObjectCommand({
    Bucket: locked, Key: 'gov', Body: 'governed', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA, ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until,
  }));
  const req = { bucket: locked, key: 'gov', versionId: gov.VersionId, toKeyId: keyB };
  assert.deepEqual((await rewrap(req)).body, { status: 'skipped', reason: 'object-lock', size: 8 });
  const users = userFactory(srv);
  try {
    // Everything a re-wrap needs, but not s3:BypassGovernanceRetention: S3's answer to a delete with the bypass header.
    const noBypass = await users.create('rewrap-no-bypass', {
      s3: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], Resource: `arn:aws:s3:::${locked}/*` }],
      kms: [kmsOn(['kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:DescribeKey'])],
    });
    const denied = await adminCall(srv, 'POST', 'objects/rewrap', { body: { ...req, bypassGovernanceRetention: true }, credentials: noBypass.credentials });
    assert.deepEqual([denied.status, denied.body.__type, denied.body.message], [403, 'AccessDenied', 'Access Denied because object protected by object lock.']);
    // Without the flag the same user is skipped, not refused.
    assert.deepEqual((await adminCall(srv, 'POST', 'objects/rewrap', { body: req, credentials: noBypass.credentials })).body, { status: 'skipped', reason: 'object-lock', size: 8 });
  } finally {
    users.destroy();
  }
  const bad = await rewrap({ ...req, bypassGovernanceRetention: 'yes' });
  assert.deepEqual([bad.status, bad.body.__type, bad.body.message], [400, 'ValidationException', 'bypassGovernanceRetention must be true or false.']);
  assert.equal((await srv.s3.send(new HeadObjectCommand({ Bucket: locked, Key: 'gov', VersionId: gov.VersionId }))).SSEKMSKeyId, keyA);
  // The root is allowed everything: with the flag, re-wrapped; the retention stays.
  assert.deepEqual((await rewrap({ ...req, bypassGovernanceRetention: true })).body, { status: 'rewrapped', keyId: keyB, previousKeyId: keyA, size: 8 });
  const h = await srv.s3.send(new HeadObjectCommand({ Bucket: locked, Key: 'gov', VersionId: gov.VersionId }));
  assert.deepEqual([h.SSEKMSKeyId, h.ObjectLockMode, Math.abs(h.ObjectLockRetainUntilDate!.getTime() - until.getTime()) < 1000], [keyB, 'GOVERNANCE', true]);
});

test('a bucket policy that pins the KMS key of writes refuses a re-wrap to another key', async () => {
  const pinned = uniqueBucket('rewrap-pinned');
  await srv.s3.send(new CreateBucketCommand({ Bucket: pinned }));
  await srv.s3.send(new PutObjectCommand({ Bucket: pinned, Key: 'k', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: pinned,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{
        Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${pinned}/*`,
        Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': keyA } },
      }],
    }),
  }));
  const r = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: pinned, key: 'k', toKeyId: keyB } });
  assert.equal(r.status, 403);
  assert.equal(r.body.__type, 'AccessDenied');
  assert.match(String(r.body.message), /s3:PutObject .*explicit deny in a resource-based policy/);
});

test('a re-wrap is decided with its request\'s signing facts: a SigV4-only bucket policy lets it through, a presigned-only one refuses it', async () => {
  const b = uniqueBucket('rewrap-sigv4');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
  const denyUnless = (key: string, value: string) => srv.s3.send(new PutBucketPolicyCommand({
    Bucket: b,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`], Condition: { StringNotEquals: { [key]: value } } }],
    }),
  }));
  // AWS's "SigV4 only" policy: the re-wrap request is signed with SigV4 in its Authorization header.
  await denyUnless('s3:signatureversion', 'AWS4-HMAC-SHA256');
  const r = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: b, key: 'k', toKeyId: keyB } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'rewrapped');
  // Presigned URLs only: a header-signed re-wrap is refused, as a header-signed PutObject is.
  await denyUnless('s3:authType', 'REST-QUERY-STRING');
  const refused = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: b, key: 'k', toKeyId: keyA } });
  assert.equal(refused.status, 403);
  assert.match(String(refused.body.message), /explicit deny in a resource-based policy/);
});

test('a re-wrap reads the object as s3:GetObject does: a deny on its existing tags refuses it, and only for the tagged object', async () => {
  const held = uniqueBucket('rewrap-held');
  await srv.s3.send(new CreateBucketCommand({ Bucket: held }));
  for (const [k, tagging] of [['held', 'hold=yes'], ['free', 'hold=no']]) {
    await srv.s3.send(new PutObjectCommand({ Bucket: held, Key: k, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA, Tagging: tagging }));
  }
  await srv.s3.send(new PutBucketPolicyCommand({
    Bucket: held,
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{
        Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${held}/*`,
        Condition: { StringEquals: { 's3:ExistingObjectTag/hold': 'yes' } },
      }],
    }),
  }));
  const refused = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: held, key: 'held', toKeyId: keyB } });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.message, `User: arn:aws:iam::${srv.coffer.root.accountId}:root is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::${held}/held" with an explicit deny in a resource-based policy`);
  const allowed = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: held, key: 'free', toKeyId: keyB } });
  assert.deepEqual(allowed.body, { status: 'rewrapped', keyId: keyB, previousKeyId: keyA, size: 1 });
});

test('an object under the AWS managed aws/s3 key moves with no KMS permission on aws/s3: its key policy allows use via S3', async () => {
  const users = userFactory(srv);
  try {
    await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'managed', Body: 'default key', ServerSideEncryption: 'aws:kms' }));
    const managed = (await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'managed' }))).SSEKMSKeyId!;
    assert.notEqual(managed, keyA);
    const u = await users.create('rewrap-managed', { s3: [s3On(bucket)], kms: [kmsOn('kms:ReEncryptTo', keyB)] });
    const r = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket, key: 'managed', toKeyId: keyB }, credentials: u.credentials });
    assert.deepEqual(r.body, { status: 'rewrapped', keyId: keyB, previousKeyId: managed, size: 11 });
    assert.equal(await text('managed'), 'default key');
    // Nothing in the user's policies names aws/s3: only its key policy's "via S3" statement allowed kms:ReEncryptFrom.
    const from = (await auditEvents(srv)).filter((e) => e.eventName === 'ReEncrypt' && e.userIdentity.arn === u.arn);
    assert.deepEqual(from.map((e) => [e.userIdentity.invokedBy, e.errorCode]), [['s3.amazonaws.com', undefined]]);
  } finally {
    users.destroy();
  }
});

test('preflight, missing objects and bad bodies', async () => {
  assert.deepEqual((await rewrap({ check: true, toKeyId: 'alias/route-b' })).body, { toKeyId: keyB });
  assert.deepEqual((await rewrap({ check: true, toKeyId: 'alias/route-b', fromKeyId: keyA })).body, { toKeyId: keyB, fromKeyId: keyA });
  const missing = await rewrap({ check: true, toKeyId: 'alias/none' });
  assert.equal(missing.body.__type, 'NotFoundException');
  const disabled = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await srv.kms.send(new DisableKeyCommand({ KeyId: disabled }));
  assert.equal((await rewrap({ check: true, toKeyId: disabled })).body.__type, 'DisabledException');
  const noKey = await rewrap({ bucket, key: 'absent', toKeyId: keyB });
  assert.deepEqual([noKey.status, noKey.body.__type], [404, 'NoSuchKey']);
  const noBucket = await rewrap({ bucket: 'absent-bucket-rewrap', key: 'k', toKeyId: keyB });
  assert.deepEqual([noBucket.status, noBucket.body.__type], [404, 'NoSuchBucket']);
  const bad = await rewrap({ bucket, toKeyId: keyB });
  assert.deepEqual([bad.status, bad.body.__type, bad.body.message], [400, 'ValidationException', 'key is required.']);
  const wrongType = await rewrap({ bucket, key: 'one', toKeyId: 42 });
  assert.deepEqual([wrongType.status, wrongType.body.message], [400, 'toKeyId must be a non-empty string.']);
});

test('preflight is authorized as kms:DescribeKey: without it, a missing alias and an existing key answer alike', async () => {
  const users = userFactory(srv);
  try {
    const disabled = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    await srv.kms.send(new DisableKeyCommand({ KeyId: disabled }));
    const absentKey = `arn:aws:kms:us-east-1:${srv.coffer.root.accountId}:key/00000000-0000-4000-8000-000000000000`;
    // May re-wrap (ReEncrypt, Encrypt) with every key, but not describe any.
    const blind = await users.create('rewrap-blind', { s3: [s3On(bucket)], kms: [kmsOn(['kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:Encrypt'])] });
    const check = (who: { accessKeyId: string; secretAccessKey: string }, toKeyId: string, fromKeyId?: string) =>
      adminCall(srv, 'POST', 'objects/rewrap', { body: { check: true, toKeyId, ...(fromKeyId ? { fromKeyId } : {}) }, credentials: who });
    const answers = [];
    for (const ref of ['alias/route-b', 'alias/none', keyB, absentKey, disabled]) {
      const r = await check(blind.credentials, ref);
      answers.push({ status: r.status, type: r.body.__type, message: String(r.body.message).replace(ref, 'REF') });
    }
    for (const a of answers) assert.deepEqual(a, { status: 400, type: 'AccessDeniedException', message: `User: ${blind.arn} is not authorized to perform: kms:DescribeKey on REF` });
    assert.ok(!answers.some((a) => a.message.includes(keyB)), 'the key an alias points at is not named');
    // The source key is checked the same way.
    const from = await check(blind.credentials, keyB, 'alias/none');
    assert.equal(from.body.__type, 'AccessDeniedException');

    // DescribeKey on key B only: B answers (by alias too); a missing alias could be any key, so it stays a denial.
    const narrow = await users.create('rewrap-describe-b', { kms: [kmsOn('kms:DescribeKey', keyB)] });
    assert.deepEqual((await check(narrow.credentials, 'alias/route-b')).body, { toKeyId: keyB });
    assert.equal((await check(narrow.credentials, 'alias/none')).body.__type, 'AccessDeniedException');
    assert.equal((await check(narrow.credentials, keyB, keyA)).body.__type, 'AccessDeniedException');
    // DescribeKey on every key: the full answers, as for the root.
    const wide = await users.create('rewrap-describe-all', { kms: [kmsOn('kms:DescribeKey')] });
    assert.equal((await check(wide.credentials, 'alias/none')).body.__type, 'NotFoundException');
    assert.equal((await check(wide.credentials, disabled)).body.__type, 'DisabledException');
    assert.deepEqual((await check(wide.credentials, 'alias/route-b', keyA)).body, { toKeyId: keyB, fromKeyId: keyA });

    // Each check is a DescribeKey in the audit log under the caller, via S3.
    const described = (await auditEvents(srv)).filter((e) => e.eventName === 'DescribeKey' && e.userIdentity.arn === blind.arn);
    assert.ok(described.length >= 5, JSON.stringify(described.length));
    assert.ok(described.every((e) => e.userIdentity.invokedBy === 's3.amazonaws.com'));
  } finally {
    users.destroy();
  }
});
