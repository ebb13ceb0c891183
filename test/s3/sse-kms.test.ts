// SSE-KMS on PutObject, GetObject and HeadObject through @aws-sdk/client-s3 and
// @aws-sdk/client-kms against the real server, pinned to AWS's recorded behaviour
// (../shared/reference/aws-recordings/s3-encryption.json, s3-sse.md A1–A6): key
// references, the full key ARN in responses, the encryption context, the headers GET and
// HEAD refuse, KMS key errors on PUT and GET, the aws/s3 default key, ETags, and SSE-S3
// as every bucket's default.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateBucketCommand, CreateMultipartUploadCommand, CopyObjectCommand, GetBucketEncryptionCommand, GetObjectCommand,
  HeadObjectCommand, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import {
  CancelKeyDeletionCommand, CreateAliasCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand,
  ListAliasesCommand, ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { readAudit } from '../../src/audit/audit-log.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { createKeyVia } from '../kms/harness.js';
import { assertFails, failure } from '../helpers/failure.js';
import { getBody, md5hex, withHeaders } from '../helpers/sse.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('ssekms');
const bucket2 = uniqueBucket('ssekms-b');
let keyArn: string;
let keyId: string;
let account: string;

const CONTEXT_MESSAGE = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map";
const KEY_ID_WITHOUT_KMS = 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms';

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: bucket2 }));
  const key = await createKeyVia(srv.kms, { Description: 'sse-kms tests' });
  keyArn = key.Arn!;
  keyId = key.KeyId!;
  account = key.AWSAccountId!;
  await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/sse-kms-tests', TargetKeyId: keyId }));
});
after(async () => srv?.stop());

async function newKey(): Promise<{ arn: string; id: string }> {
  const k = await createKeyVia(srv.kms);
  return { arn: k.Arn!, id: k.KeyId! };
}

test('PutObject, GetObject and HeadObject with aws:kms answer the full key ARN for a key id, key ARN, alias name and alias ARN', async () => {
  const refs = [keyId, keyArn, 'alias/sse-kms-tests', `arn:aws:kms:us-east-1:${account}:alias/sse-kms-tests`];
  for (const [i, ref] of refs.entries()) {
    const body = randomBytes(1000 + i);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `ref-${i}`, Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: ref }));
    assert.equal(put.ServerSideEncryption, 'aws:kms', ref);
    assert.equal(put.SSEKMSKeyId, keyArn, `PutObject with ${ref}`);
    assert.equal(put.BucketKeyEnabled, undefined, 'no bucket-key header when bucket keys are off');
    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `ref-${i}` }));
    assert.equal(get.ServerSideEncryption, 'aws:kms');
    assert.equal(get.SSEKMSKeyId, keyArn, `GetObject of an object written with ${ref}`);
    assert.equal(get.BucketKeyEnabled, undefined);
    assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `ref-${i}` }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(head.SSEKMSKeyId, keyArn);
    assert.equal(head.BucketKeyEnabled, undefined);
    assert.equal(head.ContentLength, body.length);
  }
});

test('BucketKeyEnabled: true on PutObject is echoed by PutObject, GetObject and HeadObject', async () => {
  const body = randomBytes(300);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bk', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, BucketKeyEnabled: true }));
  assert.equal(put.BucketKeyEnabled, true);
  assert.equal(put.SSEKMSKeyId, keyArn);
  const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'bk' }));
  assert.equal(get.BucketKeyEnabled, true);
  assert.equal(get.SSEKMSKeyId, keyArn);
  assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'bk' }));
  assert.equal(head.BucketKeyEnabled, true);
});

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

async function auditedContexts(eventName: string, key: string): Promise<Record<string, string>[]> {
  // Events are batched before they are appended: flush what the server has recorded so far.
  await srv.coffer.audit.flush();
  const events = await readAudit(`${srv.dataDir}/audit`, { key: keyArn, eventName });
  return events.map((e) => (e.requestParameters?.encryptionContext ?? {}) as Record<string, string>)
    .filter((c) => c['aws:s3:arn'] === `arn:aws:s3:::${bucket}/${key}`);
}

test('x-amz-server-side-encryption-context is returned by PutObject, stored, and sent with aws:s3:arn on every Decrypt', async () => {
  const ctx = b64(JSON.stringify({ project: 'coffer', team: 'storage' }));
  const body = randomBytes(2000);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ctx', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, SSEKMSEncryptionContext: ctx }));
  assert.deepEqual(JSON.parse(Buffer.from(put.SSEKMSEncryptionContext!, 'base64').toString()), { project: 'coffer', team: 'storage' });
  const expected = { project: 'coffer', team: 'storage', 'aws:s3:arn': `arn:aws:s3:::${bucket}/ctx` };
  const generated = await auditedContexts('GenerateDataKey', 'ctx');
  assert.deepEqual(generated, [expected], 'GenerateDataKey got the client context plus aws:s3:arn');
  for (let i = 0; i < 2; i++) assert.ok((await getBody(s3, { Bucket: bucket, Key: 'ctx' })).equals(body));
  const decrypts = await auditedContexts('Decrypt', 'ctx');
  assert.equal(decrypts.length, 2, 'one Decrypt per GET');
  for (const c of decrypts) assert.deepEqual(c, expected);
});

