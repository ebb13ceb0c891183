// S3 Bucket Keys through @aws-sdk/client-s3 against the real server, counted in the KMS
// audit log: uploading N objects under a bucket key makes at most 1% as many KMS
// GenerateDataKey calls as without (the rule, stated for 10,000 objects; N is
// 1,000 here to keep the run short, COFFER_TEST_BUCKET_KEY_OBJECTS=10000 runs the full
// size), and reading them back after a restart (cold caches) makes at most 1% as many
// Decrypt calls. Objects under one bucket key still get their own keys: distinct object
// ids, hence distinct derived keys. The bucket key is reused for a bounded time only
// (COFFER_BUCKET_KEY_TTL_SECONDS): the cache on a clock the test moves, and the server
// with its Date mocked, so no test sleeps.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  CreateBucketCommand, GetObjectCommand, PutBucketEncryptionCommand, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { readAudit, type CloudTrailEvent } from '../../src/audit/audit-log.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { decodeEnvelope, deriveObjectKeyFromBucketKey, type ObjectEnvelope } from '../../src/crypto/index.js';
import { ROOT_KEY_ID, ROOT_SECRET, uniqueBucket } from '../helpers/server.js';
import { BucketKeyCache } from '../../src/s3/sse/bucket-keys.js';
import { InProcessKms } from '../../src/kms/port.js';
import type { Caller } from '../../src/kms/service.js';

const N = Number(process.env.COFFER_TEST_BUCKET_KEY_OBJECTS ?? 1000);
const IN_FLIGHT = 16;
const credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

/** A server on a data directory the test keeps, so that it can be restarted with cold caches. */
class Node {
  coffer!: RunningCoffer;
  s3!: S3Client;
  kms!: KMSClient;
  constructor(readonly dataDir: string, private readonly env: Record<string, string> = {}) {}
  async start(): Promise<this> {
    const config = loadConfig({ port: 0, dataDir: this.dataDir, fsync: false }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, ...this.env });
    this.coffer = await startCoffer(config, pino({ level: 'silent' }));
    this.s3 = new S3Client({ endpoint: this.coffer.url, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1 });
    this.kms = new KMSClient({ endpoint: this.coffer.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    return this;
  }
  async stop(): Promise<void> {
    this.s3?.destroy();
    this.kms?.destroy();
    await this.coffer?.close();
  }
  async audit(): Promise<CloudTrailEvent[]> {
    await this.coffer.audit.flush();
    return readAudit(join(this.dataDir, 'audit', 'kms.log'));
  }
}

const dirs: string[] = [];
const running: Node[] = [];
async function node(env: Record<string, string> = {}, dataDir?: string): Promise<Node> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'coffer-bucket-keys-')));
  if (!dataDir) dirs.push(dir);
  const n = await new Node(dir, env).start();
  running.push(n);
  return n;
}
after(async () => {
  for (const n of running) await n.stop().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs fn(0..count-1) with `inFlight` at a time. */
async function pool(count: number, inFlight: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) await fn(next++);
  }));
}

const objectKey = (i: number) => `obj/${String(i).padStart(5, '0')}.txt`;
const bodyOf = (bucket: string, i: number) => `bucket-key object ${i} of ${bucket}\n`;

/** The KMS data-plane calls on `keyArn` whose encryption context names `bucket` (its ARN or an object ARN in it). */
function callsFor(events: CloudTrailEvent[], eventName: string, keyArn: string, bucket: string): CloudTrailEvent[] {
  return events.filter((e) => {
    const arn = (e.requestParameters?.encryptionContext as Record<string, string> | undefined)?.['aws:s3:arn'] ?? '';
    return e.eventName === eventName && !e.errorCode && e.resources[0]?.ARN === keyArn && (arn === `arn:aws:s3:::${bucket}` || arn.startsWith(`arn:aws:s3:::${bucket}/`));
  });
}

let first: Node;
let keyArn: string;
const withBk = uniqueBucket('bk-on');
const withoutBk = uniqueBucket('bk-off');
const putResults = new Map<string, { bucketKey: boolean | undefined; keyId: string | undefined }[]>();

