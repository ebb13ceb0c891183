// The administration API's frame (src/admin/) against the real server: SigV4 with
// service "coffer", JSON errors, unknown routes, and the route table's authorization.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { CreateBucketCommand, DeletePublicAccessBlockCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { userFactory } from '../helpers/sse-principals.js';

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

test('whoami answers the signer: the root, then an IAM user', async () => {
  const root = await adminCall(srv, 'GET', 'whoami');
  assert.equal(root.status, 200);
  assert.equal(root.body['arn'], `arn:aws:iam::${srv.coffer.root.accountId}:root`);
  const u = await users.create('admin-api-who');
  const mine = await adminCall(srv, 'GET', 'whoami', { credentials: u.credentials });
  assert.equal(mine.status, 200);
  assert.equal(mine.body['userName'], 'admin-api-who');
});

test('unsigned, badly signed and unknown requests get JSON errors', async () => {
  const unsigned = await fetch(new URL('/_coffer/api/whoami', srv.url));
  assert.equal(unsigned.status, 403);
  assert.equal(((await unsigned.json()) as { __type: string }).__type, 'MissingAuthenticationToken');
  const bad = await adminCall(srv, 'GET', 'whoami', { credentials: { accessKeyId: 'AKIACOFFERTESTROOT01', secretAccessKey: 'wrong' } });
  assert.equal(bad.status, 403);
  assert.equal(bad.body['__type'], 'SignatureDoesNotMatch');
  const unknown = await adminCall(srv, 'GET', 'no/such/route');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body['__type'], 'UnknownOperation');
  const method = await adminCall(srv, 'DELETE', 'whoami');
  assert.equal(method.status, 405);
});

test('a bucket can never be named like the API prefix, so S3 keeps every real bucket', async () => {
  const r = await fetch(new URL('/_coffer', srv.url));
  assert.notEqual(r.status, 200);
});

test('a path that is not valid percent-encoding is a 400 ValidationException, not a server error', async () => {
  const r = await adminCall(srv, 'GET', '%E0%A4%A');
  assert.equal(r.status, 400);
  assert.equal(r.body['__type'], 'ValidationException');
});

test("on a virtual-hosted bucket's host, /metrics and /_coffer/... are object keys, not Coffer's pages", async () => {
  const vh = await startTestServer({ COFFER_DOMAIN: 's3.coffer.test' });
  try {
    const b = uniqueBucket('vh-pages');
    await vh.s3.send(new CreateBucketCommand({ Bucket: b }));
    await vh.s3.send(new DeletePublicAccessBlockCommand({ Bucket: b })); // new buckets block public policies
    await vh.s3.send(new PutBucketPolicyCommand({
      Bucket: b,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] }),
    }));
    for (const key of ['metrics', '_coffer/api/whoami', 'console/index.html']) await vh.s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: `object ${key}` }));
    const port = new URL(vh.url).port;
    const get = (host: string, path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers: { host } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const key of ['metrics', '_coffer/api/whoami', 'console/index.html']) {
      const r = await get(`${b}.s3.coffer.test:${port}`, `/${key}`);
      assert.equal(r.status, 200, `${key}: ${r.body}`);
      assert.equal(r.body, `object ${key}`);
    }
    // On the server's own host they are Coffer's.
    const own = await get(`127.0.0.1:${port}`, '/metrics');
    assert.equal(own.status, 200);
    assert.match(own.body, /coffer_s3_requests_total/);
  } finally {
    await vh.stop();
  }
});

test('a JSON body nested deeper than 64 levels or holding a 200 KiB string is a 400 ValidationException before the route runs', async () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 1000; i++) deep = { a: deep };
  const nested = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: 'none', key: 'k', check: true, extra: deep } });
  assert.equal(nested.status, 400);
  assert.equal(nested.body['__type'], 'ValidationException');
  assert.match(String(nested.body['message']), /nested more than 64 levels/);
  const huge = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: 'none', key: 'k', check: true, extra: 'x'.repeat(200 * 1024) } });
  assert.equal(huge.status, 400);
  assert.equal(huge.body['__type'], 'ValidationException');
  assert.match(String(huge.body['message']), /'extra' failed to satisfy constraint: Member must have length less than or equal to 65536/);
});

test('buckets/usage answers each bucket\'s object count and bytes, to a signer who may list buckets (s3:ListAllMyBuckets)', async () => {
  const b = uniqueBucket('usage-route');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'one', Body: 'x'.repeat(10) }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'two', Body: 'y'.repeat(32) }));
  const r = await adminCall(srv, 'GET', 'buckets/usage');
  assert.equal(r.status, 200);
  const rows = r.body['buckets'] as Array<{ bucket: string; objects: number; bytes: number }>;
  assert.deepEqual(rows.find((x) => x.bucket === b), { bucket: b, objects: 2, bytes: 42 });
  const u = await users.create('admin-api-usage');
  const refused = await adminCall(srv, 'GET', 'buckets/usage', { credentials: u.credentials });
  assert.equal(refused.status, 403);
  assert.equal(refused.body['__type'], 'AccessDeniedException');
  assert.match(String(refused.body['message']), /s3:ListAllMyBuckets/);
  await u.put('list-buckets', { Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' });
  assert.equal((await adminCall(srv, 'GET', 'buckets/usage', { credentials: u.credentials })).status, 200);
});
