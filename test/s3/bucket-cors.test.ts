// Bucket CORS against the real server: Put/Get/DeleteBucketCors through @aws-sdk/client-s3
// with AWS's validation errors, and the runtime behaviour pinned to AWS's recorded answers
// (LocalStack's AWS-validated snapshots of TestS3Cors): unsigned preflight OPTIONS (200
// with the rule's headers, 403 AccessForbidden, 400 without Origin) and the CORS headers
// of cross-origin GETs, PUTs and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand, DeleteBucketCorsCommand, GetBucketCorsCommand, PutBucketCorsCommand, PutObjectCommand, type CORSRule,
} from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../helpers/sha256.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';

let srv: TestServer;
const NOT_ALLOWED = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';
const ORIGIN = 'https://localhost:4200';

before(async () => {
  srv = await startTestServer();
});
after(async () => srv?.stop());

async function bucketWith(rules?: CORSRule[]): Promise<string> {
  const b = uniqueBucket('cors');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'obj', Body: 'test-cors' }));
  if (rules) await srv.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: rules } }));
  return b;
}

/** A raw request, unsigned unless `sign`; the headers and body as the server sent them. */
async function raw(method: string, path: string, headers: Record<string, string> = {}, opts: { sign?: boolean; body?: string } = {}) {
  const url = new URL(path, srv.url);
  let h = headers;
  if (opts.sign) {
    const signer = new SignatureV4({ credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const body = opts.body ?? '';
    const signed = await signer.sign({
      method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query,
      headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), ...headers },
      body,
    });
    h = signed.headers as Record<string, string>;
  }
  const res = await fetch(url, { method, headers: h, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await res.text();
  const cors: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k.startsWith('access-control-') || k === 'vary') cors[k] = v;
  });
  return { status: res.status, text, cors, headers: res.headers };
}

function errorOf(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of xml.matchAll(/<(\w+)>([^<]*)<\/\1>/g)) if (m[1] !== 'RequestId' && m[1] !== 'HostId' && m[1] !== 'Resource') out[m[1]!] = m[2]!.replace(/&apos;/g, "'");
  return out;
}

test('PutBucketCors then GetBucketCors answers the rules as put; DeleteBucketCors (204, idempotent) leaves NoSuchCORSConfiguration', async () => {
  const b = await bucketWith();
  await assertFails(srv.s3.send(new GetBucketCorsCommand({ Bucket: b })), 404, 'NoSuchCORSConfiguration', 'The CORS configuration does not exist', { BucketName: b });
  const rules: CORSRule[] = [
    { ID: 'first', AllowedOrigins: ['https://test.com', 'https://*.test.com'], AllowedMethods: ['GET', 'PUT', 'HEAD'], AllowedHeaders: ['x-amz-expected-bucket-owner', 'x-AMZ-server-SIDE-encryption'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3000 },
    { AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
  ];
  const put = await srv.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: rules } }));
  assert.equal(put.$metadata.httpStatusCode, 200);
  const got = await srv.s3.send(new GetBucketCorsCommand({ Bucket: b }));
  assert.deepEqual(got.CORSRules, rules);
  const del = await srv.s3.send(new DeleteBucketCorsCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  assert.equal((await srv.s3.send(new DeleteBucketCorsCommand({ Bucket: b }))).$metadata.httpStatusCode, 204);
  await assertFails(srv.s3.send(new GetBucketCorsCommand({ Bucket: b })), 404, 'NoSuchCORSConfiguration');
  await assertFails(srv.s3.send(new GetBucketCorsCommand({ Bucket: uniqueBucket('nocors') })), 404, 'NoSuchBucket');
});

test('PutBucketCors validates as AWS: methods, rule count, wildcards, ExposeHeader, empty rules', async () => {
  const b = await bucketWith();
  const put = (CORSRules: CORSRule[]) => srv.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules } }));
  await assertFails(put([{ AllowedOrigins: ['*'], AllowedMethods: ['GET', 'MYMETHOD'] }]), 400, 'InvalidRequest', 'Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD');
  await assertFails(put([{ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }]), 400, 'InvalidRequest', 'Found unsupported HTTP method in CORS config. Unsupported method is PATCH');
  await assertFails(put([]), 400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  await assertFails(put(Array.from({ length: 101 }, () => ({ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }))), 400, 'MalformedXML');
  assert.equal((await put(Array.from({ length: 100 }, () => ({ AllowedOrigins: ['*'], AllowedMethods: ['GET'] })))).$metadata.httpStatusCode, 200);
  await assertFails(put([{ AllowedOrigins: ['https://*.example.*'], AllowedMethods: ['GET'] }]), 400, 'InvalidRequest', 'AllowedOrigin "https://*.example.*" can not have more than one wildcard.');
  await assertFails(put([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], AllowedHeaders: ['x-*-*'] }]), 400, 'InvalidRequest', 'AllowedHeader "x-*-*" can not have more than one wildcard.');
  await assertFails(put([{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], ExposeHeaders: ['*'] }]), 400, 'InvalidRequest', 'ExposeHeader "*" contains wildcard. We currently do not support wildcard for ExposeHeader.');
  await assertFails(put([{ AllowedOrigins: [], AllowedMethods: ['GET'] }]), 400, 'MalformedXML');
  // An empty origin is kept as given (AWS's test_put_cors_empty_origin).
  await put([{ AllowedOrigins: [''], AllowedMethods: ['GET', 'PUT', 'HEAD'] }]);
  assert.deepEqual((await srv.s3.send(new GetBucketCorsCommand({ Bucket: b }))).CORSRules, [{ AllowedOrigins: [''], AllowedMethods: ['GET', 'PUT', 'HEAD'] }]);
});

