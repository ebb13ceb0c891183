// Delivery of the audit log to a bucket (COFFER_AUDIT_BUCKET=bucket/prefix), as CloudTrail
// delivers to S3: gzipped {"Records":[...]} objects named
// prefix/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz,
// written through Coffer's own S3 API so they get the bucket's default encryption. A
// missing bucket is a warning and a retry; a restart neither loses nor repeats events.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutBucketEncryptionCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, GenerateRandomCommand } from '@aws-sdk/client-kms';
import { DeliveryServer } from './delivery-server.js';
import { readAudit, type CloudTrailEvent } from '../../src/audit/audit-log.js';
import { startTestServer, uniqueBucket } from '../helpers/server.js';
import { makeTestCertificate } from '../helpers/tls.js';
import { waitFor } from '../interop/support.js';

const PREFIX = 'coffer/trail';

interface Trail {
  srv: DeliveryServer;
  bucket: string;
}

/**
 * A server of the test's own, delivering to a bucket of its own under PREFIX every
 * `seconds` (3600: only when the test calls deliver()); stopped when the test ends.
 */
async function startTrail(t: TestContext, seconds: number): Promise<Trail> {
  const bucket = uniqueBucket('trail');
  const srv = await DeliveryServer.start({ COFFER_AUDIT_BUCKET: `${bucket}/${PREFIX}`, COFFER_AUDIT_DELIVERY_SECONDS: String(seconds) });
  t.after(() => srv.stop());
  return { srv, bucket };
}

/** Creates the trail's bucket, encrypted by default under a new KMS key; returns the key's ARN. */
async function createBucket({ srv, bucket }: Trail): Promise<string> {
  const keyArn = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true }] } }));
  return keyArn;
}

/** The delivered log files, each checked to be encrypted under the bucket's default key `keyArn`. */
async function delivered({ srv, bucket }: Trail, keyArn: string): Promise<{ key: string; records: CloudTrailEvent[] }[]> {
  const out: { key: string; records: CloudTrailEvent[] }[] = [];
  let token: string | undefined;
  do {
    const page = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}/AWSLogs/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
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

/** Delivers until a round has nothing new (the bucket key makes the deliveries' own PUTs quiet). */
async function settle(srv: DeliveryServer): Promise<void> {
  for (let i = 0; i < 10; i++) if ((await srv.coffer.auditDelivery!.deliver()) === 0) return;
  assert.fail('delivery did not settle');
}

test('a missing bucket is a warning, and delivery retries until the bucket exists', async (t) => {
  const { srv, bucket } = await startTrail(t, 1);
  const warnings = () => srv.logLines.filter((l) => l.includes(`the audit delivery bucket ${bucket} does not exist`));
  await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  assert.equal(await srv.coffer.auditDelivery!.deliver(), 0, 'nothing delivered');
  assert.equal(warnings().length, 1, srv.logLines.join('\n'));
  const warning = JSON.parse(warnings()[0]!) as { level: number };
  assert.equal(warning.level, 40, 'a warning');
  for (let i = 0; i < 2; i++) assert.equal(await srv.coffer.auditDelivery!.deliver(), 0);
  assert.equal(warnings().length, 1, 'said once, not every round');

  // The interval's timer, not the test, delivers once the bucket exists. (A bucket without
  // a default configuration: one set after creation could race a round.)
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const listed = async () => ((await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${PREFIX}/AWSLogs/` }))).KeyCount ?? 0) > 0;
  assert.ok(await waitFor(listed, 8000), 'a log file appears in the bucket');
});

test('log files are named as CloudTrail names them and hold the events', async (t) => {
  const trail = await startTrail(t, 3600);
  const { srv } = trail;
  const keyArn = await createBucket(trail);
  await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await srv.kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('delivery plaintext 41ab') }));
  await settle(srv);

  const account = srv.coffer.root.accountId;
  const objects = await delivered(trail, keyArn);
  assert.ok(objects.length > 0, 'log files were delivered');
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  const name = new RegExp(`^${PREFIX}/AWSLogs/${account}/CloudTrail/us-east-1/(\\d{4}/\\d\\d/\\d\\d)/${account}_CloudTrail_us-east-1_(\\d{8}T\\d{4}Z)_[A-Za-z0-9]{16}\\.json\\.gz$`);
  for (const o of objects) {
    const m = name.exec(o.key);
    assert.ok(m, o.key);
    assert.ok(m[1] === today || Math.abs(Date.parse(m[1]!.replace(/\//g, '-')) - Date.now()) < 2 * 864e5, o.key);
    assert.ok(o.records.length > 0);
  }
  const records = objects.flatMap((o) => o.records);
  const events = await readAudit(srv.auditDir);
  const byId = new Map(events.map((e) => [e.eventID, e]));
  for (const r of records) assert.deepEqual(r, byId.get(r.eventID), 'a record is the logged event unchanged');
  for (const name of ['GenerateRandom', 'CreateKey', 'Encrypt']) assert.ok(records.some((r) => r.eventName === name), `${name} delivered`);
  assert.ok(!JSON.stringify(records).includes('delivery plaintext 41ab') && !JSON.stringify(records).includes(Buffer.from('delivery plaintext 41ab').toString('base64')));
  assert.equal((await stat(join(srv.auditDir, 'delivery.json'))).mode & 0o777, 0o600);
});

test('across a restart every event is delivered exactly once', async (t) => {
  const trail = await startTrail(t, 3600);
  const { srv } = trail;
  const keyArn = await createBucket(trail);
  for (let i = 0; i < 5; i++) await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await settle(srv);
  await srv.restart();
  for (let i = 0; i < 5; i++) await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await settle(srv);
  // Before reading the objects back: their GETs make KMS events of their own.
  await srv.coffer.audit.flush();
  const logged = (await readAudit(srv.auditDir)).map((e) => e.eventID);
  const ids = (await delivered(trail, keyArn)).flatMap((o) => o.records.map((r) => r.eventID));
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