test('a malformed encryption context is 400 InvalidArgument with AWS\'s message: bad base64, not JSON, not an object, non-string values', async () => {
  const bad = ['%%%not-base64%%%', b64('not json {'), b64('["a","b"]'), b64('{"n":1}'), b64('{"nested":{"a":"b"}}'), b64('"just a string"')];
  for (const v of bad) {
    await assertFails(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-ctx', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId, SSEKMSEncryptionContext: v })),
      400, 'InvalidArgument', CONTEXT_MESSAGE,
    );
  }
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'bad-ctx' })), 404, 'NotFound');
});

test('SSE and SSE-KMS headers on GetObject and HeadObject are refused with 400', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'refuse', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'refuse-s3', Body: 'x' }));
  const headers: Record<string, string>[] = [
    { 'x-amz-server-side-encryption': 'aws:kms' },
    { 'x-amz-server-side-encryption-aws-kms-key-id': keyArn },
    { 'x-amz-server-side-encryption': 'AES256' },
  ];
  for (const key of ['refuse', 'refuse-s3']) {
    for (const h of headers) {
      await assertFails(s3.send(withHeaders(new GetObjectCommand({ Bucket: bucket, Key: key }), h)), 400, 'InvalidArgument');
      // HEAD answers without a body: the status is all a client sees.
      assert.equal((await failure(s3.send(withHeaders(new HeadObjectCommand({ Bucket: bucket, Key: key }), h)))).status, 400);
    }
  }
});

test('a KMS key id without x-amz-server-side-encryption: aws:kms is 400 InvalidArgument', async () => {
  await assertFails(
    s3.send(withHeaders(new PutObjectCommand({ Bucket: bucket, Key: 'kid', Body: 'x' }), { 'x-amz-server-side-encryption-aws-kms-key-id': keyId })),
    400, 'InvalidArgument', KEY_ID_WITHOUT_KMS,
  );
  await assertFails(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kid', Body: 'x', ServerSideEncryption: 'AES256', SSEKMSKeyId: keyId })),
    400, 'InvalidArgument', KEY_ID_WITHOUT_KMS,
  );
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'kid' })), 404, 'NotFound');
});

test('unknown keys on PutObject, CreateMultipartUpload and CopyObject are 400 KMS.NotFoundException with AWS\'s messages', async () => {
  const put = (ref: string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'nf', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: ref }));
  await assertFails(put('fake-key-id'), 400, 'KMS.NotFoundException', "Invalid keyId 'fake-key-id'");
  await assertFails(
    s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'nf', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'fake-key-id' })),
    400, 'KMS.NotFoundException', "Invalid keyId 'fake-key-id'",
  );
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'nf-src', Body: 'x' }));
  await assertFails(
    s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'nf', CopySource: `${bucket}/nf-src`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'fake-key-id' })),
    400, 'KMS.NotFoundException', "Invalid keyId 'fake-key-id'",
  );
  const uuid = randomUUID();
  const arn = `arn:aws:kms:us-east-1:${account}:key/${uuid}`;
  await assertFails(put(uuid), 400, 'KMS.NotFoundException', `Key '${arn}' does not exist`);
  await assertFails(put(arn), 400, 'KMS.NotFoundException', `Key '${arn}' does not exist`);
  await assertFails(put(`arn:aws:kms:us-west-2:${account}:key/${keyId}`), 400, 'KMS.NotFoundException', 'Invalid arn us-west-2');
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'nf' })), 404, 'NotFound');
});

test('a disabled key: PUT and GET are 400 KMS.DisabledException "<arn> is disabled."; re-enabled, the object reads back byte for byte', async () => {
  const k = await newKey();
  const body = randomBytes(100_000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dis', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k.id }));
  await srv.kms.send(new DisableKeyCommand({ KeyId: k.id }));
  await assertFails(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dis-2', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k.id })),
    400, 'KMS.DisabledException', `${k.arn} is disabled.`,
  );
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dis' })), 400, 'KMS.DisabledException', `${k.arn} is disabled.`);
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dis' }));
  assert.equal(head.SSEKMSKeyId, k.arn, 'HEAD needs no key');
  await srv.kms.send(new EnableKeyCommand({ KeyId: k.id }));
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'dis' })).equals(body));
});

test('a key pending deletion: GET is 400 KMS.KMSInvalidStateException "<arn> is pending deletion."; cancelled and enabled, the object reads back', async () => {
  const k = await newKey();
  const body = randomBytes(5000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'pend', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k.arn }));
  await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.id, PendingWindowInDays: 7 }));
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'pend' })), 400, 'KMS.KMSInvalidStateException', `${k.arn} is pending deletion.`);
  await assertFails(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'pend-2', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k.arn })),
    400, 'KMS.KMSInvalidStateException', `${k.arn} is pending deletion.`,
  );
  await srv.kms.send(new CancelKeyDeletionCommand({ KeyId: k.id }));
  await srv.kms.send(new EnableKeyCommand({ KeyId: k.id }));
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'pend' })).equals(body));
});

