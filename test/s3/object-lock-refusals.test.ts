// Object lock's refusals as one table (mode × who × operation), the write that would overwrite a
// null version locked while it was in flight, DeleteObject by version id with If-Match, and the
// lock headers of GET/HEAD that only callers allowed to read the lock see.
//
// The in-flight write: a PUT sent with Expect: 100-continue is answered 100 Continue once the
// server has authorized it; the server then reads the bucket (and so picks the version id the
// write will get) before the next I/O event, so when the client sees the 100 the PUT is bound to
// the null version of a Suspended (or never versioned) bucket. The test then enables versioning and
// object lock, locks that null version, and only then sends the body: the commit must refuse.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand,
  PutBucketVersioningCommand, PutObjectCommand, PutObjectLegalHoldCommand, PutObjectLockConfigurationCommand, PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory, type TestUser } from '../helpers/sse-principals.js';
import { openHeldRequest, type HeldRequest } from '../interop/support.js';

const DAY = 86_400_000;
const PROTECTED = 'Access Denied because object protected by object lock.';
let clock = Date.now();
let srv: TestServer;
let s3: S3Client;
let users: ReturnType<typeof userFactory>;
let bypasser: TestUser;
let plain: TestUser;
const bucket = uniqueBucket('lockrefuse');

before(async () => {
  srv = await startTestServer({}, { now: () => clock });
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  users = userFactory(srv);
  const everywhere = ['arn:aws:s3:::*', 'arn:aws:s3:::*/*'];
  bypasser = await users.create('refuse-bypasser', { s3: [{ Effect: 'Allow', Action: 's3:*', Resource: everywhere }] });
  // Every S3 action but the bypass: no statement allows it, none denies it.
  plain = await users.create('refuse-plain', { s3: [{ Effect: 'Allow', NotAction: 's3:BypassGovernanceRetention', Resource: everywhere }] });
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

const future = (days: number) => new Date(clock + days * DAY);
let n = 0;

type Who = 'root' | 'user with bypass' | 'user without bypass';
const WHO: Who[] = ['root', 'user with bypass', 'user without bypass'];
const clientOf = (who: Who) => (who === 'root' ? s3 : who === 'user with bypass' ? bypasser.s3 : plain.s3);
const credentialsOf = (who: Who) => (who === 'root' ? undefined : who === 'user with bypass' ? bypasser.credentials : plain.credentials);

type Mode = 'GOVERNANCE' | 'COMPLIANCE' | 'LEGAL_HOLD';
const lockHeaders = (mode: Mode) =>
  mode === 'LEGAL_HOLD' ? { ObjectLockLegalHoldStatus: 'ON' as const } : { ObjectLockMode: mode, ObjectLockRetainUntilDate: future(10) };

/** A PUT the server has accepted and bound to a version, whose body is held until send(). */
async function heldPut(b: string, key: string, body: string, who: Who = 'root', headers: Record<string, string> = {}): Promise<HeldRequest> {
  const credentials = credentialsOf(who);
  return openHeldRequest({ method: 'PUT', url: srv.url, path: `/${b}/${key}`, body: Buffer.from(body), ...(credentials ? { credentials } : {}), headers });
}

/**
 * A bucket whose key "k" has a null version ("original") and a PUT of "k" in flight, bound to
 * the null version; then versioning and object lock are enabled and the null version is locked.
 */
async function lockedUnderInflightPut(mode: Mode, who: Who, start: 'Suspended' | 'never versioned', headers: Record<string, string> = {}) {
  const b = uniqueBucket('lockrace');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  if (start === 'Suspended') {
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'an older version' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  }
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'original' }));
  const put = await heldPut(b, 'k', 'overwrite', who, headers);
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
  if (mode === 'LEGAL_HOLD') await s3.send(new PutObjectLegalHoldCommand({ Bucket: b, Key: 'k', VersionId: 'null', LegalHold: { Status: 'ON' } }));
  else await s3.send(new PutObjectRetentionCommand({ Bucket: b, Key: 'k', VersionId: 'null', Retention: { Mode: mode, RetainUntilDate: future(10) } }));
  return { b, put };
}

async function nullVersionBytes(b: string): Promise<string> {
  const got = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' }));
  return got.Body!.transformToString();
}

