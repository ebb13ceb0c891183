// The lifecycle worker against the real server, driven by @aws-sdk/client-s3, with the S3
// clock moved instead of waiting: expiration on never-versioned and versioned buckets (a
// delete marker, once), noncurrent expiration keeping NewerNoncurrentVersions, expired
// delete markers removed, incomplete multipart uploads aborted, tag and size filters, a
// disabled rule, object lock (retention and legal hold) protecting a version, a run cut
// short by stop() and finished by the next, and each action logged and counted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import {
  CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand,
  ListObjectsV2Command, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, PutObjectCommand,
  PutObjectLegalHoldCommand, type LifecycleRule,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const DAY = 86_400_000;
let srv: TestServer;
let clock = Date.now();
const logLines: Record<string, unknown>[] = [];

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) logLines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  srv = await startTestServer({}, { now: () => clock, log: pino({ level: 'info' }, sink) });
});
after(async () => srv?.stop());

async function bucketWith(rules: LifecycleRule[], opts: { versioned?: boolean; lock?: boolean } = {}): Promise<string> {
  const b = uniqueBucket('lcw');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b, ...(opts.lock ? { ObjectLockEnabledForBucket: true } : {}) }));
  if (opts.versioned && !opts.lock) await srv.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  await srv.s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: rules } }));
  return b;
}

const keys = async (b: string) => ((await srv.s3.send(new ListObjectsV2Command({ Bucket: b }))).Contents ?? []).map((o) => o.Key).sort();
const versions = async (b: string) => {
  const r = await srv.s3.send(new ListObjectVersionsCommand({ Bucket: b }));
  return [
    ...(r.Versions ?? []).map((v) => ({ key: v.Key!, id: v.VersionId!, latest: v.IsLatest!, marker: false, modified: v.LastModified! })),
    ...(r.DeleteMarkers ?? []).map((v) => ({ key: v.Key!, id: v.VersionId!, latest: v.IsLatest!, marker: true, modified: v.LastModified! })),
  ];
};
/** The midnight UTC at or after `ms` + `days` days: when AWS's day count reaches `days`. */
const due = (ms: number, days: number) => Math.ceil((ms + days * DAY) / DAY) * DAY;
const run = (bucket: string, at: number) => srv.coffer.lifecycle.runOnce({ bucket, now: at });

test('never versioned: an object is deleted once its age, rounded up to midnight UTC, reaches Days; others stay', async () => {
  const b = await bucketWith([{ ID: 'tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 2 } }]);
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'tmp/a', Body: 'a' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'keep/b', Body: 'b' }));
  const at = due(Date.now(), 2);
  assert.equal((await run(b, at - 1)).expired, 0);
  assert.deepEqual(await keys(b), ['keep/b', 'tmp/a']);
  const s = await run(b, at);
  assert.equal(s.expired, 1);
  assert.equal(s.complete, true);
  assert.deepEqual(await keys(b), ['keep/b']);
  // Logged as AWS's server access logs name it, and counted.
  const line = logLines.find((l) => l.lifecycle === true && l.bucket === b);
  assert.ok(line, 'a log line for the action');
  assert.equal(line.operation, 'S3.EXPIRE.OBJECT');
  assert.equal(line.key, 'tmp/a');
  assert.equal(line.ruleId, 'tmp');
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(metrics, /coffer_lifecycle_actions_total\{action="expire"\} [1-9]/);
});

test('versioned: an expired current version gets one delete marker, and a second run adds none', async () => {
  const b = await bucketWith([{ ID: 'all', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }], { versioned: true });
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'v1' }));
  const at = due(Date.now(), 1);
  assert.equal((await run(b, at)).markersAdded, 1);
  assert.equal((await run(b, at + 5 * DAY)).markersAdded, 0);
  const v = await versions(b);
  assert.equal(v.length, 2);
  assert.equal(v.find((x) => x.latest)!.marker, true);
  assert.deepEqual(await keys(b), []);
});