before(async () => {
  first = await node();
  keyArn = (await first.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  for (const [bucket, bucketKey] of [[withBk, true], [withoutBk, false]] as const) {
    await first.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await first.s3.send(new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: bucketKey }] },
    }));
  }
});

test(`uploading ${N} objects with a bucket key makes at most 1% as many KMS GenerateDataKey calls as without (counted in the audit log)`, async () => {
  for (const bucket of [withBk, withoutBk]) {
    const results: { bucketKey: boolean | undefined; keyId: string | undefined }[] = [];
    await pool(N, IN_FLIGHT, async (i) => {
      const r = await first.s3.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey(i), Body: bodyOf(bucket, i) }));
      results.push({ bucketKey: r.BucketKeyEnabled, keyId: r.SSEKMSKeyId });
    });
    putResults.set(bucket, results);
  }
  const events = await first.audit();
  const withCalls = callsFor(events, 'GenerateDataKey', keyArn, withBk);
  const withoutCalls = callsFor(events, 'GenerateDataKey', keyArn, withoutBk);
  assert.equal(withoutCalls.length, N, 'without a bucket key: one GenerateDataKey per object');
  assert.ok(withCalls.length >= 1, 'the bucket key itself comes from KMS');
  assert.ok(withCalls.length * 100 <= withoutCalls.length, `with a bucket key: ${withCalls.length} GenerateDataKey calls for ${N} objects, more than 1% of ${withoutCalls.length}`);
  // The bucket key's context is the bucket ARN; per-object calls carry the object ARN.
  for (const e of withCalls) assert.deepEqual(e.requestParameters?.encryptionContext, { 'aws:s3:arn': `arn:aws:s3:::${withBk}` });
  assert.deepEqual(new Set(withoutCalls.map((e) => (e.requestParameters?.encryptionContext as Record<string, string>)['aws:s3:arn'])).size, N);
  // Every response says so (AWS omits BucketKeyEnabled when false).
  assert.ok(putResults.get(withBk)!.every((r) => r.bucketKey === true && r.keyId === keyArn));
  assert.ok(putResults.get(withoutBk)!.every((r) => r.bucketKey === undefined && r.keyId === keyArn));
});

test('objects under one bucket key still have their own keys: distinct object ids and derived keys, one wrapped bucket key', async () => {
  const envelopes = async (bucket: string, keys: string[]): Promise<ObjectEnvelope[]> => {
    const meta = SqliteMetadataStore.open(join(first.dataDir, 'metadata.sqlite'));
    try {
      const out: ObjectEnvelope[] = [];
      for (const k of keys) {
        const rec = await meta.getObject(bucket, k);
        const sse = rec?.sys.sse as { env?: string } | undefined;
        assert.ok(sse?.env, `${bucket}/${k} has an envelope`);
        out.push(decodeEnvelope(Buffer.from(sse.env, 'base64')));
      }
      return out;
    } finally {
      await meta.close();
    }
  };
  const [a, b] = await envelopes(withBk, [objectKey(1), objectKey(2)]);
  assert.equal(a!.kind, 'sse-kms-bucket-key');
  assert.equal(a!.keyId, keyArn);
  assert.deepEqual(a!.context, { 'aws:s3:arn': `arn:aws:s3:::${withBk}` });
  assert.ok(!Buffer.from(a!.objectId).equals(Buffer.from(b!.objectId)), 'each object has its own id');
  assert.ok(Buffer.from(a!.wrappedKey).equals(Buffer.from(b!.wrappedKey)), 'both objects were written within one bucket key period');
  // Unwrap the bucket key through KMS and derive both object keys: they differ.
  const bk = Buffer.from((await first.kms.send(new DecryptCommand({ CiphertextBlob: a!.wrappedKey, EncryptionContext: { ...a!.context } }))).Plaintext!);
  const ka = deriveObjectKeyFromBucketKey(bk, a!.objectId);
  const kb = deriveObjectKeyFromBucketKey(bk, b!.objectId);
  assert.ok(!Buffer.from(ka).equals(Buffer.from(kb)), 'derived object keys differ');
  assert.ok(!Buffer.from(ka).equals(bk), 'the object key is not the bucket key itself');
  // Without bucket keys each object has its own data key from KMS.
  const [c, d] = await envelopes(withoutBk, [objectKey(1), objectKey(2)]);
  assert.equal(c!.kind, 'sse-kms');
  assert.ok(!Buffer.from(c!.wrappedKey).equals(Buffer.from(d!.wrappedKey)));
});

