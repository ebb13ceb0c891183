// Metering against a real server and real clients: KMS requests counted by principal,
// key, bucket and operation after S3 SSE-KMS PUTs and GETs and direct KMS calls
// (failures too); requests saved by bucket keys; key-months of customer keys only;
// the counts survive a restart on the same data directory; the usage route's
// authorization (coffer:GetUsage) and validation; Prometheus /metrics after traffic.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutBucketEncryptionCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory, s3On, kmsOn, refusal, type TestUser } from '../helpers/sse-principals.js';
import { adminCall } from '../helpers/admin.js';
import { keyHours, keyMonths, hoursOf } from './key-hours.js';

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
/** Keys to be deleted that a sample caught between their CreateKey and ScheduleKeyDeletion (rare; see before()). */
const raced: string[] = [];
let startHour: number;
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
/**
 * A report and the key-hours it was computed from: usage.sqlite's rows in the report's
 * range, read before and after the route and equal both times (the route's own sample
 * or the hourly one may write in between; then ask again).
 */
async function usageAndHeld(query: Record<string, string>): Promise<{ r: Report; held: ReturnType<typeof keyHours> }> {
  for (let attempt = 1; ; attempt++) {
    const before = keyHours(dataDir).length;
    const r = await usage(query);
    const after = keyHours(dataDir);
    if (after.length === before) return { r, held: after.filter((x) => x.hour >= Date.parse(r.since) && x.hour < Date.parse(r.until)) };
    assert.ok(attempt < 4, 'key-hours keep changing');
  }
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'coffer-meter-'));
  // With audit delivery configured (no round within the test: the first is an hour away), so /metrics has its lag series.
  srv = await startTestServer({ COFFER_AUDIT_BUCKET: 'meter-audit-trail', COFFER_AUDIT_DELIVERY_SECONDS: '3600' }, { dataDir });
  users = userFactory(srv);
  startHour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  // The key to be deleted first, scheduled at once. The meter's once-a-second tick may
  // sample between the two calls and record it for this hour while Enabled — rightly,
  // it was held then, and the hour keeps the larger sample. Such a key cannot show that
  // pending keys are free, so it is kept in `raced` (charged) and another one tried.
  // Only a sample taken after the deletion was scheduled sees the final `doomed`: with
  // pending keys charged, every attempt is recorded and the loop fails.
  for (let attempt = 1; ; attempt++) {
    const arn = (await srv.kms.send(new CreateKeyCommand({ Description: 'to be deleted' }))).KeyMetadata!.Arn!;
    await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 7 }));
    await srv.coffer.meter!.sync(); // waits for a sample in flight, then takes the one the deletion made due
    if (hoursOf(keyHours(dataDir), arn).length === 0) { doomed = arn; break; }
    raced.push(arn);
    assert.ok(attempt < 4, `a key pending deletion was recorded as held in ${attempt} attempts: ${JSON.stringify(keyHours(dataDir))}`);
  }
  keyA = (await srv.kms.send(new CreateKeyCommand({ Description: 'meter A' }))).KeyMetadata!.Arn!;
  keyB = (await srv.kms.send(new CreateKeyCommand({ Description: 'meter B' }))).KeyMetadata!.Arn!;
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
  assert.equal(row(byOp, 'CreateKey')?.requests, 3 + raced.length);
  assert.equal(row(byOp, 'ScheduleKeyDeletion')?.requests, 1 + raced.length);
});

test('bucket keys: requests avoided are the object keys derived from a cached bucket key; savings priced past the free tier', async () => {
  const r = await usage();
  assert.equal(r.bucketKeys.requestsAvoided, 2 * BK_OBJECTS - 1);
  // Well inside the 20,000 free requests: nothing saved in dollars.
  assert.equal(r.bucketKeys.estimatedSavings, 0);
});