test('a PUT begun while the bucket was Suspended or never versioned does not overwrite the null version locked while it was in flight', async () => {
  for (const start of ['Suspended', 'never versioned'] as const) {
    for (const mode of ['LEGAL_HOLD', 'COMPLIANCE'] as const) {
      const { b, put } = await lockedUnderInflightPut(mode, 'root', start);
      const r = await put.send();
      const label = `${start} × ${mode}`;
      assert.equal(r.status, 403, `${label}: ${r.body}`);
      assert.match(r.body, /<Code>AccessDenied<\/Code>/, label);
      assert.ok(r.body.includes(`<Message>${PROTECTED}</Message>`), `${label}: ${r.body}`);
      assert.equal(await nullVersionBytes(b), 'original', label);
      const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
      assert.deepEqual(versions.Versions?.filter((v) => v.IsLatest).map((v) => v.VersionId), ['null'], `${label}: the null version stays current`);
    }
  }
});

type Op = 'DeleteObject by id' | 'DeleteObjects' | 'PutObjectRetention shorten' | 'PutObjectRetention lengthen' | 'PutObjectLegalHold OFF' | 'overwrite of null version';
const ALL = { root: true, 'user with bypass': true, 'user without bypass': true };
const NONE = { root: false, 'user with bypass': false, 'user without bypass': false };
const BYPASS = { root: true, 'user with bypass': true, 'user without bypass': false };
/** Every operation is sent with x-amz-bypass-governance-retention: true. */
const ALLOWED: Record<Mode, Partial<Record<Op, Record<Who, boolean>>>> = {
  GOVERNANCE: {
    'DeleteObject by id': BYPASS, DeleteObjects: BYPASS, 'PutObjectRetention shorten': BYPASS, 'PutObjectRetention lengthen': ALL, 'overwrite of null version': BYPASS,
  },
  COMPLIANCE: {
    'DeleteObject by id': NONE, DeleteObjects: NONE, 'PutObjectRetention shorten': NONE, 'PutObjectRetention lengthen': ALL, 'overwrite of null version': NONE,
  },
  // A legal hold is never bypassed; whoever may s3:PutObjectLegalHold removes it.
  LEGAL_HOLD: { 'DeleteObject by id': NONE, DeleteObjects: NONE, 'PutObjectLegalHold OFF': ALL, 'overwrite of null version': NONE },
};

/** Runs one cell: resolves true when the operation was allowed, false when refused as object lock refuses. */
async function attempt(mode: Mode, who: Who, op: Op): Promise<boolean> {
  const c = clientOf(who);
  const refusedByLock = (e: { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.$metadata?.httpStatusCode, 403, `${e.name}: ${e.message}`);
    assert.equal(e.name, 'AccessDenied');
    assert.equal(e.message, PROTECTED);
    return false;
  };
  if (op === 'overwrite of null version') {
    const { b, put } = await lockedUnderInflightPut(mode, who, 'Suspended', { 'x-amz-bypass-governance-retention': 'true' });
    const r = await put.send();
    if (r.status === 200) {
      assert.equal(await nullVersionBytes(b), 'overwrite');
      return true;
    }
    assert.equal(r.status, 403, r.body);
    assert.ok(r.body.includes(`<Message>${PROTECTED}</Message>`), r.body);
    assert.equal(await nullVersionBytes(b), 'original');
    return false;
  }
  const key = `t${n++}`;
  const { VersionId } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'locked bytes', ...lockHeaders(mode) }));
  const where = { Bucket: bucket, Key: key, VersionId };
  switch (op) {
    case 'DeleteObject by id':
      return c.send(new DeleteObjectCommand({ ...where, BypassGovernanceRetention: true })).then(() => true, refusedByLock);
    case 'DeleteObjects': {
      const r = await c.send(new DeleteObjectsCommand({ Bucket: bucket, BypassGovernanceRetention: true, Delete: { Objects: [{ Key: key, VersionId }] } }));
      if (r.Errors?.length) {
        assert.deepEqual(r.Errors.map((e) => [e.Code, e.Message, e.VersionId]), [['AccessDenied', PROTECTED, VersionId]]);
        return false;
      }
      assert.deepEqual(r.Deleted?.map((d) => d.VersionId), [VersionId]);
      return true;
    }
    case 'PutObjectRetention shorten':
    case 'PutObjectRetention lengthen': {
      const days = op === 'PutObjectRetention shorten' ? 1 : 20;
      const Retention = { Mode: mode as 'GOVERNANCE' | 'COMPLIANCE', RetainUntilDate: future(days) };
      return c.send(new PutObjectRetentionCommand({ ...where, BypassGovernanceRetention: true, Retention })).then(() => true, refusedByLock);
    }
    case 'PutObjectLegalHold OFF':
      return c.send(new PutObjectLegalHoldCommand({ ...where, LegalHold: { Status: 'OFF' } })).then(() => true, refusedByLock);
  }
}

