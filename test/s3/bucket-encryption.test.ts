// Bucket default encryption through @aws-sdk/client-s3 against the real server, pinned
// to AWS's recordings (TestS3BucketEncryption, test_s3_sse_bucket_key_default,
// test_s3_sse_default_kms_key; s3-sse.md A3, A4): Put/Get/DeleteBucketEncryption and
// their errors, objects written without headers taking the default, request headers
// overriding it, BucketKeyEnabled inherited by request-level aws:kms, and bucket keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand, DeleteBucketEncryptionCommand, GetBucketEncryptionCommand, GetObjectCommand, HeadObjectCommand,
  PutBucketEncryptionCommand, PutObjectCommand, type S3Client, type ServerSideEncryptionRule,
} from '@aws-sdk/client-s3';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { readAudit } from '../../src/audit/audit-log.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { createKeyVia } from '../kms/harness.js';
import { assertFails } from '../helpers/failure.js';
import { getBody } from '../helpers/sse.js';

let srv: TestServer;
let s3: S3Client;
let keyA: { arn: string; id: string };
let keyB: { arn: string; id: string };

const MALFORMED = 'The XML you provided was not well-formed or did not validate against our published schema';

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  const a = await createKeyVia(srv.kms, { Description: 'bucket default A' });
  const b = await createKeyVia(srv.kms, { Description: 'bucket default B' });
  keyA = { arn: a.Arn!, id: a.KeyId! };
  keyB = { arn: b.Arn!, id: b.KeyId! };
});
after(async () => srv?.stop());

async function freshBucket(rule?: ServerSideEncryptionRule): Promise<string> {
  const name = uniqueBucket('bucketenc');
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  if (rule) await s3.send(new PutBucketEncryptionCommand({ Bucket: name, ServerSideEncryptionConfiguration: { Rules: [rule] } }));
  return name;
}

async function rulesOf(bucket: string) {
  const r = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
  assert.equal(r.$metadata.httpStatusCode, 200);
  return r.ServerSideEncryptionConfiguration?.Rules;
}

async function putPlain(bucket: string, key: string, body: Buffer | string = 'test-encrypted') {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

test('PutBucketEncryption AES256: GetBucketEncryption returns it, and objects without headers are SSE-S3 with their MD5 as ETag', async () => {
  const b = await freshBucket();
  const put = await s3.send(new PutBucketEncryptionCommand({ Bucket: b, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } }));
  assert.equal(put.$metadata.httpStatusCode, 200);
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false }]);
  const o = await putPlain(b, 'obj');
  assert.equal(o.ServerSideEncryption, 'AES256');
  assert.equal(o.ETag, '"16b66fb6b9c0e864b0291fa0dbb5a946"', 'the recorded ETag of "test-encrypted" under SSE-S3');
  const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'obj' }));
  assert.equal(get.ServerSideEncryption, 'AES256');
  assert.equal(await get.Body!.transformToString(), 'test-encrypted');
});

test('aws:kms with a bare KMSMasterKeyID and BucketKeyEnabled: stored as given; objects without headers use the key (full ARN) and a bucket key', async () => {
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyA.id }, BucketKeyEnabled: true });
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyA.id }, BucketKeyEnabled: true }]);
  const o = await putPlain(b, 'obj');
  assert.equal(o.ServerSideEncryption, 'aws:kms');
  assert.equal(o.SSEKMSKeyId, keyA.arn);
  assert.equal(o.BucketKeyEnabled, true);
  const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'obj' }));
  assert.equal(get.SSEKMSKeyId, keyA.arn);
  assert.equal(get.BucketKeyEnabled, true);
  assert.equal(await get.Body!.transformToString(), 'test-encrypted');
  const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'obj' }));
  assert.equal(head.ServerSideEncryption, 'aws:kms');
  assert.equal(head.SSEKMSKeyId, keyA.arn);
  assert.equal(head.BucketKeyEnabled, true);
  // Turning bucket keys off changes new objects only.
  await s3.send(new PutBucketEncryptionCommand({ Bucket: b, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyA.id }, BucketKeyEnabled: false }] } }));
  const o2 = await putPlain(b, 'obj2');
  assert.equal(o2.SSEKMSKeyId, keyA.arn);
  assert.equal(o2.BucketKeyEnabled, undefined);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'obj' }))).BucketKeyEnabled, true);
});

test('KMSMasterKeyID as an ARN or alias is echoed exactly as given', async () => {
  for (const ref of [keyA.arn, 'alias/aws/s3']) {
    const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: ref } });
    assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: ref }, BucketKeyEnabled: false }]);
  }
});