test('PutBucketCors without Content-MD5 or a checksum is InvalidRequest; a wrong Content-MD5 is BadDigest', async () => {
  const b = await bucketWith();
  const body = '<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>';
  const r = await raw('PUT', `/${b}?cors`, {}, { sign: true, body });
  assert.equal(r.status, 400);
  assert.deepEqual(errorOf(r.text), { Code: 'InvalidRequest', Message: 'Missing required header for this request: Content-MD5' });
  const bad = await raw('PUT', `/${b}?cors`, { 'content-md5': createHash('md5').update('other').digest('base64') }, { sign: true, body });
  assert.equal(bad.status, 400);
  assert.equal(errorOf(bad.text).Code, 'BadDigest');
  const ok = await raw('PUT', `/${b}?cors`, { 'content-md5': createHash('md5').update(body).digest('base64') }, { sign: true, body });
  assert.equal(ok.status, 200);
});

test('preflight without a CORS configuration, without Origin, and on a missing bucket: AWS\'s 403 and 400 answers', async () => {
  const b = await bucketWith();
  const noOrigin = await raw('OPTIONS', `/${b}/obj`);
  assert.equal(noOrigin.status, 400);
  assert.deepEqual(errorOf(noOrigin.text), { Code: 'BadRequest', Message: 'Insufficient information. Origin request header needed.' });
  const off = await raw('OPTIONS', `/${b}/obj`, { origin: 'whatever', 'access-control-request-method': 'PUT' });
  assert.equal(off.status, 403);
  assert.deepEqual(errorOf(off.text), { Code: 'AccessForbidden', Message: 'CORSResponse: CORS is not enabled for this bucket.', Method: 'PUT', ResourceType: 'BUCKET' });
  const offNoMethod = await raw('OPTIONS', `/${b}/obj`, { origin: 'whatever' });
  assert.deepEqual(errorOf(offNoMethod.text), { Code: 'AccessForbidden', Message: 'CORSResponse: CORS is not enabled for this bucket.', Method: 'OPTIONS', ResourceType: 'BUCKET' });
  const missing = await raw('OPTIONS', `/${uniqueBucket('nobucket')}/obj`, { origin: 'whatever' });
  assert.equal(missing.status, 403);
  assert.deepEqual(errorOf(missing.text), { Code: 'AccessForbidden', Message: 'CORSResponse: Bucket not found', Method: 'OPTIONS', ResourceType: 'BUCKET' });
  assert.deepEqual(off.cors, {}, 'a refused preflight carries no CORS headers');
  // GET with Origin on a bucket without CORS: no CORS headers at all.
  const get = await raw('GET', `/${b}/obj`, { origin: 'whatever' }, { sign: true });
  assert.equal(get.status, 200);
  assert.deepEqual(get.cors, {});
});

test('matching origins: the right origin is echoed with credentials, a wrong one refused, "*" answers "*" (test_cors_match_origins)', async () => {
  const b = await bucketWith([{ AllowedOrigins: [ORIGIN], AllowedMethods: ['GET', 'PUT'], MaxAgeSeconds: 3000, AllowedHeaders: ['*'] }]);
  const right = await raw('OPTIONS', `/${b}/obj`, { origin: ORIGIN, 'access-control-request-method': 'PUT' });
  assert.equal(right.status, 200);
  assert.equal(right.text, '');
  assert.equal(right.headers.get('content-length'), '0');
  assert.deepEqual(right.cors, {
    'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'GET, PUT', 'access-control-allow-origin': ORIGIN, 'access-control-max-age': '3000', vary: VARY,
  });
  const get = await raw('GET', `/${b}/obj`, { origin: ORIGIN }, { sign: true });
  assert.equal(get.text, 'test-cors');
  assert.deepEqual(get.cors, right.cors);
  const noOrigin = await raw('GET', `/${b}/obj`, {}, { sign: true });
  assert.deepEqual(noOrigin.cors, {}, 'no Origin, no CORS headers (and no Vary)');
  const wrong = await raw('OPTIONS', `/${b}/obj`, { origin: 'http://localhost:4200', 'access-control-request-method': 'PUT' });
  assert.equal(wrong.status, 403);
  assert.deepEqual(errorOf(wrong.text), { Code: 'AccessForbidden', Message: NOT_ALLOWED, Method: 'PUT', ResourceType: 'OBJECT' });
  const wrongBucket = await raw('OPTIONS', `/${b}`, { origin: 'http://localhost:4200', 'access-control-request-method': 'GET' });
  assert.equal(errorOf(wrongBucket.text).ResourceType, 'BUCKET');
  assert.deepEqual((await raw('GET', `/${b}/obj`, { origin: 'http://localhost:4200' }, { sign: true })).cors, {});

  await srv.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET', 'PUT'], MaxAgeSeconds: 3000, AllowedHeaders: ['*'] }] } }));
  const any = await raw('OPTIONS', `/${b}/obj`, { origin: 'http://random:1234', 'access-control-request-method': 'PUT' });
  assert.deepEqual(any.cors, { 'access-control-allow-methods': 'GET, PUT', 'access-control-allow-origin': '*', 'access-control-max-age': '3000', vary: VARY });
});

