// PutObject / GetObject / HeadObject / DeleteObject(s) through @aws-sdk/client-s3
// against the real server: headers, metadata, ranges, conditions, checksums, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand,
  PutObjectCommand, ListObjectsV2Command, type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertFails, failure } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('objects');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

test('PutObject then GetObject returns the bytes, metadata and standard headers', async () => {
  const body = randomBytes(100_000);
  const put = await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: 'dir/hello world.bin', Body: body, ContentType: 'application/x-test',
    Metadata: { color: 'blue', 'x-extra': 'é' === 'é' ? 'yes' : 'no' }, CacheControl: 'max-age=60',
    ContentDisposition: 'attachment; filename="a.bin"', ContentLanguage: 'en', ContentEncoding: 'identity',
  }));
  const md5 = createHash('md5').update(body).digest('hex');
  assert.equal(put.ETag, `"${md5}"`);
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello world.bin' }));
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  assert.ok(bytes.equals(body));
  assert.equal(got.ContentType, 'application/x-test');
  assert.equal(got.CacheControl, 'max-age=60');
  assert.equal(got.ContentDisposition, 'attachment; filename="a.bin"');
  assert.equal(got.ContentLanguage, 'en');
  assert.equal(got.Metadata?.color, 'blue');
  assert.equal(got.ETag, `"${md5}"`);
  assert.equal(got.ContentLength, body.length);
  assert.equal(got.AcceptRanges, 'bytes');
});

test('an object without Content-Type is binary/octet-stream, and a zero-byte object works', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'empty', Body: Buffer.alloc(0) }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'empty' }));
  assert.equal(head.ContentLength, 0);
  assert.equal(head.ETag, '"d41d8cd98f00b204e9800998ecf8427e"');
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'empty' }));
  assert.equal((await got.Body!.transformToByteArray()).length, 0);
});

test('keys with unicode, spaces and reserved characters round-trip', async () => {
  const keys = ['a+b=c&d', 'sp ace/ü/日本語.txt', "quote'(paren)*!~", 'percent%20literal', 'trailing/'];
  for (const Key of keys) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    assert.equal(await got.Body!.transformToString(), Key);
  }
});

test('overwriting replaces the object', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'over', Body: 'one' }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'over', Body: 'two-two' }));
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'over' }));
  assert.equal(await got.Body!.transformToString(), 'two-two');
});

test('Range reads: closed, open, suffix, and InvalidRange', async () => {
  const body = Buffer.from('0123456789');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'range', Body: body }));
  const read = async (Range: string) => {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', Range }));
    return { text: await r.Body!.transformToString(), cr: r.ContentRange, len: r.ContentLength };
  };
  assert.deepEqual(await read('bytes=2-4'), { text: '234', cr: 'bytes 2-4/10', len: 3 });
  assert.deepEqual(await read('bytes=7-'), { text: '789', cr: 'bytes 7-9/10', len: 3 });
  assert.deepEqual(await read('bytes=-3'), { text: '789', cr: 'bytes 7-9/10', len: 3 });
  assert.deepEqual(await read('bytes=8-100'), { text: '89', cr: 'bytes 8-9/10', len: 2 });
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', Range: 'bytes=10-' })), 416, 'InvalidRange');
});

test('GetObject partNumber=1 of a single-part object, and partNumber with Range is refused', async () => {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', PartNumber: 1 }));
  assert.equal(await r.Body!.transformToString(), '0123456789');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', PartNumber: 2 })), 416, 'InvalidPartNumber');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', PartNumber: 1, Range: 'bytes=0-1' })), 400, 'InvalidRequest');
});

test('conditional reads: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since', async () => {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cond', Body: 'x' }));
  const etag = put.ETag!;
  await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfMatch: etag }));
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfMatch: '"nope"' })), 412, 'PreconditionFailed');
  // 304 has no body (as on AWS), so SDKs cannot name it: the status is the whole answer.
  assert.equal((await failure(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfNoneMatch: etag })))).status, 304);
  const future = new Date(Date.now() + 3600_000);
  const past = new Date(Date.now() - 3600_000);
  assert.equal((await failure(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfModifiedSince: future })))).status, 304);
  await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfModifiedSince: past }));
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cond', IfUnmodifiedSince: past })), 412, 'PreconditionFailed');
  // HEAD answers carry no body (as on AWS): only the status can be checked.
  assert.equal((await failure(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cond', IfMatch: '"nope"' })))).status, 412);
});

test('conditional writes: If-None-Match * and If-Match', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cw', Body: 'a', IfNoneMatch: '*' }));
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cw', Body: 'b', IfNoneMatch: '*' })), 412, 'PreconditionFailed');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cw' }));
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cw', Body: 'c', IfMatch: '"0000"' })), 412, 'PreconditionFailed');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cw', Body: 'd', IfMatch: head.ETag }));
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cw-missing', Body: 'e', IfMatch: head.ETag })), 404, 'NoSuchKey');
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'cw' }));
  assert.equal(await got.Body!.transformToString(), 'd');
});