test(`reading the ${N} objects back after a restart decrypts with at most 1% as many KMS Decrypt calls as without, byte for byte`, async () => {
  const dataDir = first.dataDir;
  await first.stop();
  running.splice(running.indexOf(first), 1);
  const second = await node({}, dataDir);
  const before = (await second.audit()).length;
  for (const bucket of [withBk, withoutBk]) {
    await pool(N, IN_FLIGHT, async (i) => {
      const r = await second.s3.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(i) }));
      assert.equal(await r.Body!.transformToString(), bodyOf(bucket, i));
      if (bucket === withBk) assert.equal(r.BucketKeyEnabled, true);
    });
  }
  const events = (await second.audit()).slice(before);
  const withCalls = callsFor(events, 'Decrypt', keyArn, withBk);
  const withoutCalls = callsFor(events, 'Decrypt', keyArn, withoutBk);
  assert.equal(withoutCalls.length, N, 'without a bucket key: one Decrypt per object');
  assert.ok(withCalls.length >= 1, 'a cold server unwraps the bucket key through KMS');
  assert.ok(withCalls.length * 100 <= withoutCalls.length, `with a bucket key: ${withCalls.length} Decrypt calls for ${N} objects`);
  assert.ok(events.every((e) => e.userIdentity.invokedBy === 's3.amazonaws.com' && e.userIdentity.type === 'Root'));
});

test('the request header BucketKeyEnabled turns bucket keys on for a bucket without them, and false turns them off where the bucket has them', async () => {
  const n = await node();
  const key = (await n.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const plain = uniqueBucket('bk-header');
  await n.s3.send(new CreateBucketCommand({ Bucket: plain }));
  const M = 200;
  await pool(M, IN_FLIGHT, async (i) => {
    const r = await n.s3.send(new PutObjectCommand({ Bucket: plain, Key: objectKey(i), Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: true }));
    assert.equal(r.BucketKeyEnabled, true);
  });
  const calls = callsFor(await n.audit(), 'GenerateDataKey', key, plain);
  assert.ok(calls.length >= 1 && calls.length * 100 <= M, `${calls.length} GenerateDataKey calls for ${M} objects`);

  const on = uniqueBucket('bk-default-on');
  await n.s3.send(new CreateBucketCommand({ Bucket: on }));
  await n.s3.send(new PutBucketEncryptionCommand({
    Bucket: on,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key }, BucketKeyEnabled: true }] },
  }));
  for (let i = 0; i < 5; i++) {
    const r = await n.s3.send(new PutObjectCommand({ Bucket: on, Key: objectKey(i), Body: 'y', BucketKeyEnabled: false }));
    assert.equal(r.BucketKeyEnabled, undefined, 'the request header overrides the bucket setting');
  }
  assert.equal(callsFor(await n.audit(), 'GenerateDataKey', key, on).length, 5);
});

