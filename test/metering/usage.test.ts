// Metering against a real server and real clients: KMS requests counted by principal,
// key, bucket and operation after S3 SSE-KMS PUTs and GETs and direct KMS calls
// (failures too); requests saved by bucket keys; key-months of customer keys only;
// the counts survive a restart on the same data directory; the usage route's
// authorization (coffer:GetUsage) and validation; Prometheus /metrics after traffic.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutBucketEncryptionCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory, s3On, kmsOn, refusal, type TestUser } from '../helpers/sse-principals.js';
import { adminCall } from '../helpers/admin.js';
import { HOURS_PER_MONTH } from '../../src/metering/prices.js';

interface Row { group: string; requests: number; errors: number; estimatedCost: number; requestsAvoided: number; keyMonths?: number }
interface Report {
  since: string; until: string; by: string; granularity: string; currency: string;
  prices: { keyMonth: number; per10kRequests: number; freeRequestsPerMonth: number };
  requests: { total: number; errors: number; free: number; billable: number; estimatedCost: number };
  keys: { keyMonths: number; estimatedCost: number };
  estimatedCost: number;
  bucketKeys: { requestsAvoided: number; estimatedSavings: number };
  rows: Row[];
  series: { time: string; group: string; requests: number }[];
}

let dataDir: string;
let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let alice: TestUser;
let bob: TestUser;
let keyA: string;
let keyB: string;
let doomed: string;
const plain = uniqueBucket('meter-plain');
const withBk = uniqueBucket('meter-bk');
const PUTS = 3;
const GETS = 2;
const BK_OBJECTS = 4;