test('aws:kms without a key id uses the AWS managed aws/s3 key: one ARN for two buckets, KeyManager AWS, listed as alias/aws/s3', async () => {
  const a = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dflt', Body: 'test-sse', ServerSideEncryption: 'aws:kms' }));
  const b = await s3.send(new PutObjectCommand({ Bucket: bucket2, Key: 'dflt', Body: 'test-sse', ServerSideEncryption: 'aws:kms' }));
  assert.equal(a.ServerSideEncryption, 'aws:kms');
  assert.match(a.SSEKMSKeyId ?? '', new RegExp(`^arn:aws:kms:us-east-1:${account}:key/[0-9a-f-]{36}$`));
  assert.equal(b.SSEKMSKeyId, a.SSEKMSKeyId, 'the same default key for both buckets');
  assert.equal((await s3.send(new GetObjectCommand({ Bucket: bucket2, Key: 'dflt' }))).SSEKMSKeyId, a.SSEKMSKeyId);
  assert.equal((await getBody(s3, { Bucket: bucket, Key: 'dflt' })).toString(), 'test-sse');
  const d = (await srv.kms.send(new DescribeKeyCommand({ KeyId: a.SSEKMSKeyId }))).KeyMetadata!;
  assert.equal(d.KeyManager, 'AWS');
  assert.equal(d.Description, 'Default key that protects my S3 objects when no other key is defined');
  assert.equal(d.KeyState, 'Enabled');
  assert.equal(d.Arn, a.SSEKMSKeyId);
  const byAlias = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!;
  assert.equal(byAlias.Arn, a.SSEKMSKeyId);
  const aliases = (await srv.kms.send(new ListAliasesCommand({}))).Aliases ?? [];
  const s3Alias = aliases.find((x) => x.AliasName === 'alias/aws/s3');
  assert.ok(s3Alias, 'ListAliases shows alias/aws/s3');
  assert.equal(s3Alias.TargetKeyId, d.KeyId);
  assert.equal(s3Alias.AliasArn, `arn:aws:kms:us-east-1:${account}:alias/aws/s3`);
});

test('the ETag of an SSE-KMS object is not its MD5 (and differs per PUT of the same bytes); an SSE-S3 object\'s is', async () => {
  const body = 'test-sse';
  const k1 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'etag-kms', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  const k2 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'etag-kms-2', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  assert.match(k1.ETag ?? '', /^"[0-9a-f]{32}"$/);
  assert.notEqual(k1.ETag, `"${md5hex(body)}"`);
  assert.notEqual(k1.ETag, k2.ETag);
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'etag-kms' }))).ETag, k1.ETag, 'the ETag is stable for the object');
  const s = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'etag-s3', Body: body, ServerSideEncryption: 'AES256' }));
  assert.equal(s.ETag, '"42832cdec7083e70a9cd6f2d5852e004"', 'the recorded MD5 ETag of "test-sse" under SSE-S3');
  assert.equal(s.ServerSideEncryption, 'AES256');
  assert.equal(s.SSEKMSKeyId, undefined);
});

test('an SSE-KMS PUT skips the MD5 pass but still checks a Content-MD5 it was sent: a wrong one is 400 BadDigest, the right one is accepted', async () => {
  const body = 'test-sse-md5';
  const wrong = Buffer.alloc(16, 7).toString('base64');
  await assert.rejects(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-kms', Body: body, ContentMD5: wrong, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId })),
    (e: Error) => e.name === 'BadDigest',
  );
  const right = Buffer.from(md5hex(body), 'hex').toString('base64');
  const ok = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-kms', Body: body, ContentMD5: right, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  assert.notEqual(ok.ETag, `"${md5hex(body)}"`);
});

test('a fresh bucket answers GetBucketEncryption with AES256 and its plain objects come back with ServerSideEncryption AES256', async () => {
  const fresh = uniqueBucket('ssekms-fresh');
  await s3.send(new CreateBucketCommand({ Bucket: fresh }));
  const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket: fresh }));
  assert.deepEqual(enc.ServerSideEncryptionConfiguration?.Rules, [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false }]);
  const put = await s3.send(new PutObjectCommand({ Bucket: fresh, Key: 'plain', Body: 'test-sse' }));
  assert.equal(put.ServerSideEncryption, 'AES256');
  assert.equal(put.ETag, '"42832cdec7083e70a9cd6f2d5852e004"');
  const get = await s3.send(new GetObjectCommand({ Bucket: fresh, Key: 'plain' }));
  assert.equal(get.ServerSideEncryption, 'AES256');
  assert.equal(get.SSEKMSKeyId, undefined);
  assert.equal(get.BucketKeyEnabled, undefined);
  assert.equal(await get.Body!.transformToString(), 'test-sse');
  assert.equal((await s3.send(new HeadObjectCommand({ Bucket: fresh, Key: 'plain' }))).ServerSideEncryption, 'AES256');
});