test('versioning suspended: expiration writes the "null" delete marker, which replaces the null version', async () => {
  const b = await bucketWith([{ ID: 'all', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }], { versioned: true });
  const kept = (await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'enabled' }))).VersionId!;
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'null version' }));
  assert.equal((await run(b, due(Date.now(), 1))).markersAdded, 1);
  const v = await versions(b);
  assert.deepEqual(v.map((x) => [x.id, x.marker, x.latest]).sort(), [[kept, false, false], ['null', true, true]].sort());
});

test('noncurrent versions expire NoncurrentDays after they became noncurrent, keeping the NewerNoncurrentVersions newest', async () => {
  const b = await bucketWith([{ ID: 'nc', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 2 } }], { versioned: true });
  const ids: string[] = [];
  for (let i = 1; i <= 5; i++) ids.push((await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: `v${i}` }))).VersionId!);
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'other', Body: 'only' }));
  assert.equal((await run(b, Date.now())).noncurrentExpired, 0, 'not yet a day noncurrent');
  const s = await run(b, due(Date.now(), 1));
  assert.equal(s.noncurrentExpired, 2);
  const left = (await versions(b)).filter((v) => v.key === 'k').map((v) => v.id).sort();
  assert.deepEqual(left, [ids[4], ids[3], ids[2]].sort(), 'the current version and the two newest noncurrent ones');
  assert.equal((await versions(b)).filter((v) => v.key === 'other').length, 1);
});

test('an expired object delete marker (no other version) is removed; one with versions behind it stays', async () => {
  const b = await bucketWith([{ ID: 'dm', Status: 'Enabled', Filter: {}, Expiration: { ExpiredObjectDeleteMarker: true } }], { versioned: true });
  const v1 = (await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'gone', Body: 'x' }))).VersionId!;
  await srv.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'gone' }));
  await srv.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'gone', VersionId: v1 }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'kept', Body: 'x' }));
  await srv.s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'kept' }));
  const s = await run(b, Date.now());
  assert.equal(s.markersRemoved, 1);
  const v = await versions(b);
  assert.deepEqual(v.filter((x) => x.key === 'gone'), []);
  assert.equal(v.filter((x) => x.key === 'kept').length, 2);
});

test('incomplete multipart uploads are aborted DaysAfterInitiation after they began, within the rule prefix only', async () => {
  const b = await bucketWith([{ ID: 'mpu', Status: 'Enabled', Filter: { Prefix: 'up/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 } }]);
  await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'up/a' }));
  await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'other/b' }));
  assert.equal((await run(b, due(Date.now(), 2))).uploadsAborted, 0);
  assert.equal((await run(b, due(Date.now(), 3))).uploadsAborted, 1);
  const left = (await srv.s3.send(new ListMultipartUploadsCommand({ Bucket: b }))).Uploads ?? [];
  assert.deepEqual(left.map((u) => u.Key), ['other/b']);
});

test('tag and size filters choose the objects; a disabled rule does nothing', async () => {
  const b = await bucketWith([
    { ID: 'tmp', Status: 'Enabled', Filter: { And: { Tags: [{ Key: 'tmp', Value: 'yes' }], ObjectSizeGreaterThan: 3 } }, Expiration: { Days: 1 } },
    { ID: 'small', Status: 'Enabled', Filter: { ObjectSizeLessThan: 2 }, Expiration: { Days: 1 } },
    { ID: 'off', Status: 'Disabled', Filter: { Prefix: 'all' }, Expiration: { Days: 1 } },
  ]);
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'tagged-big', Body: 'xxxx', Tagging: 'tmp=yes' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'tagged-mid', Body: 'xxx', Tagging: 'tmp=yes' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'untagged-big', Body: 'xxxx', Tagging: 'tmp=no' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'tiny', Body: 'x' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'all-big', Body: 'xxxx' }));
  const s = await run(b, due(Date.now(), 1));
  assert.equal(s.expired, 2);
  assert.deepEqual(await keys(b), ['all-big', 'tagged-mid', 'untagged-big']);
});