test('key-months: customer keys not pending deletion, prorated hourly; the response has the documented shape', async () => {
  const { r, held: sampled } = await usageAndHeld({ by: 'key' });
  assert.equal(r.currency, 'USD');
  assert.deepEqual(r.prices, { keyMonth: 1, per10kRequests: 0.03, freeRequestsPerMonth: 20_000 });
  assert.equal(r.by, 'key');
  assert.equal(r.granularity, 'hour');
  // Keys A and B (and any raced key) for each hour the sampler recorded them: one hour,
  // or two if the UTC hour turned during the run; the key pending deletion is free.
  const charged = [keyA, keyB, ...raced].sort();
  assert.deepEqual([...new Set(sampled.map((x) => x.keyArn))].sort(), charged, 'only customer keys not pending deletion are recorded');
  const nowHour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  for (const k of [keyA, keyB]) {
    const hours = hoursOf(sampled, k);
    assert.ok(hours.length >= 1 && hours.every((h) => h >= startHour && h <= nowHour), `${k} recorded in the hours of the run: ${hours}`);
  }
  assert.ok(sampled.every((x) => x.units === 1), 'a key never rotated is one unit');
  assert.equal(r.keys.keyMonths, keyMonths(sampled.length));
  assert.equal(r.keys.estimatedCost, keyMonths(sampled.length));
  assert.equal(row(r, keyA)?.keyMonths, keyMonths(hoursOf(sampled, keyA).length));
  assert.equal(row(r, keyB)?.keyMonths, keyMonths(hoursOf(sampled, keyB).length));
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
  assert.equal(value('coffer_kms_requests_total{operation="ScheduleKeyDeletion",key_state="PendingDeletion",via="api"}'), 1 + raced.length);
  assert.equal(value('coffer_bucket_key_cache_hits_total{use="write"}'), BK_OBJECTS - 1);
  assert.equal(value('coffer_bucket_key_cache_hits_total{use="read"}'), BK_OBJECTS);
  assert.equal(value('coffer_bucket_key_cache_misses_total{use="write"}'), 1);
  assert.equal(value('coffer_metering_requests_avoided_total{operation="Decrypt"}'), BK_OBJECTS);
  assert.ok(value('coffer_metering_flushes_total{result="ok"}') >= 1);
  assert.ok(value('coffer_metering_flushed_rows_total') >= 1);
  const head = await fetch(`${srv.url}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});

/** The metric table of docs/METERING.md: name -> type and label names. */
async function documentedMetrics(): Promise<Map<string, { type: string; labels: string[] }>> {
  const doc = await readFile(new URL('../../../docs/METERING.md', import.meta.url), 'utf8');
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const line of doc.split('\n')) {
    const m = /^\| `(coffer_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    // "`use` (`write`, `read`)": the label is `use`; the parenthesised names are its values.
    const labels = [...m[3]!.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!).sort();
    out.set(m[1]!, { type: m[2]!, labels });
  }
  return out;
}

/** What /metrics exposes: name -> type (from `# TYPE`) and the label names of its samples. */
function exposedMetrics(text: string): Map<string, { type: string; labels: string[] }> {
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) out.set(t[1]!, { type: t[2]!, labels: new Set() });
  }
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? /.exec(line);
    if (!m || line.startsWith('#')) continue;
    const base = out.has(m[1]!) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, '');
    const metric = out.get(base);
    assert.ok(metric, `a sample without # TYPE: ${line}`);
    for (const [, name] of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)) {
      if (!(metric.type === 'histogram' && name === 'le')) metric.labels.add(name!);
    }
  }
  return new Map([...out].map(([k, v]) => [k, { type: v.type, labels: [...v.labels].sort() }]));
}

test('/metrics exposes exactly the metrics docs/METERING.md documents, with their types and labels', async () => {
  const documented = await documentedMetrics();
  assert.ok(documented.size >= 10, `the metric table parses: ${[...documented.keys()]}`);
  const exposed = exposedMetrics(await (await fetch(`${srv.url}/metrics`)).text());
  for (const [name, doc] of documented) {
    const got = exposed.get(name);
    assert.ok(got, `documented ${name} is exposed`);
    assert.equal(got.type, doc.type, `${name}'s type`);
    // A labelled metric shows its label names only once it has a sample; after this traffic every one has.
    assert.deepEqual(got.labels, doc.labels, `${name}'s labels`);
  }
  // Coffer's own metrics are each documented; prom-client's default process and Node metrics are documented as a family.
  for (const name of exposed.keys()) if (name.startsWith('coffer_')) assert.ok(documented.has(name), `exposed ${name} is documented in docs/METERING.md`);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) assert.ok(exposed.has(name), `${name} is exposed`);
  assert.deepEqual([...exposed.keys()].filter((n) => !/^(coffer|process|nodejs)_/.test(n)), [], 'no other metric families');
});

// Last: restarts the server on the same data directory (a clean stop; a SIGKILL: usage-crash.test.ts).
test('the counts survive a restart on the same data directory', async () => {
  const beforeRestart = await usage({ by: 'principal' });
  // One more request just before the stop: only the flush on close can keep it (the timer runs once a second).
  await alice.kms.send(new EncryptCommand({ KeyId: keyA, Plaintext: Buffer.from('last') }));
  users.destroy();
  await srv.stop();
  srv = await startTestServer({}, { dataDir });
  users = userFactory(srv);
  const { r: afterRestart, held: sampled } = await usageAndHeld({ by: 'principal' });
  assert.equal(row(afterRestart, alice.arn)?.requests, PUTS + GETS + 4 + 1 + 1);
  // Apart from that request and the report's own bounds, nothing moved.
  const aliceRow = (r: Report) => r.rows.filter((x) => x.group !== alice.arn);
  assert.deepEqual(aliceRow(afterRestart), aliceRow(beforeRestart));
  // The restarted server samples at start; in an hour already sampled the larger count is
  // kept, not the sum. (If the UTC hour turned meanwhile, the new hour is one more row.)
  assert.ok(sampled.every((x) => x.units === 1), `keys sampled again in the same hour are not counted twice: ${JSON.stringify(sampled)}`);
  assert.equal(afterRestart.keys.keyMonths, keyMonths(sampled.length));
  assert.ok(afterRestart.keys.keyMonths >= beforeRestart.keys.keyMonths);
  assert.equal(afterRestart.bucketKeys.requestsAvoided, beforeRestart.bucketKeys.requestsAvoided);
  assert.equal(afterRestart.requests.total, beforeRestart.requests.total + 1);
});
