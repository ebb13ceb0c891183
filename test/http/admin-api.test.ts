// The administration API's frame (http/admin-api.ts) against the real server: SigV4 with
// service "coffer", JSON errors, unknown routes, and the route table's authorization.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
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