test('one wildcard in an origin matches a subdomain; methods and requested headers must be allowed (test_cors_match_methods, _headers)', async () => {
  const b = await bucketWith([{ AllowedOrigins: ['http://*.origin.com'], AllowedMethods: ['GET'], MaxAgeSeconds: 3000, AllowedHeaders: ['x-amz-expected-bucket-owner', 'x-AMZ-server-SIDE-encryption'] }]);
  const ok = await raw('OPTIONS', `/${b}/obj`, { origin: 'http://test.origin.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-amz-expected-bucket-owner, X-Amz-Server-Side-Encryption' });
  assert.equal(ok.status, 200);
  assert.equal(ok.cors['access-control-allow-headers'], 'x-amz-expected-bucket-owner, x-amz-server-side-encryption');
  assert.equal(ok.cors['access-control-allow-origin'], 'http://test.origin.com');
  const badHeader = await raw('OPTIONS', `/${b}/obj`, { origin: 'http://test.origin.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-amz-request-payer' });
  assert.equal(badHeader.status, 403);
  assert.deepEqual(errorOf(badHeader.text), { Code: 'AccessForbidden', Message: NOT_ALLOWED, Method: 'GET', ResourceType: 'OBJECT' });
  const badMethod = await raw('OPTIONS', `/${b}/obj`, { origin: 'http://test.origin.com', 'access-control-request-method': 'PUT' });
  assert.equal(badMethod.status, 403);
  assert.equal((await raw('OPTIONS', `/${b}/obj`, { origin: 'http://origin.com', 'access-control-request-method': 'GET' })).status, 403, 'the wildcard needs a subdomain');
  // A GET naming another method in Access-Control-Request-Method is judged by that method, as AWS does.
  assert.deepEqual((await raw('GET', `/${b}/obj`, { origin: 'http://test.origin.com', 'access-control-request-method': 'PUT' }, { sign: true })).cors, {});
  // Request headers the rule does not list do not matter on the actual request.
  const get = await raw('GET', `/${b}/obj`, { origin: 'http://test.origin.com', 'x-amz-request-payer': 'requester' }, { sign: true });
  assert.equal(get.cors['access-control-allow-origin'], 'http://test.origin.com');
  // A rule without AllowedHeader refuses a preflight that asks for any header (test_put_cors_default_values).
  await srv.s3.send(new PutBucketCorsCommand({ Bucket: b, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'], ExposeHeaders: ['x-amz-id-2', 'x-amz-request-id'] }] } }));
  const plain = await raw('OPTIONS', `/${b}/obj`, { origin: 'localhost:4566', 'access-control-request-method': 'GET' });
  assert.deepEqual(plain.cors, { 'access-control-allow-methods': 'GET', 'access-control-allow-origin': '*', 'access-control-expose-headers': 'x-amz-id-2, x-amz-request-id', vary: VARY });
  assert.equal((await raw('OPTIONS', `/${b}/obj`, { origin: 'localhost:4566', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-amz-request-payer' })).status, 403);
});

test('an unsigned preflight answers only CORS: no object body, metadata or ETag; errors of cross-origin requests carry the CORS headers', async () => {
  const b = await bucketWith([{ AllowedOrigins: [ORIGIN], AllowedMethods: ['GET', 'PUT'], ExposeHeaders: ['ETag'] }]);
  const pre = await raw('OPTIONS', `/${b}/obj`, { origin: ORIGIN, 'access-control-request-method': 'GET' });
  assert.equal(pre.status, 200);
  assert.equal(pre.text, '');
  for (const h of ['etag', 'last-modified', 'content-type', 'x-amz-server-side-encryption']) assert.equal(pre.headers.get(h), null, `${h} is not answered`);
  const missing = await raw('GET', `/${b}/nope`, { origin: ORIGIN }, { sign: true });
  assert.equal(missing.status, 404);
  assert.equal(missing.cors['access-control-allow-origin'], ORIGIN);
  const anonymous = await raw('GET', `/${b}/obj`, { origin: ORIGIN });
  assert.equal(anonymous.status, 403);
  assert.equal(errorOf(anonymous.text).Code, 'AccessDenied', 'CORS allows the browser to read, not the request to succeed');
  assert.equal(anonymous.cors['access-control-allow-origin'], ORIGIN);
});