test('aws:kms without KMSMasterKeyID: objects use the AWS managed aws/s3 key', async () => {
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true });
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }]);
  const o = await putPlain(b, 'obj');
  assert.equal(o.ServerSideEncryption, 'aws:kms');
  assert.equal(o.BucketKeyEnabled, true);
  const managed = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!;
  assert.equal(managed.KeyManager, 'AWS');
  assert.equal(o.SSEKMSKeyId, managed.Arn);
  assert.equal((await getBody(s3, { Bucket: b, Key: 'obj' })).toString(), 'test-encrypted');
});

test('aws:kms:dsse as the default: objects without headers are DSSE-KMS under the key', async () => {
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms:dsse', KMSMasterKeyID: keyB.arn } });
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms:dsse', KMSMasterKeyID: keyB.arn }, BucketKeyEnabled: false }]);
  const body = randomBytes(70_000);
  const o = await putPlain(b, 'obj', body);
  assert.equal(o.ServerSideEncryption, 'aws:kms:dsse');
  assert.equal(o.SSEKMSKeyId, keyB.arn);
  const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'obj' }));
  assert.equal(get.ServerSideEncryption, 'aws:kms:dsse');
  assert.equal(get.SSEKMSKeyId, keyB.arn);
  assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body));
});

test('the KMSMasterKeyID is not validated by PutBucketEncryption; a write under an unknown one fails with KMS.NotFoundException', async () => {
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'fake-key-id' } });
  assert.equal((await rulesOf(b))?.[0]?.ApplyServerSideEncryptionByDefault?.KMSMasterKeyID, 'fake-key-id');
  await assertFails(putPlain(b, 'obj'), 400, 'KMS.NotFoundException', "Invalid keyId 'fake-key-id'");
});

test('zero or two rules are 400 MalformedXML', async () => {
  const b = await freshBucket();
  await assertFails(s3.send(new PutBucketEncryptionCommand({ Bucket: b, ServerSideEncryptionConfiguration: { Rules: [] } })), 400, 'MalformedXML', MALFORMED);
  const rule = { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' as const } };
  await assertFails(s3.send(new PutBucketEncryptionCommand({ Bucket: b, ServerSideEncryptionConfiguration: { Rules: [rule, rule] } })), 400, 'MalformedXML', MALFORMED);
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false }], 'the configuration is unchanged');
});

test('BlockedEncryptionTypes SSE-C is stored, returned, and refuses SSE-C writes (found by the xml fuzz target: it used to be 400 MalformedXML)', async () => {
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BlockedEncryptionTypes: { EncryptionType: ['SSE-C'] } });
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false, BlockedEncryptionTypes: { EncryptionType: ['SSE-C'] } }]);
  const key = randomBytes(32);
  await assertFails(
    s3.send(new PutObjectCommand({ Bucket: b, Key: 'ssec', Body: 'x', SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64') })),
    403, 'AccessDenied', "Requests specifying Server Side Encryption with Customer provided keys are blocked by this bucket's encryption configuration.",
  );
  assert.equal((await putPlain(b, 'plain')).ServerSideEncryption, 'AES256', 'other writes still take the default');
});

test('AES256 with a KMSMasterKeyID is 400 InvalidArgument naming ApplyServerSideEncryptionByDefault', async () => {
  const b = await freshBucket();
  await assertFails(
    s3.send(new PutBucketEncryptionCommand({ Bucket: b, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256', KMSMasterKeyID: keyA.id } }] } })),
    400, 'InvalidArgument', 'a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse',
    { ArgumentName: 'ApplyServerSideEncryptionByDefault' },
  );
});

test('Put, Get and DeleteBucketEncryption on a missing bucket are 404 NoSuchBucket', async () => {
  const missing = uniqueBucket('bucketenc-missing');
  const msg = 'The specified bucket does not exist';
  await assertFails(
    s3.send(new PutBucketEncryptionCommand({ Bucket: missing, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } })),
    404, 'NoSuchBucket', msg, { BucketName: missing },
  );
  await assertFails(s3.send(new GetBucketEncryptionCommand({ Bucket: missing })), 404, 'NoSuchBucket', msg, { BucketName: missing });
  await assertFails(s3.send(new DeleteBucketEncryptionCommand({ Bucket: missing })), 404, 'NoSuchBucket', msg, { BucketName: missing });
});

test('DeleteBucketEncryption is 204, idempotent, and brings back the SSE-S3 default', async () => {
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyA.id }, BucketKeyEnabled: true });
  for (let i = 0; i < 2; i++) {
    const d = await s3.send(new DeleteBucketEncryptionCommand({ Bucket: b }));
    assert.equal(d.$metadata.httpStatusCode, 204);
  }
  assert.deepEqual(await rulesOf(b), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false }]);
  const o = await putPlain(b, 'after-delete');
  assert.equal(o.ServerSideEncryption, 'AES256');
  assert.equal(o.SSEKMSKeyId, undefined);
});

