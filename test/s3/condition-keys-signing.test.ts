// The condition keys AWS presents on every S3 action, through real clients against the real
// server, with the policies AWS documents for them ("Bucket policy examples using Signature
// Version 4 related condition keys"): s3:signatureAge (a presigned URL older than 10 minutes
// is refused), s3:authType (an object only through presigned URLs; uploads only by POST
// forms), s3:signatureversion (SigV4 only: SigV2 refused), s3:x-amz-content-sha256 (no
// unsigned payloads), s3:TlsVersion and s3:ResourceAccount. Each key absent, as it was, turns
// such a Deny off (Numeric*, StringEquals) or refuses everything (StringNotEquals).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { CreateBucketCommand, GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { makeTestCertificate } from '../helpers/tls.js';
import { policyDoc, refusal, userFactory } from '../helpers/sse-principals.js';
import { rawRequest, ROOT_KEY_ID, ROOT_SECRET } from '../interop/support.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

/** A bucket holding report.html, with a policy of the Deny statements `denies(bucket)` gives (for everyone). */
async function bucketWith(prefix: string, denies: (b: string) => object[]): Promise<string> {
  const b = uniqueBucket(prefix);
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'report.html', Body: 'the report' }));
  await srv.s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: policyDoc(...denies(b).map((st) => ({ Effect: 'Deny', Principal: '*', ...st }))) }));
  return b;
}

async function assertDenied(p: Promise<unknown>): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.$metadata.httpStatusCode, 403, `${e.name}: ${e.message}`);
  assert.equal(e.name, 'AccessDenied', e.message);
}

const read = async (b: string, key = 'report.html') => (await srv.s3.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body!.transformToString();

/** A presigned GET, signed `ageMs` ago and valid for an hour. */
const presignedGet = (b: string, ageMs = 0) =>
  getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: b, Key: 'report.html' }), { expiresIn: 3600, signingDate: new Date(Date.now() - ageMs) });

async function fetched(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

test('s3:signatureAge: AWS\'s "deny presigned URLs older than 10 minutes" refuses a URL signed 11 minutes ago and takes a fresh one and header-signed requests', async () => {
  const b = await bucketWith('ck-age', (b) => [{
    Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { NumericGreaterThan: { 's3:signatureAge': '600000' } },
  }]);
  const old = await fetched(await presignedGet(b, 11 * 60_000));
  assert.equal(old.status, 403, old.body);
  assert.match(old.body, /<Code>AccessDenied<\/Code>/);
  assert.deepEqual(await fetched(await presignedGet(b, 9 * 60_000)), { status: 200, body: 'the report' });
  assert.equal(await read(b), 'the report'); // an Authorization header: no signature age
});

test('s3:authType: an object readable only through presigned URLs (REST-QUERY-STRING), and uploads only by POST forms', async () => {
  const b = await bucketWith('ck-auth', (b) => [
    { Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/report.html`, Condition: { StringNotEquals: { 's3:authType': 'REST-QUERY-STRING' } } },
    { Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/uploads/*`, Condition: { StringNotEquals: { 's3:authType': 'POST' } } },
  ]);
  await assertDenied(read(b));
  assert.deepEqual(await fetched(await presignedGet(b)), { status: 200, body: 'the report' });

  await assertDenied(srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'uploads/put', Body: 'x' })));
  const { url, fields } = await createPresignedPost(srv.s3, { Bucket: b, Key: 'uploads/form' });
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('file', new Blob(['by form']), 'f.txt');
  const res = await fetch(url, { method: 'POST', body: fd });
  assert.equal(res.status, 204, await res.text());
});

/** A header-signed SigV2 GET (StringToSign: VERB, Content-MD5, Content-Type, Date, resource). */
function sigV2Get(path: string): Promise<{ status: number; body: string }> {
  const u = new URL(srv.url);
  const date = new Date().toUTCString();
  const signature = createHmac('sha1', ROOT_SECRET).update(`GET\n\n\n${date}\n${path}`, 'utf8').digest('base64');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), method: 'GET', path, headers: { date, authorization: `AWS ${ROOT_KEY_ID}:${signature}` }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('s3:signatureversion: a bucket that takes only SigV4 (AWS4-HMAC-SHA256) serves SigV4 requests and refuses SigV2 (AWS)', async () => {
  const b = await bucketWith('ck-sigv', (b) => [{
    Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:signatureversion': 'AWS4-HMAC-SHA256' } },
  }]);
  assert.equal(await read(b), 'the report');
  assert.deepEqual(await fetched(await presignedGet(b)), { status: 200, body: 'the report' });
  const v2 = await sigV2Get(`/${b}/report.html`);
  assert.equal(v2.status, 403, v2.body);

  const only2 = await bucketWith('ck-sigv2', (b) => [{
    Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:signatureversion': 'AWS4-HMAC-SHA256' } },
  }]);
  assert.deepEqual(await sigV2Get(`/${only2}/report.html`), { status: 200, body: 'the report' });
});

test('s3:x-amz-content-sha256: a deny of UNSIGNED-PAYLOAD refuses an unsigned upload and takes one whose payload is signed', async () => {
  const b = await bucketWith('ck-sha', (b) => [{
    Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
  }]);
  const unsigned = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}/k`, body: Buffer.from('body'), payloadHash: 'UNSIGNED-PAYLOAD' });
  assert.equal(unsigned.status, 403, unsigned.body);
  const signed = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}/k`, body: Buffer.from('body') });
  assert.equal(signed.status, 200, signed.body);
});

test('s3:TlsVersion and s3:ResourceAccount: a user allowed only over TLS 1.2 or later, in the bucket owner\'s account, reads over TLS', async () => {
  const cert = makeTestCertificate();
  const tls = await startTestServer({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
  const tlsUsers = userFactory(tls);
  try {
    const acct = tls.coffer.root.accountId;
    const b = uniqueBucket('ck-tls');
    await tls.s3.send(new CreateBucketCommand({ Bucket: b }));
    await tls.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'over tls' }));
    const u = await tlsUsers.create('ck-tls-reader', {
      read: [{
        Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`,
        Condition: { NumericGreaterThanEquals: { 's3:TlsVersion': '1.2' }, StringEquals: { 's3:ResourceAccount': acct } },
      }],
    });
    assert.equal(await (await u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }))).Body!.transformToString(), 'over tls');
    await u.put('read', {
      Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { NumericGreaterThan: { 's3:TlsVersion': '1.3' } },
    });
    await assertDenied(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })));
    await u.put('read', {
      Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringEquals: { 's3:ResourceAccount': '111122223333' } },
    });
    await assertDenied(u.s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })));
  } finally {
    tlsUsers.destroy();
    await tls.stop();
  }
  // Over plain HTTP the key is absent: an allow that needs it does not apply.
  const plain = uniqueBucket('ck-http');
  await srv.s3.send(new CreateBucketCommand({ Bucket: plain }));
  await srv.s3.send(new PutObjectCommand({ Bucket: plain, Key: 'k', Body: 'x' }));
  const h = await users.create('ck-http-reader', {
    read: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${plain}/*`, Condition: { NumericGreaterThanEquals: { 's3:TlsVersion': '1.2' } } }],
  });
  await assertDenied(h.s3.send(new GetObjectCommand({ Bucket: plain, Key: 'k' })));
});