test('object lock refusals: mode × who × operation, every request with x-amz-bypass-governance-retention: true', async () => {
  for (const [mode, ops] of Object.entries(ALLOWED) as [Mode, (typeof ALLOWED)[Mode]][]) {
    for (const [op, table] of Object.entries(ops) as [Op, Record<Who, boolean>][]) {
      for (const who of WHO) {
        const label = `${mode} × ${who} × ${op}`;
        const allowed = await attempt(mode, who, op).catch((e: Error) => assert.fail(`${label}: ${e.name}: ${e.message}`));
        assert.equal(allowed, table[who], `${label}: ${allowed ? 'allowed' : 'refused'}, expected ${table[who] ? 'allowed' : 'refused'}`);
      }
    }
  }
});

test('without the bypass header an overwrite of a GOVERNANCE-locked null version is refused, even for the root', async () => {
  const { b, put } = await lockedUnderInflightPut('GOVERNANCE', 'root', 'Suspended');
  const r = await put.send();
  assert.equal(r.status, 403, r.body);
  assert.equal(await nullVersionBytes(b), 'original');
});

test('DeleteObject and DeleteObjects naming a version evaluate If-Match / <ETag> against the current version, in the removing transaction', async () => {
  const b = uniqueBucket('vcond');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const v1 = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'one' }));
  const v2 = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'two' }));
  const exists = async (versionId: string) => s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', VersionId: versionId })).then(() => true, () => false);

  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1.VersionId, IfMatch: '"0123456789abcdef0123456789abcdef"' })), 412, 'PreconditionFailed');
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1.VersionId, IfMatch: v1.ETag })), 412, 'PreconditionFailed');
  assert.equal(await exists(v1.VersionId!), true, 'a failed condition removes nothing');
  const multi = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'k', VersionId: v1.VersionId, ETag: v1.ETag }] } }));
  assert.deepEqual(multi.Errors?.map((e) => [e.Code, e.VersionId]), [['PreconditionFailed', v1.VersionId]]);
  assert.equal(await exists(v1.VersionId!), true);

  // The current version's ETag lets a noncurrent version go.
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v1.VersionId, IfMatch: v2.ETag }));
  assert.equal(await exists(v1.VersionId!), false);

  // Behind a delete marker there is no current object: 404 NoSuchKey, whatever the ETag.
  const marker = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await assertFails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v2.VersionId, IfMatch: '*' })), 404, 'NoSuchKey');
  const behind = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'k', VersionId: v2.VersionId, ETag: v2.ETag }] } }));
  assert.deepEqual(behind.Errors?.map((e) => e.Code), ['NoSuchKey']);
  assert.equal(await exists(v2.VersionId!), true);

  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: marker.VersionId }));
  const ok = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'k', VersionId: v2.VersionId, ETag: v2.ETag }] } }));
  assert.deepEqual(ok.Deleted?.map((d) => d.VersionId), [v2.VersionId]);
  assert.equal(await exists(v2.VersionId!), false);
});

test('GET and HEAD send the retention only to callers allowed s3:GetObjectRetention, the legal hold only to those allowed s3:GetObjectLegalHold', async () => {
  const until = future(5);
  const { VersionId } = await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: 'visible', Body: 'x', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'ON',
  }));
  const reader = await users.create('lock-reader', {
    s3: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: `arn:aws:s3:::${bucket}/*` }],
  });
  const seen = async () => {
    const out: string[][] = [];
    for (const r of [
      await reader.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'visible' })),
      await reader.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'visible', VersionId })),
    ]) out.push([r.ObjectLockMode ?? '-', String(r.ObjectLockRetainUntilDate?.getTime() ?? '-'), r.ObjectLockLegalHoldStatus ?? '-']);
    return out;
  };
  assert.deepEqual(await seen(), [['-', '-', '-'], ['-', '-', '-']]);
  await reader.put('retention', { Effect: 'Allow', Action: 's3:GetObjectRetention', Resource: `arn:aws:s3:::${bucket}/*` });
  const withRetention = ['GOVERNANCE', String(until.getTime()), '-'];
  assert.deepEqual(await seen(), [withRetention, withRetention]);
  await reader.put('hold', { Effect: 'Allow', Action: 's3:GetObjectLegalHold', Resource: `arn:aws:s3:::${bucket}/*` });
  const all = ['GOVERNANCE', String(until.getTime()), 'ON'];
  assert.deepEqual(await seen(), [all, all]);
  await reader.remove('retention');
  assert.deepEqual(await seen(), [['-', '-', 'ON'], ['-', '-', 'ON']]);
});