test('response-* parameters override the stored headers', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ovr', Body: 'x', ContentType: 'text/plain' }));
  const got = await s3.send(new GetObjectCommand({
    Bucket: bucket, Key: 'ovr', ResponseContentType: 'application/json', ResponseContentDisposition: 'inline',
    ResponseCacheControl: 'no-cache', ResponseContentLanguage: 'fr', ResponseContentEncoding: 'identity',
  }));
  assert.equal(got.ContentType, 'application/json');
  assert.equal(got.ContentDisposition, 'inline');
  assert.equal(got.CacheControl, 'no-cache');
  assert.equal(got.ContentLanguage, 'fr');
});

for (const alg of ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const) {
  test(`flexible checksum ${alg} is verified, stored and returned with checksum mode`, async () => {
    const body = randomBytes(70_000);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `ck-${alg}`, Body: body, ChecksumAlgorithm: alg }));
    const field = `Checksum${alg}` as const;
    assert.ok(put[field], `PutObject returns ${field}`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `ck-${alg}`, ChecksumMode: 'ENABLED' }));
    assert.equal(head[field], put[field]);
    if (alg === 'SHA256') assert.equal(head[field], createHash('sha256').update(body).digest('base64'));
    if (alg === 'SHA1') assert.equal(head[field], createHash('sha1').update(body).digest('base64'));
  });
}

test('a wrong checksum value is BadDigest and stores nothing', async () => {
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad-ck', Body: 'hello', ChecksumSHA256: createHash('sha256').update('other').digest('base64') })), 400, 'BadDigest');
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'bad-ck' })), 404, 'NotFound');
});

test('Content-MD5 is verified: BadDigest and InvalidDigest', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-ok', Body: 'hello', ContentMD5: createHash('md5').update('hello').digest('base64') }));
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-bad', Body: 'hello', ContentMD5: createHash('md5').update('world').digest('base64') })), 400, 'BadDigest');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-bad', Body: 'hello', ContentMD5: 'not-base64' })), 400, 'InvalidDigest');
});

test('errors: NoSuchKey, NoSuchBucket, KeyTooLongError, AccessControlListNotSupported', async () => {
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'missing' })), 404, 'NoSuchKey');
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'missing' })), 404, 'NotFound');
  await assertFails(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket-coffer', Key: 'k' })), 404, 'NoSuchBucket');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k'.repeat(1025), Body: 'x' })), 400, 'KeyTooLongError');
  await assertFails(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl', Body: 'x', ACL: 'public-read' })), 400, 'AccessControlListNotSupported');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl', Body: 'x', ACL: 'bucket-owner-full-control' }));
});

test('DeleteObject removes, and deleting a missing key succeeds', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'del', Body: 'x' }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del' }));
  await assertFails(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'del' })), 404, 'NoSuchKey');
  const r = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'del' }));
  assert.equal(r.$metadata.httpStatusCode, 204);
});

test('DeleteObjects, verbose and quiet', async () => {
  for (const k of ['m1', 'm2', 'm3']) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `multi/${k}`, Body: k }));
  const verbose = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'multi/m1' }, { Key: 'multi/nope' }] } }));
  assert.deepEqual(verbose.Deleted?.map((d) => d.Key).sort(), ['multi/m1', 'multi/nope']);
  const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: [{ Key: 'multi/m2' }, { Key: 'multi/m3' }] } }));
  assert.equal(quiet.Deleted, undefined);
  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'multi/' }));
  assert.equal(list.KeyCount, 0);
});

test('presigned GET and PUT work; an expired presigned URL is AccessDenied', async () => {
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: 'presigned' }), { expiresIn: 60 });
  const put = await fetch(putUrl, { method: 'PUT', body: 'via presign' });
  assert.equal(put.status, 200);
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'presigned' }), { expiresIn: 60 });
  const got = await fetch(getUrl);
  assert.equal(await got.text(), 'via presign');
  const expired = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'presigned' }), { expiresIn: 1, signingDate: new Date(Date.now() - 10_000) });
  const r = await fetch(expired);
  assert.equal(r.status, 403);
  const text = await r.text();
  assert.match(text, /<Code>AccessDenied<\/Code>/);
  assert.match(text, /Request has expired/);
});

test('a wrong secret is SignatureDoesNotMatch; an unknown key id is InvalidAccessKeyId; a skewed clock is RequestTimeTooSkewed', async () => {
  const wrong = srv.client({ credentials: { accessKeyId: 'AKIACOFFERTESTROOT01', secretAccessKey: 'wrong-secret-wrong-secret' } });
  await assertFails(wrong.send(new ListObjectsV2Command({ Bucket: bucket })), 403, 'SignatureDoesNotMatch');
  const unknown = srv.client({ credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'whatever-whatever' } });
  await assertFails(unknown.send(new ListObjectsV2Command({ Bucket: bucket })), 403, 'InvalidAccessKeyId');
  const skewed = srv.client({ systemClockOffset: -3600_000, maxAttempts: 1 });
  await assertFails(skewed.send(new ListObjectsV2Command({ Bucket: bucket })), 403, 'RequestTimeTooSkewed');
  wrong.destroy(); unknown.destroy(); skewed.destroy();
});

