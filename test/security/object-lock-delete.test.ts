// Deleting locked versions, as an attacker would try it: DeleteObjects quiet and verbose (per-key
// AccessDenied, as AWS answers), removing the delete marker above a locked version (allowed; the
// version stays), DeleteBucket with locked versions inside (BucketNotEmpty), and a DeleteObjects
// whose body is held while object lock is turned on and the version locked (object-lock-held.ts):
// the delete commits after the lock, so the lock must hold.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectVersionsCommand,
  PutBucketVersioningCommand, PutObjectCommand, PutObjectLegalHoldCommand, PutObjectLockConfigurationCommand, PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { heldRequest } from './object-lock-held.js';

const DAY = 86_400_000;
const PROTECTED = 'Access Denied because object protected by object lock.';
let clock = Date.now();
let srv: TestServer;
let s3: S3Client;

before(async () => {
  srv = await startTestServer({}, { now: () => clock });
  s3 = srv.s3;
});
after(async () => srv?.stop());

type Lock = 'COMPLIANCE' | 'GOVERNANCE' | 'LEGAL_HOLD';
const LOCKS: Lock[] = ['COMPLIANCE', 'GOVERNANCE', 'LEGAL_HOLD'];
const future = (days: number) => new Date(clock + days * DAY);
const lockHeaders = (l: Lock) =>
  l === 'LEGAL_HOLD' ? { ObjectLockLegalHoldStatus: 'ON' as const } : { ObjectLockMode: l, ObjectLockRetainUntilDate: future(10) };

async function lockedBucket(): Promise<string> {
  const b = uniqueBucket('lockdel');
  await s3.send(new CreateBucketCommand({ Bucket: b, ObjectLockEnabledForBucket: true }));
  return b;
}

async function lockVersion(b: string, key: string, versionId: string, l: Lock): Promise<void> {
  if (l === 'LEGAL_HOLD') await s3.send(new PutObjectLegalHoldCommand({ Bucket: b, Key: key, VersionId: versionId, LegalHold: { Status: 'ON' } }));
  else await s3.send(new PutObjectRetentionCommand({ Bucket: b, Key: key, VersionId: versionId, Retention: { Mode: l, RetainUntilDate: future(10) } }));
}

async function bytesOf(b: string, key: string, versionId: string): Promise<string> {
  return (await s3.send(new GetObjectCommand({ Bucket: b, Key: key, VersionId: versionId }))).Body!.transformToString();
}

const deleteXml = (entries: { key: string; versionId?: string }[], quiet = false) =>
  `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${quiet ? '<Quiet>true</Quiet>' : ''}` +
  entries.map((e) => `<Object><Key>${e.key}</Key>${e.versionId !== undefined ? `<VersionId>${e.versionId}</VersionId>` : ''}</Object>`).join('') +
  '</Delete>';

test('DeleteObjects, quiet and verbose: each locked version is an <Error> AccessDenied entry with its VersionId; the unlocked one beside it goes', async () => {
  const b = await lockedBucket();
  for (const quiet of [false, true]) {
    for (const l of LOCKS) {
      const label = `${quiet ? 'quiet' : 'verbose'} × ${l}`;
      const locked = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'locked', Body: 'kept', ChecksumAlgorithm: 'CRC32', ...lockHeaders(l) }));
      const free = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'free', Body: 'gone' }));
      const r = await s3.send(new DeleteObjectsCommand({
        Bucket: b, Delete: { Quiet: quiet, Objects: [{ Key: 'locked', VersionId: locked.VersionId }, { Key: 'free', VersionId: free.VersionId }] },
      }));
      assert.deepEqual(r.Errors?.map((e) => [e.Key, e.VersionId, e.Code, e.Message]), [['locked', locked.VersionId, 'AccessDenied', PROTECTED]], label);
      assert.deepEqual(r.Deleted?.map((d) => [d.Key, d.VersionId]) ?? [], quiet ? [] : [['free', free.VersionId]], label);
      assert.equal(await bytesOf(b, 'locked', locked.VersionId!), 'kept', label);
      await assertFails(s3.send(new GetObjectCommand({ Bucket: b, Key: 'free', VersionId: free.VersionId })), 404, 'NoSuchVersion');
    }
  }
});