test('request headers override the bucket default: AES256 over aws:kms, another key over the default key, aws:kms over AES256', async () => {
  const kmsBucket = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyA.arn } });
  const s = await s3.send(new PutObjectCommand({ Bucket: kmsBucket, Key: 's3', Body: 'x', ServerSideEncryption: 'AES256' }));
  assert.equal(s.ServerSideEncryption, 'AES256');
  assert.equal(s.SSEKMSKeyId, undefined);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: kmsBucket, Key: 's3' }))).ServerSideEncryption, 'AES256');
  const k = await s3.send(new PutObjectCommand({ Bucket: kmsBucket, Key: 'b', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyB.id }));
  assert.equal(k.SSEKMSKeyId, keyB.arn);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: kmsBucket, Key: 'b' }))).SSEKMSKeyId, keyB.arn);
  // aws:kms without a key id in the request means the AWS managed key, not the bucket's key.
  const d = await s3.send(new PutObjectCommand({ Bucket: kmsBucket, Key: 'd', Body: 'x', ServerSideEncryption: 'aws:kms' }));
  const managed = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!.Arn;
  assert.equal(d.SSEKMSKeyId, managed);
  assert.notEqual(d.SSEKMSKeyId, keyA.arn);
  const s3Bucket = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } });
  const k2 = await s3.send(new PutObjectCommand({ Bucket: s3Bucket, Key: 'k', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
  assert.equal(k2.ServerSideEncryption, 'aws:kms');
  assert.equal(k2.SSEKMSKeyId, keyA.arn);
});

test('request-level aws:kms inherits the bucket\'s BucketKeyEnabled; the request header overrides it either way', async () => {
  const on = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true });
  const inherited = await s3.send(new PutObjectCommand({ Bucket: on, Key: 'a', Body: 'test-sse', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
  assert.equal(inherited.SSEKMSKeyId, keyA.arn);
  assert.equal(inherited.BucketKeyEnabled, true);
  assert.equal((await s3.send(new GetObjectCommand({ Bucket: on, Key: 'a' }))).BucketKeyEnabled, true);
  const off = await s3.send(new PutObjectCommand({ Bucket: on, Key: 'b', Body: 'test-sse', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id, BucketKeyEnabled: false }));
  assert.equal(off.BucketKeyEnabled, undefined);
  const plain = await freshBucket();
  const explicit = await s3.send(new PutObjectCommand({ Bucket: plain, Key: 'c', Body: 'test-sse', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id, BucketKeyEnabled: true }));
  assert.equal(explicit.BucketKeyEnabled, true);
  const none = await s3.send(new PutObjectCommand({ Bucket: plain, Key: 'd', Body: 'test-sse', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA.id }));
  assert.equal(none.BucketKeyEnabled, undefined);
  assert.deepEqual(await rulesOf(plain), [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false }], 'a PUT header does not change the bucket');
  for (const [b, k] of [[on, 'a'], [on, 'b'], [plain, 'c'], [plain, 'd']] as const) {
    assert.equal((await getBody(s3, { Bucket: b, Key: k })).toString(), 'test-sse');
  }
});

async function auditCount(eventName: string, keyArn: string): Promise<number> {
  await srv.coffer.audit.flush(); // the writer batches events; count all recorded so far
  return (await readAudit(`${srv.dataDir}/audit`, { key: keyArn, eventName })).length;
}

test('bucket keys: 100 objects under one KMS key take a handful of GenerateDataKey calls, carry the bucket-key header, and round-trip', async () => {
  const k = await createKeyVia(srv.kms);
  const b = await freshBucket({ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: k.KeyId! }, BucketKeyEnabled: true });
  const bodies = Array.from({ length: 100 }, (_, i) => randomBytes(100 + i * 7));
  for (const [i, body] of bodies.entries()) {
    const r = await putPlain(b, `o${i}`, body);
    assert.equal(r.BucketKeyEnabled, true);
    assert.equal(r.SSEKMSKeyId, k.Arn);
  }
  const generated = await auditCount('GenerateDataKey', k.Arn!);
  assert.ok(generated >= 1 && generated <= 2, `GenerateDataKey calls for 100 bucket-key objects: ${generated}`);
  for (const [i, body] of bodies.entries()) {
    const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: `o${i}` }));
    assert.equal(get.BucketKeyEnabled, true);
    assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body), `o${i}`);
  }
  // Without bucket keys every object is its own GenerateDataKey.
  const k2 = await createKeyVia(srv.kms);
  for (let i = 0; i < 10; i++) await s3.send(new PutObjectCommand({ Bucket: b, Key: `n${i}`, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k2.KeyId!, BucketKeyEnabled: false }));
  assert.equal(await auditCount('GenerateDataKey', k2.Arn!), 10);
});