test('anonymous requests are AccessDenied with a request id', async () => {
  const r = await fetch(`${srv.url}/${bucket}/cond`);
  assert.equal(r.status, 403);
  assert.ok(r.headers.get('x-amz-request-id'));
  const text = await r.text();
  assert.match(text, /<Code>AccessDenied<\/Code>/);
  assert.match(text, /<RequestId>[0-9A-F]+<\/RequestId>/);
});

test('a payload hash that does not match the body is XAmzContentSHA256Mismatch', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('../helpers/sha256.js');
  const url = new URL(`${srv.url}/${bucket}/sha-mismatch`);
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, credentials: { accessKeyId: 'AKIACOFFERTESTROOT01', secretAccessKey: 'coffer-test-root-secret-key-0123456789' }, uriEscapePath: false });
  const claimed = createHash('sha256').update('something else').digest('hex');
  const signed = await signer.sign({
    method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {},
    headers: { host: url.host, 'x-amz-content-sha256': claimed, 'content-length': '5' }, body: 'hello',
  });
  const r = await fetch(url, { method: 'PUT', headers: signed.headers as Record<string, string>, body: 'hello' });
  assert.equal(r.status, 400);
  assert.match(await r.text(), /<Code>XAmzContentSHA256Mismatch<\/Code>/);
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 403); // anonymous; the object must not exist either:
  await assertFails(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'sha-mismatch' })), 404, 'NotFound');
});

test('an unimplemented operation answers 501 NotImplemented', async () => {
  const { GetBucketWebsiteCommand } = await import('@aws-sdk/client-s3');
  await assertFails(s3.send(new GetBucketWebsiteCommand({ Bucket: bucket })), 501, 'NotImplemented');
});

test('DeleteObjects requires Content-MD5 or a checksum header, and a wrong one deletes nothing', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('../helpers/sha256.js');
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, credentials: { accessKeyId: 'AKIACOFFERTESTROOT01', secretAccessKey: 'coffer-test-root-secret-key-0123456789' }, uriEscapePath: false });
  const url = new URL(`${srv.url}/${bucket}?delete`);
  const body = '<Delete><Object><Key>integrity/k</Key></Object></Delete>';
  const post = async (integrity: Record<string, string>) => {
    const headers = { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), 'content-length': String(body.length), ...integrity };
    const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: { delete: '' }, headers, body });
    const r = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
    return { status: r.status, text: await r.text() };
  };
  const stored = () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'integrity/k' })).then(() => true, () => false);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'integrity/k', Body: 'x' }));

  const bare = await post({});
  assert.equal(bare.status, 400);
  assert.match(bare.text, /<Code>InvalidRequest<\/Code><Message>Missing required header for this request: Content-MD5<\/Message>/);
  const wrongChecksum = await post({ 'x-amz-checksum-sha256': createHash('sha256').update('other').digest('base64') });
  assert.equal(wrongChecksum.status, 400);
  assert.match(wrongChecksum.text, /<Code>BadDigest<\/Code>/);
  assert.equal(await stored(), true, 'a refused request deletes nothing');

  const byChecksum = await post({ 'x-amz-checksum-sha256': createHash('sha256').update(body).digest('base64') });
  assert.equal(byChecksum.status, 200, byChecksum.text);
  assert.equal(await stored(), false);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'integrity/k', Body: 'x' }));
  const byMd5 = await post({ 'content-md5': createHash('md5').update(body).digest('base64') });
  assert.equal(byMd5.status, 200, byMd5.text);
  assert.equal(await stored(), false);
});

test('a key that is not valid UTF-8 once percent-decoded, or a malformed escape, is 400 InvalidURI and stores nothing', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('../helpers/sha256.js');
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, credentials: { accessKeyId: 'AKIACOFFERTESTROOT01', secretAccessKey: 'coffer-test-root-secret-key-0123456789' }, uriEscapePath: false });
  // The key whose name is the escape's own text: the bad requests must not land on it.
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bad%FF', Body: 'real' }));
  for (const rawKey of ['bad%FF', 'bad%ZZ', 'bad%E2%82', 'bad%']) {
    const url = new URL(`${srv.url}/${bucket}/${rawKey}`);
    const signed = await signer.sign({
      method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: `/${bucket}/${rawKey}`, query: {},
      headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update('evil').digest('hex'), 'content-length': '4' }, body: 'evil',
    });
    const r = await fetch(`${srv.url}/${bucket}/${rawKey}`, { method: 'PUT', headers: signed.headers as Record<string, string>, body: 'evil' });
    const text = await r.text();
    assert.equal(r.status, 400, `${rawKey}: ${text}`);
    assert.match(text, /<Code>InvalidURI<\/Code><Message>Couldn(&apos;|')t parse the specified URI\.<\/Message>/, rawKey);
  }
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'bad%FF' }));
  assert.equal(await got.Body!.transformToString(), 'real');
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'bad' }));
  assert.deepEqual(listed.Contents?.map((o) => o.Key), ['bad%FF']);
});