test('removing the delete marker above a locked version is allowed (it is no version of the object) and the version is current again, whole', async () => {
  const b = await lockedBucket();
  for (const l of LOCKS) {
    const v = await s3.send(new PutObjectCommand({ Bucket: b, Key: l, Body: `locked ${l}`, ChecksumAlgorithm: 'CRC32', ...lockHeaders(l) }));
    const marker = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: l }));
    assert.equal(marker.DeleteMarker, true, l);
    const removed = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: l, VersionId: marker.VersionId }));
    assert.equal(removed.DeleteMarker, true, l);
    const current = await s3.send(new GetObjectCommand({ Bucket: b, Key: l }));
    assert.equal(current.VersionId, v.VersionId, l);
    assert.equal(await current.Body!.transformToString(), `locked ${l}`, l);
    await assertFails(s3.send(new DeleteObjectCommand({ Bucket: b, Key: l, VersionId: v.VersionId })), 403, 'AccessDenied', PROTECTED);
  }
});

test('DeleteBucket with locked versions inside (behind a delete marker too) is 409 BucketNotEmpty and removes nothing', async () => {
  const b = await lockedBucket();
  const v = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'kept', ChecksumAlgorithm: 'CRC32', ...lockHeaders('COMPLIANCE') }));
  await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
  await assertFails(s3.send(new DeleteBucketCommand({ Bucket: b })), 409, 'BucketNotEmpty');
  assert.equal(await bytesOf(b, 'k', v.VersionId!), 'kept');
});

test('a DeleteObjects naming a version, begun before object lock was turned on, does not remove the version locked before it commits', async () => {
  for (const l of LOCKS) {
    const b = uniqueBucket('lockdelrace');
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    const v = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'kept' }));
    const del = await heldRequest(srv, { method: 'POST', bucket: b, query: { delete: '' }, body: deleteXml([{ key: 'k', versionId: v.VersionId! }]) });
    await s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
    await lockVersion(b, 'k', v.VersionId!, l);
    const r = await del.send();
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, new RegExp(`<Error><Key>k</Key><VersionId>${v.VersionId}</VersionId><Code>AccessDenied</Code><Message>${PROTECTED}</Message></Error>`), `${l}: ${r.body}`);
    assert.equal(await bytesOf(b, 'k', v.VersionId!), 'kept', l);
  }
});

test('a DeleteObjects begun while the bucket was never versioned or Suspended does not remove (or cover with the null marker) the null version locked before it commits', async () => {
  for (const [start, l] of (['never versioned', 'Suspended'] as const).flatMap((st) => LOCKS.map((x) => [st, x] as const))) {
    const b = uniqueBucket('lockdelrace');
    await s3.send(new CreateBucketCommand({ Bucket: b }));
    if (start === 'Suspended') await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'kept' }));
    const del = await heldRequest(srv, { method: 'POST', bucket: b, query: { delete: '' }, body: deleteXml([{ key: 'k' }]) });
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    await s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
    await lockVersion(b, 'k', 'null', l);
    const r = await del.send();
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
    const label = `${start} × ${l}`;
    assert.deepEqual(versions.Versions?.map((x) => x.VersionId), ['null'], `${label}: the locked null version is gone; answered ${r.status} ${r.body}`);
    assert.equal(versions.DeleteMarkers, undefined, label);
    assert.equal(await bytesOf(b, 'k', 'null'), 'kept', label);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, new RegExp(`<Error><Key>k</Key><Code>AccessDenied</Code><Message>${PROTECTED}</Message></Error>`), `${label}: ${r.body}`);
  }
});