test('object lock: a noncurrent version under retention or legal hold survives, counted as locked, until the lock ends', async () => {
  const b = await bucketWith([{ ID: 'nc', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }], { lock: true });
  const retained = (await srv.s3.send(new PutObjectCommand({
    Bucket: b, Key: 'r', Body: 'old', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 10 * DAY), ChecksumAlgorithm: 'CRC32',
  }))).VersionId!;
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'r', Body: 'new' }));
  const held = (await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'h', Body: 'old' }))).VersionId!;
  await srv.s3.send(new PutObjectLegalHoldCommand({ Bucket: b, Key: 'h', VersionId: held, LegalHold: { Status: 'ON' }, ChecksumAlgorithm: 'CRC32' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'h', Body: 'new' }));
  const s = await run(b, due(Date.now(), 2));
  assert.equal(s.locked, 2);
  assert.equal(s.noncurrentExpired, 0);
  const ids = (await versions(b)).map((v) => v.id);
  assert.ok(ids.includes(retained) && ids.includes(held));
  // Retention over, legal hold still on: only the retained version goes.
  clock = Date.now() + 11 * DAY;
  const later = await run(b, clock);
  clock = Date.now();
  assert.equal(later.noncurrentExpired, 1);
  assert.equal(later.locked, 1);
  const after = (await versions(b)).map((v) => v.id);
  assert.ok(!after.includes(retained) && after.includes(held));
});

test('a run cut short by stop() is finished by the next run, with no action done twice', async () => {
  const b = await bucketWith([{ ID: 'all', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }], { versioned: true });
  const n = 60;
  await Promise.all(Array.from({ length: n }, (_, i) => srv.s3.send(new PutObjectCommand({ Bucket: b, Key: `k${String(i).padStart(3, '0')}`, Body: 'x' }))));
  const at = due(Date.now(), 1);
  const first = run(b, at);
  // Stop as soon as the first actions are logged.
  while (!logLines.some((l) => l.lifecycle === true && l.bucket === b)) await new Promise((r) => setImmediate(r));
  await srv.coffer.lifecycle.stop();
  const cut = await first;
  assert.equal(cut.complete, false);
  assert.ok(cut.markersAdded > 0 && cut.markersAdded < n, `cut short after ${cut.markersAdded} actions`);
  const rest = await run(b, at);
  assert.equal(rest.complete, true);
  assert.equal(cut.markersAdded + rest.markersAdded, n);
  const v = await versions(b);
  assert.equal(v.length, 2 * n, 'each key: its version and exactly one delete marker');
  assert.ok(v.filter((x) => x.latest).every((x) => x.marker));
});

test('COFFER_LIFECYCLE_INTERVAL_SECONDS: daily by default, 0 for no timer, 60 to 604800 otherwise; coffer config check shows it', async () => {
  const { ConfigError, explainConfig, loadConfig } = await import('../../src/config/config.js');
  const base = { COFFER_ROOT_ACCESS_KEY_ID: 'AKIACOFFERTESTROOT01', COFFER_ROOT_SECRET_ACCESS_KEY: 'coffer-test-root-secret-key-0123456789' };
  assert.equal(loadConfig({ dataDir: '/tmp/x' }, base).lifecycleIntervalSeconds, 86400);
  assert.equal(loadConfig({ dataDir: '/tmp/x' }, { ...base, COFFER_LIFECYCLE_INTERVAL_SECONDS: '0' }).lifecycleIntervalSeconds, 0);
  assert.equal(loadConfig({ dataDir: '/tmp/x' }, { ...base, COFFER_LIFECYCLE_INTERVAL_SECONDS: '3600' }).lifecycleIntervalSeconds, 3600);
  for (const bad of ['30', '604801', 'daily', '1.5']) {
    assert.throws(() => loadConfig({ dataDir: '/tmp/x' }, { ...base, COFFER_LIFECYCLE_INTERVAL_SECONDS: bad }), (e: unknown) =>
      e instanceof ConfigError && /lifecycleIntervalSeconds/.test(e.message) && /COFFER_LIFECYCLE_INTERVAL_SECONDS must be/.test(e.hint ?? ''), bad);
  }
  const row = explainConfig({ dataDir: '/tmp/x' }, { ...base, COFFER_LIFECYCLE_INTERVAL_SECONDS: '7200' }).rows.find((r) => r.env === 'COFFER_LIFECYCLE_INTERVAL_SECONDS');
  assert.equal(row?.value, '7200');
});
