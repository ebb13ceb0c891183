// A hostile look at the two bucket settings object lock stands on: versioning that can never again
// be Suspended, and object lock that is only turned on while versioning is Enabled. AWS refuses
// both transitions with 409 InvalidBucketState; here each is raced against the other.
//
// The race: a PutBucketVersioning (or PutObjectLockConfiguration) sent with Expect: 100-continue
// is answered 100 Continue once the server has authorized it and read the bucket; its body is held
// while the other setting is changed, then sent. Whichever commits second must see the first: a
// bucket with object lock and versioning Suspended is a state AWS never reaches, and in it a
// lifecycle expiration writes the "null" delete marker over a COMPLIANCE-retained null version,
// deleting it (the harm this file proves and pins).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, GetBucketVersioningCommand, GetObjectCommand, GetObjectLockConfigurationCommand, ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, PutObjectCommand, PutObjectLockConfigurationCommand,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { heldRequest, type Held } from './object-lock-held.js';

const DAY = 86_400_000;
let clock = Date.now();
let srv: TestServer;

before(async () => {
  srv = await startTestServer({}, { now: () => clock });
});
after(async () => srv?.stop());

/** A bucket subresource PUT the server has authorized (and bound to the bucket as it read it), its body held until send(). */
const heldBucketPut = (bucket: string, subresource: 'versioning' | 'object-lock', xml: string): Promise<Held> =>
  heldRequest(srv, { method: 'PUT', bucket, query: { [subresource]: '' }, body: xml });

const SUSPEND = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Suspended</Status></VersioningConfiguration>';
const LOCK = '<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>';
const COMPLIANCE_DEFAULT = { ObjectLockEnabled: 'Enabled' as const, Rule: { DefaultRetention: { Mode: 'COMPLIANCE' as const, Days: 30 } } };

async function versionedBucket(): Promise<string> {
  const b = uniqueBucket('lockstate');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  return b;
}

async function lockAndVersioning(b: string): Promise<[string | undefined, string | undefined]> {
  const lock = await srv.s3.send(new GetObjectLockConfigurationCommand({ Bucket: b })).then((r) => r.ObjectLockConfiguration?.ObjectLockEnabled, () => undefined);
  const versioning = (await srv.s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status;
  return [lock, versioning];
}

function assertInvalidBucketState(r: { status: number; body: string }, message: string): void {
  assert.equal(r.status, 409, r.body);
  assert.match(r.body, /<Code>InvalidBucketState<\/Code>/);
  assert.equal(/<Message>(.*)<\/Message>/.exec(r.body)?.[1]?.replaceAll('&apos;', "'"), message, r.body);
}

test('a Suspend begun before object lock was enabled is refused when it commits after: InvalidBucketState, versioning stays Enabled', async () => {
  const b = await versionedBucket();
  const suspend = await heldBucketPut(b, 'versioning', SUSPEND);
  await srv.s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: COMPLIANCE_DEFAULT }));
  const r = await suspend.send();
  const states = await lockAndVersioning(b);
  assertInvalidBucketState(r, 'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.');
  assert.deepEqual(states, ['Enabled', 'Enabled']);
});

test('object lock enabled by a request begun while versioning was Enabled is refused when versioning was Suspended before it commits', async () => {
  const b = await versionedBucket();
  const lock = await heldBucketPut(b, 'object-lock', LOCK);
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  const r = await lock.send();
  const states = await lockAndVersioning(b);
  assertInvalidBucketState(r, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration");
  assert.deepEqual(states, [undefined, 'Suspended']);
});

test('the harm of the race: lifecycle expiration must not replace a COMPLIANCE-retained null version with a delete marker', async () => {
  const b = await versionedBucket();
  await srv.s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: b, LifecycleConfiguration: { Rules: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }] },
  }));
  const suspend = await heldBucketPut(b, 'versioning', SUSPEND);
  await srv.s3.send(new PutObjectLockConfigurationCommand({ Bucket: b, ObjectLockConfiguration: COMPLIANCE_DEFAULT }));
  await suspend.send();
  // The bucket's default retention locks the new version for 30 days, whatever its version id.
  const put = await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'retained', ChecksumAlgorithm: 'CRC32' }));
  const versionId = put.VersionId ?? 'null';
  await srv.coffer.lifecycle.runOnce({ bucket: b, now: clock + 3 * DAY });
  const listed = await srv.s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  assert.deepEqual(listed.Versions?.map((v) => v.VersionId), [versionId], `the retained version ${versionId} is gone: ${JSON.stringify(listed.DeleteMarkers?.map((m) => m.VersionId))} marker(s) left`);
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: versionId }));
  assert.equal(await got.Body!.transformToString(), 'retained');
});
