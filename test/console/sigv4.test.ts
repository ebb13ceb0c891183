// The console's browser SigV4 signer (src/console/web/sigv4.ts) run in Node on WebCrypto
// against the real server: S3 (object keys and query values needing encoding, an
// UNSIGNED-PAYLOAD upload), KMS JSON, IAM Query, STS and the admin API each accept its
// signatures, and reject them when the secret or the signed content is wrong.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { canonicalQuery, encodeKeyPath, encodeRfc3986, signRequest, type Credentials } from '../../src/console/web/sigv4.js';
import { startTestServer, ROOT_KEY_ID, ROOT_SECRET, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const root: Credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
before(async () => {
  srv = await startTestServer();
  await srv.s3.send(new CreateBucketCommand({ Bucket: 'signer' }));
});
after(() => srv.stop());

async function call(opts: {
  method: string;
  path: string;
  query?: Array<[string, string]>;
  headers?: Record<string, string>;
  body?: string;
  payloadHash?: string;
  service: string;
  region?: string;
  credentials?: Credentials;
}): Promise<Response> {
  const host = new URL(srv.url).host;
  const headers = await signRequest({
    method: opts.method,
    host,
    path: opts.path,
    query: opts.query ?? [],
    headers: opts.headers ?? {},
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.payloadHash ? { payloadHash: opts.payloadHash } : {}),
    service: opts.service,
    region: opts.region ?? 'us-east-1',
    credentials: opts.credentials ?? root,
  });
  const qs = canonicalQuery(opts.query ?? []);
  return fetch(`${srv.url}${opts.path}${qs ? `?${qs}` : ''}`, { method: opts.method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
}

test('RFC 3986 encoding: what SigV4 and S3 keys need', () => {
  assert.equal(encodeRfc3986("a b+c/d!'()*~._-"), "a%20b%2Bc%2Fd%21%27%28%29%2A~._-");
  assert.equal(encodeKeyPath('dir one/ä&b=c.txt'), 'dir%20one/%C3%A4%26b%3Dc.txt');
  assert.equal(canonicalQuery([['prefix', 'a b/'], ['list-type', '2'], ['delimiter', '/']]), 'delimiter=%2F&list-type=2&prefix=a%20b%2F');
});

test('S3: an UNSIGNED-PAYLOAD upload and a listing with encoded query values', async () => {
  const key = 'dir one/ä&b=c (1).txt';
  const put = await call({ method: 'PUT', path: `/signer/${encodeKeyPath(key)}`, service: 's3', payloadHash: 'UNSIGNED-PAYLOAD', headers: { 'content-type': 'text/plain', 'x-amz-server-side-encryption': 'AES256' }, body: 'hello signer' });
  assert.equal(put.status, 200, await put.text());
  assert.equal(put.headers.get('x-amz-server-side-encryption'), 'AES256');
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: 'signer', Key: key }));
  assert.equal(await got.Body!.transformToString(), 'hello signer');
  const list = await call({ method: 'GET', path: '/signer', service: 's3', query: [['list-type', '2'], ['prefix', 'dir one/'], ['delimiter', '/']] });
  assert.equal(list.status, 200);
  assert.match(await list.text(), /<Key>dir one\/ä&amp;b=c \(1\)\.txt<\/Key>/);
});

test('S3 refuses a signature made with the wrong secret, or over other headers', async () => {
  const bad = await call({ method: 'GET', path: '/signer', service: 's3', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: 'wrong' } });
  assert.equal(bad.status, 403);
  assert.match(await bad.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
  const host = new URL(srv.url).host;
  const headers = await signRequest({ method: 'PUT', host, path: '/signer/x', headers: { 'x-amz-server-side-encryption': 'AES256' }, payloadHash: 'UNSIGNED-PAYLOAD', service: 's3', region: 'us-east-1', credentials: root });
  headers['x-amz-server-side-encryption'] = 'aws:kms';
  const tampered = await fetch(`${srv.url}/signer/x`, { method: 'PUT', headers, body: 'x' });
  assert.equal(tampered.status, 403);
});

test('KMS JSON, IAM and STS Query, and the admin API accept its signatures', async () => {
  const kms = await call({ method: 'POST', path: '/', service: 'kms', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.CreateKey' }, body: JSON.stringify({ Description: 'signed in node' }) });
  assert.equal(kms.status, 200);
  const created = (await kms.json()) as { KeyMetadata: { Description: string } };
  assert.equal(created.KeyMetadata.Description, 'signed in node');
  const iam = await call({ method: 'POST', path: '/', service: 'iam', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: 'Action=CreateUser&Version=2010-05-08&UserName=signer-user' });
  assert.equal(iam.status, 200);
  assert.match(await iam.text(), /<UserName>signer-user<\/UserName>/);
  const sts = await call({ method: 'POST', path: '/', service: 'sts', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' });
  assert.equal(sts.status, 200);
  assert.match(await sts.text(), /<Arn>arn:aws:iam::\d{12}:root<\/Arn>/);
  const who = await call({ method: 'GET', path: '/_coffer/api/whoami', service: 'coffer' });
  assert.equal(who.status, 200);
  assert.equal(((await who.json()) as { kind: string }).kind, 'root');
});

test("a wrong region is refused with the server's region in the message (sign-in retries with it)", async () => {
  const r = await call({ method: 'GET', path: '/_coffer/api/whoami', service: 'coffer', region: 'eu-west-3' });
  assert.ok(r.status >= 400 && r.status < 500, String(r.status));
  assert.match(((await r.json()) as { message: string }).message, /expecting 'us-east-1'/);
});