test('the bucket-key cache reuses a bucket key until its TTL has passed, for writes and reads, and then asks KMS again (clock moved, real KMS)', async () => {
  const n = await node();
  const key = (await n.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const bucket = uniqueBucket('bk-clock');
  const context = { 'aws:s3:arn': `arn:aws:s3:::${bucket}` };
  const caller: Caller = { principal: n.coffer.root.credential.principal, requestId: 'bk-clock', secureTransport: false, viaService: 's3.us-east-1.amazonaws.com' };
  const kms = new InProcessKms(n.coffer.kms);
  let now = 1_700_000_000_000;
  const cache = new BucketKeyCache(5_000, undefined, () => now);

  const first = await cache.forWriting(kms, caller, key, context);
  now += 4_999;
  const again = await cache.forWriting(kms, caller, key, context);
  assert.ok(again.ciphertextBlob.equals(first.ciphertextBlob), 'within the TTL: the same bucket key');
  now += 1;
  const next = await cache.forWriting(kms, caller, key, context);
  assert.ok(!next.ciphertextBlob.equals(first.ciphertextBlob), 'at the TTL: a new bucket key');
  assert.deepEqual(cache.stats, { generated: 2, reusedForWrite: 1, decrypted: 0, reusedForRead: 0 });

  // The new key's blob is remembered for reading until the same expiry.
  now += 4_999;
  assert.ok((await cache.forReading(kms, caller, key, next.ciphertextBlob, context)).equals(next.plaintext));
  now += 1;
  assert.ok((await cache.forReading(kms, caller, key, next.ciphertextBlob, context)).equals(next.plaintext));
  assert.deepEqual(cache.stats, { generated: 2, reusedForWrite: 1, decrypted: 1, reusedForRead: 1 });
  const events = await n.audit();
  assert.equal(callsFor(events, 'GenerateDataKey', key, bucket).length, 2);
  assert.equal(callsFor(events, 'Decrypt', key, bucket).length, 1);
});

test('concurrent misses share one KMS call: 16 writers get one GenerateDataKey, 16 readers one Decrypt, each still authorized (real KMS)', async () => {
  const n = await node();
  const key = (await n.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const bucket = uniqueBucket('bk-flight');
  const context = { 'aws:s3:arn': `arn:aws:s3:::${bucket}` };
  const caller: Caller = { principal: n.coffer.root.credential.principal, requestId: 'bk-flight', secureTransport: false, viaService: 's3.us-east-1.amazonaws.com' };
  const kms = new InProcessKms(n.coffer.kms);
  const writers = new BucketKeyCache(60_000);
  const written = await Promise.all(Array.from({ length: 16 }, () => writers.forWriting(kms, caller, key, context)));
  assert.ok(written.every((k) => k.ciphertextBlob.equals(written[0]!.ciphertextBlob)), 'one bucket key for all');
  assert.deepEqual(writers.stats, { generated: 1, reusedForWrite: 15, decrypted: 0, reusedForRead: 0 });
  const readers = new BucketKeyCache(60_000);
  const read = await Promise.all(Array.from({ length: 16 }, () => readers.forReading(kms, caller, key, written[0]!.ciphertextBlob, context)));
  assert.ok(read.every((p) => p.equals(written[0]!.plaintext)));
  assert.deepEqual(readers.stats, { generated: 0, reusedForWrite: 0, decrypted: 1, reusedForRead: 15 });
  const events = await n.audit();
  assert.equal(callsFor(events, 'GenerateDataKey', key, bucket).length, 1);
  assert.equal(callsFor(events, 'Decrypt', key, bucket).length, 1);
});

test('COFFER_BUCKET_KEY_TTL_SECONDS sets the server\'s bucket-key period (its clock moved, no sleep), and objects of both periods stay readable', async (t) => {
  const n = await node({ COFFER_BUCKET_KEY_TTL_SECONDS: '2' });
  const key = (await n.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const bucket = uniqueBucket('bk-ttl');
  await n.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const put = (k: string) => n.s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: true }));
  // Date stands still unless ticked: the server, the SDK's signatures and the audit log all see the moved time.
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  await put('a');
  t.mock.timers.tick(1_999);
  await put('b');
  assert.equal(callsFor(await n.audit(), 'GenerateDataKey', key, bucket).length, 1, 'within the period: one bucket key');
  t.mock.timers.tick(1);
  await put('c');
  assert.equal(callsFor(await n.audit(), 'GenerateDataKey', key, bucket).length, 2, 'after the period: a new bucket key');
  for (const k of ['a', 'b', 'c']) {
    const r = await n.s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
    assert.equal(await r.Body!.transformToString(), k);
  }
});
