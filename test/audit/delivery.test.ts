// Delivery of the audit log to a bucket (COFFER_AUDIT_BUCKET=bucket/prefix), as CloudTrail
// delivers to S3: gzipped {"Records":[...]} objects named
// prefix/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz,
// written through Coffer's own S3 API so they get the bucket's default encryption. A
// missing bucket is a warning and a retry; a restart neither loses nor repeats events.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketEncryptionCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, GenerateRandomCommand, KMSClient } from '@aws-sdk/client-kms';
import type { RunningCoffer } from '../../src/app.js';
import { startDeliveryServer, stopDeliveryServer } from './delivery-server.js';
import { readAudit, type CloudTrailEvent } from '../../src/audit/audit-log.js';
import { startTestServer, uniqueBucket } from '../helpers/server.js';
import { makeTestCertificate } from '../helpers/tls.js';
import { waitFor } from '../interop/support.js';

const bucket = uniqueBucket('trail');
const PREFIX = 'coffer/trail';
let dataDir: string;
let coffer: RunningCoffer;
let s3: S3Client;
let kms: KMSClient;
const logLines: string[] = [];
let keyArn: string;

async function start(): Promise<void> {
  ({ coffer, s3, kms } = await startDeliveryServer(dataDir, { COFFER_AUDIT_BUCKET: `${bucket}/${PREFIX}`, COFFER_AUDIT_DELIVERY_SECONDS: '1' }, logLines, { s3, kms }));
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'coffer-delivery-'));
  await start();
});

after(() => stopDeliveryServer({ coffer, s3, kms }, dataDir));

async function delivered(): Promise<{ key: string; records: CloudTrailEvent[] }[]> {
  const out: { key: string; records: CloudTrailEvent[] }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}/AWSLogs/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      assert.equal(got.ServerSideEncryption, 'aws:kms', `${o.Key} is encrypted under the bucket default`);
      assert.equal(got.SSEKMSKeyId, keyArn);
      const doc = JSON.parse(gunzipSync(Buffer.from(await got.Body!.transformToByteArray())).toString('utf8')) as { Records: CloudTrailEvent[] };
      assert.deepEqual(Object.keys(doc), ['Records']);
      out.push({ key: o.Key!, records: doc.Records });
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

test('a missing bucket is a warning, and delivery retries until the bucket exists', async () => {
  await kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  assert.ok(await waitFor(async () => logLines.some((l) => l.includes(`the audit delivery bucket ${bucket} does not exist`)), 5000), logLines.join('\n'));
  const warning = JSON.parse(logLines.find((l) => l.includes('does not exist'))!) as { level: number };
  assert.equal(warning.level, 40, 'a warning');
  assert.equal(logLines.filter((l) => l.includes('does not exist')).length, 1, 'said once, not every interval');
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(logLines.filter((l) => l.includes('does not exist')).length, 1);

  keyArn = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true }] } }));
  await kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('delivery plaintext 41ab') }));
  assert.ok(await waitFor(async () => (await delivered()).length > 0, 8000), 'a log file appears in the bucket');
});

test('log files are named as CloudTrail names them and hold the events', async () => {
  const account = coffer.root.accountId;
  const objects = await delivered();
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  const name = new RegExp(`^${PREFIX}/AWSLogs/${account}/CloudTrail/us-east-1/(\\d{4}/\\d\\d/\\d\\d)/${account}_CloudTrail_us-east-1_(\\d{8}T\\d{4}Z)_[A-Za-z0-9]{16}\\.json\\.gz$`);
  for (const o of objects) {
    const m = name.exec(o.key);
    assert.ok(m, o.key);
    assert.ok(m[1] === today || Math.abs(Date.parse(m[1]!.replace(/\//g, '-')) - Date.now()) < 2 * 864e5, o.key);
    assert.ok(o.records.length > 0);
  }
  const records = objects.flatMap((o) => o.records);
  const events = await readAudit(join(dataDir, 'audit'));
  const byId = new Map(events.map((e) => [e.eventID, e]));
  for (const r of records) assert.deepEqual(r, byId.get(r.eventID), 'a record is the logged event unchanged');
  for (const name of ['GenerateRandom', 'CreateKey', 'Encrypt']) assert.ok(records.some((r) => r.eventName === name), `${name} delivered`);
  assert.ok(!JSON.stringify(records).includes('delivery plaintext 41ab') && !JSON.stringify(records).includes(Buffer.from('delivery plaintext 41ab').toString('base64')));
  assert.equal((await stat(join(dataDir, 'audit', 'delivery.json'))).mode & 0o777, 0o600);
});

/** Delivers until a round has nothing new (the bucket key makes the deliveries' own PUTs quiet). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) if ((await coffer.auditDelivery!.deliver()) === 0) return;
  assert.fail('delivery did not settle');
}

test('across a restart every event is delivered exactly once', async () => {
  for (let i = 0; i < 5; i++) await kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await settle();
  await coffer.close();
  await start();
  for (let i = 0; i < 5; i++) await kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await settle();
  // Before reading the objects back: their GETs make KMS events of their own.
  await coffer.audit.flush();
  const logged = (await readAudit(join(dataDir, 'audit'))).map((e) => e.eventID);
  const ids = (await delivered()).flatMap((o) => o.records.map((r) => r.eventID));
  assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
  assert.deepEqual([...ids].sort(), [...logged].sort(), 'every logged event delivered');
});

test('over HTTPS the server delivers to itself, trusting its own certificate', async () => {
  const cert = makeTestCertificate();
  const trail = uniqueBucket('tls-trail');
  const srv = await startTestServer({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath, COFFER_AUDIT_BUCKET: trail, COFFER_AUDIT_DELIVERY_SECONDS: '3600' });
  try {
    assert.match(srv.url, /^https:/);
    await srv.s3.send(new CreateBucketCommand({ Bucket: trail }));
    await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
    assert.ok((await srv.coffer.auditDelivery!.deliver()) >= 1);
    const list = await srv.s3.send(new ListObjectsV2Command({ Bucket: trail, Prefix: 'AWSLogs/' }));
    assert.equal(list.Contents?.length, 1);
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: trail, Key: list.Contents![0]!.Key! }));
    assert.equal(got.ServerSideEncryption, 'AES256', 'SSE-S3, the default of a bucket without a configuration');
    const doc = JSON.parse(gunzipSync(Buffer.from(await got.Body!.transformToByteArray())).toString('utf8')) as { Records: CloudTrailEvent[] };
    assert.ok(doc.Records.some((r) => r.eventName === 'GenerateRandom'));
  } finally {
    await srv.stop();
    await rm(cert.dir, { recursive: true, force: true });
  }
});