async function usage(query: Record<string, string> = {}, server = srv): Promise<Report> {
  const r = await adminCall(server, 'GET', 'usage', { query: { since: '1d', ...query } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as unknown as Report;
}

const row = (r: Report, group: string) => r.rows.find((x) => x.group === group);

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'coffer-meter-'));
  srv = await startTestServer({}, { dataDir });
  users = userFactory(srv);
  keyA = (await srv.kms.send(new CreateKeyCommand({ Description: 'meter A' }))).KeyMetadata!.Arn!;
  keyB = (await srv.kms.send(new CreateKeyCommand({ Description: 'meter B' }))).KeyMetadata!.Arn!;
  doomed = (await srv.kms.send(new CreateKeyCommand({ Description: 'to be deleted' }))).KeyMetadata!.Arn!;
  await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: doomed, PendingWindowInDays: 7 }));
  alice = await users.create('meter-alice', { s3: [s3On(plain), s3On(withBk)], kms: [kmsOn(['kms:GenerateDataKey', 'kms:Decrypt', 'kms:Encrypt'], keyA)] });
  bob = await users.create('meter-bob', {});
  await srv.s3.send(new CreateBucketCommand({ Bucket: plain }));
  await srv.s3.send(new CreateBucketCommand({ Bucket: withBk }));
  await srv.s3.send(new PutBucketEncryptionCommand({
    Bucket: withBk,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyA }, BucketKeyEnabled: true }] },
  }));

  // Alice through S3: SSE-KMS without a bucket key, one KMS request per object.
  for (let i = 0; i < PUTS; i++) {
    await alice.s3.send(new PutObjectCommand({ Bucket: plain, Key: `o${i}`, Body: `object ${i}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
  }
  for (let i = 0; i < GETS; i++) await (await alice.s3.send(new GetObjectCommand({ Bucket: plain, Key: `o${i}` }))).Body!.transformToString();
  // Alice directly: two Encrypts and a Decrypt on key A, one refused Encrypt on key B.
  const ct = await alice.kms.send(new EncryptCommand({ KeyId: keyA, Plaintext: Buffer.from('x') }));
  await alice.kms.send(new EncryptCommand({ KeyId: keyA, Plaintext: Buffer.from('y') }));
  await alice.kms.send(new DecryptCommand({ CiphertextBlob: ct.CiphertextBlob }));
  const denied = await refusal(alice.kms.send(new EncryptCommand({ KeyId: keyB, Plaintext: Buffer.from('z') })));
  assert.equal(denied.name, 'AccessDeniedException');
  // Alice with a bucket key: one GenerateDataKey for all objects, reads reuse the cached key.
  for (let i = 0; i < BK_OBJECTS; i++) await alice.s3.send(new PutObjectCommand({ Bucket: withBk, Key: `b${i}`, Body: `bk ${i}` }));
  for (let i = 0; i < BK_OBJECTS; i++) await (await alice.s3.send(new GetObjectCommand({ Bucket: withBk, Key: `b${i}` }))).Body!.transformToString();
});

after(async () => {
  users?.destroy();
  await srv?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('requests are counted by principal: the user\'s S3 and direct KMS calls under its ARN, failures as errors', async () => {
  const r = await usage({ by: 'principal' });
  const a = row(r, alice.arn);
  assert.ok(a, `a row for ${alice.arn}: ${JSON.stringify(r.rows)}`);
  // 3 GenerateDataKey + 2 Decrypt via S3, 3 Encrypt (1 refused) + 1 Decrypt direct, 1 GenerateDataKey for the bucket key.
  assert.equal(a.requests, PUTS + GETS + 4 + 1);
  assert.equal(a.errors, 1);
  assert.equal(a.requestsAvoided, (BK_OBJECTS - 1) + BK_OBJECTS);
  const root = row(r, `arn:aws:iam::${srv.coffer.root.accountId}:root`);
  assert.ok(root && root.requests >= 4, 'the root\'s CreateKey and ScheduleKeyDeletion calls count too');
  assert.equal(r.requests.total, r.rows.reduce((s, x) => s + x.requests, 0));
  assert.equal(r.requests.errors, 1);
  assert.equal(bob.arn.length > 0 && row(r, bob.arn), undefined, 'a user who made no KMS request has no row');
});

test('requests are counted by key, bucket and operation', async () => {
  const byKey = await usage({ by: 'key' });
  assert.equal(row(byKey, keyB)?.requests, 2, 'key B: CreateKey and the refused Encrypt');
  assert.equal(row(byKey, keyB)?.errors, 1);
  assert.equal(row(byKey, keyA)?.requests, 1 + PUTS + GETS + 3 + 1, 'key A: CreateKey, the S3 calls, the direct calls, the bucket key');

  const byBucket = await usage({ by: 'bucket' });
  assert.deepEqual({ ...row(byBucket, plain), estimatedCost: 0 }, { group: plain, requests: PUTS + GETS, errors: 0, estimatedCost: 0, requestsAvoided: 0 });
  assert.deepEqual({ ...row(byBucket, withBk), estimatedCost: 0 }, { group: withBk, requests: 1, errors: 0, estimatedCost: 0, requestsAvoided: 2 * BK_OBJECTS - 1 });
  assert.ok((row(byBucket, '(none)')?.requests ?? 0) >= 4 + 4, 'direct API calls have no bucket');

  const byOp = await usage({ by: 'operation' });
  assert.equal(row(byOp, 'GenerateDataKey')?.requests, PUTS + 1);
  assert.equal(row(byOp, 'GenerateDataKey')?.requestsAvoided, BK_OBJECTS - 1);
  assert.equal(row(byOp, 'Decrypt')?.requests, GETS + 1);
  assert.equal(row(byOp, 'Decrypt')?.requestsAvoided, BK_OBJECTS);
  assert.equal(row(byOp, 'Encrypt')?.requests, 3);
  assert.equal(row(byOp, 'Encrypt')?.errors, 1);
  assert.equal(row(byOp, 'CreateKey')?.requests, 3);
  assert.equal(row(byOp, 'ScheduleKeyDeletion')?.requests, 1);
});

test('bucket keys: requests avoided are the object keys derived from a cached bucket key; savings priced past the free tier', async () => {
  const r = await usage();
  assert.equal(r.bucketKeys.requestsAvoided, 2 * BK_OBJECTS - 1);
  // Well inside the 20,000 free requests: nothing saved in dollars.
  assert.equal(r.bucketKeys.estimatedSavings, 0);
  const paid = await usage({}, srv);
  assert.equal(paid.requests.billable, 0);
  assert.equal(paid.requests.free, paid.requests.total);
});

test('key-months: customer keys not pending deletion, prorated hourly; the response has the documented shape', async () => {
  const r = await usage({ by: 'key' });
  assert.equal(r.currency, 'USD');
  assert.deepEqual(r.prices, { keyMonth: 1, per10kRequests: 0.03, freeRequestsPerMonth: 20_000 });
  assert.equal(r.by, 'key');
  assert.equal(r.granularity, 'hour');
  // Keys A and B, one hour each so far; the key pending deletion is free.
  assert.equal(r.keys.keyMonths, Math.round((2 / HOURS_PER_MONTH) * 1e6) / 1e6);
  assert.equal(r.keys.estimatedCost, Math.round((2 / HOURS_PER_MONTH) * 1e6) / 1e6);
  assert.equal(row(r, keyA)?.keyMonths, Math.round((1 / HOURS_PER_MONTH) * 1e6) / 1e6);
  assert.equal(row(r, doomed)?.keyMonths ?? 0, 0);
  assert.equal(r.estimatedCost, r.keys.estimatedCost + r.requests.estimatedCost);
  assert.ok(r.series.length > 0);
  for (const s of r.series) assert.match(s.time, /^\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z$/);
  const total = r.series.reduce((a, s) => a + s.requests, 0);
  assert.equal(total, r.requests.total, 'the series adds up to the total');
  const daily = await usage({ by: 'operation', granularity: 'day' });
  for (const s of daily.series) assert.match(s.time, /T00:00:00\.000Z$/);
});

test('the usage route: the root may, a user needs coffer:GetUsage, bad parameters are a ValidationException', async () => {
  const denied = await adminCall(srv, 'GET', 'usage', { credentials: bob.credentials });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.__type, 'AccessDeniedException');
  assert.match(String(denied.body.message), /coffer:GetUsage/);
  await bob.put('usage', { Effect: 'Allow', Action: 'coffer:GetUsage', Resource: '*' });
  const allowed = await adminCall(srv, 'GET', 'usage', { credentials: bob.credentials, query: { by: 'operation' } });
  assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
  assert.equal(allowed.body.by, 'operation');
  for (const [k, v] of [['by', 'colour'], ['granularity', 'week'], ['since', 'yesterday'], ['until', '2000-01-01']]) {
    const bad = await adminCall(srv, 'GET', 'usage', { query: { [k!]: v! } });
    assert.equal(bad.status, 400, `${k}=${v}`);
    assert.equal(bad.body.__type, 'ValidationException');
  }
});

test('/metrics: the documented names with values that match the traffic', async () => {
  const res = await fetch(`${srv.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const value = (series: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    assert.ok(line, `${series} in:\n${text.slice(0, 3000)}`);
    return Number(line.slice(series.length + 1));
  };
  assert.equal(value('coffer_s3_requests_total{operation="PutObject",status="200"}'), PUTS + BK_OBJECTS);
  assert.equal(value('coffer_s3_requests_total{operation="GetObject",status="200"}'), GETS + BK_OBJECTS);
  assert.equal(value('coffer_s3_request_duration_seconds_count{operation="PutObject"}'), PUTS + BK_OBJECTS);
  assert.equal(value('coffer_s3_request_duration_seconds_bucket{le="+Inf",operation="PutObject"}'), PUTS + BK_OBJECTS);
  assert.ok(value('coffer_s3_request_duration_seconds_bucket{le="0.0005",operation="PutObject"}') <= value('coffer_s3_request_duration_seconds_bucket{le="60",operation="PutObject"}'), 'buckets are cumulative');
  assert.ok(value('coffer_s3_request_duration_seconds_sum{operation="PutObject"}') > 0);
  assert.ok(value('coffer_s3_received_bytes_total{operation="PutObject"}') >= PUTS * 'object 0'.length);
  assert.ok(value('coffer_s3_sent_bytes_total{operation="GetObject"}') >= GETS * 'object 0'.length);
  assert.equal(value('coffer_kms_requests_total{operation="GenerateDataKey",key_state="Enabled",via="s3"}'), PUTS + 1);
  assert.equal(value('coffer_kms_requests_total{operation="Encrypt",key_state="Enabled",via="api"}'), 3);
  assert.equal(value('coffer_kms_errors_total{operation="Encrypt",key_state="Enabled",code="AccessDeniedException"}'), 1);
  assert.equal(value('coffer_kms_requests_total{operation="ScheduleKeyDeletion",key_state="PendingDeletion",via="api"}'), 1);
  assert.equal(value('coffer_bucket_key_cache_hits_total{use="write"}'), BK_OBJECTS - 1);
  assert.equal(value('coffer_bucket_key_cache_hits_total{use="read"}'), BK_OBJECTS);
  assert.equal(value('coffer_bucket_key_cache_misses_total{use="write"}'), 1);
  assert.equal(value('coffer_metering_requests_avoided_total{operation="Decrypt"}'), BK_OBJECTS);
  assert.ok(value('coffer_metering_flushes_total{result="ok"}') >= 1);
  assert.ok(value('coffer_metering_flushed_rows_total') >= 1);
  assert.ok(text.includes('coffer_metering_pending_rows '));
  assert.ok(text.includes('coffer_metering_flush_duration_seconds_bucket'));
  const head = await fetch(`${srv.url}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});

// Last: restarts the server on the same data directory.
test('the counts survive a restart on the same data directory', async () => {
  const beforeRestart = await usage({ by: 'principal' });
  // One more request just before the stop: only the flush on close can keep it (the timer runs once a second).
  await alice.kms.send(new EncryptCommand({ KeyId: keyA, Plaintext: Buffer.from('last') }));
  users.destroy();
  await srv.stop();
  srv = await startTestServer({}, { dataDir });
  users = userFactory(srv);
  const afterRestart = await usage({ by: 'principal' });
  assert.equal(row(afterRestart, alice.arn)?.requests, PUTS + GETS + 4 + 1 + 1);
  // Apart from that request and the report's own bounds, nothing moved.
  const aliceRow = (r: Report) => r.rows.filter((x) => x.group !== alice.arn);
  assert.deepEqual(aliceRow(afterRestart), aliceRow(beforeRestart));
  assert.deepEqual(afterRestart.keys, beforeRestart.keys, 'keys sampled again in the same hour are not counted twice');
  assert.equal(afterRestart.bucketKeys.requestsAvoided, beforeRestart.bucketKeys.requestsAvoided);
  assert.equal(afterRestart.requests.total, beforeRestart.requests.total + 1);
});
