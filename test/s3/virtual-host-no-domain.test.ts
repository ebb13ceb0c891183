// A server started without --domain reads every request path-style. A virtual-hosted
// request it cannot serve (Host `<existing bucket>.localhost` or `<existing bucket>.<IPv4>`)
// is refused with 400 InvalidRequest saying how to fix it, instead of being misrouted
// (`PUT bucket.localhost/key` used to be CreateBucket "key"). Path-style access behind any
// other host name is untouched, even one whose first label is a bucket's name.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawRequest, xmlText } from '../interop/support.js';

let srv: TestServer;
let bucket: string;
let port: string;
before(async () => {
  srv = await startTestServer();
  port = new URL(srv.url).port;
  bucket = uniqueBucket('vh');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'present', Body: 'here' }));
  // A bucket named like the first label of an ordinary host name.
  await srv.s3.send(new CreateBucketCommand({ Bucket: 'coffer' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: 'coffer', Key: 'k', Body: 'in coffer' }));
});
after(async () => srv?.stop());

function assertMisrouted(r: { status: number; body: string }, host: string): void {
  assert.equal(r.status, 400, r.body);
  assert.equal(xmlText(r.body, 'Code'), 'InvalidRequest');
  assert.equal(
    xmlText(r.body, 'Message'),
    `Virtual-hosted-style request for host ${host}: start the server with --domain &lt;domain&gt; (COFFER_DOMAIN) to enable virtual-hosted buckets, or use path-style addressing.`,
  );
}

test('PUT bucket.localhost/key is refused with InvalidRequest, and no bucket named after the key appears', async () => {
  const host = `${bucket}.localhost`;
  const r = await rawRequest({ method: 'PUT', url: srv.url, host: `${host}:${port}`, path: '/newkey', body: Buffer.from('x') });
  assertMisrouted(r, host);
  await assert.rejects(srv.s3.send(new HeadBucketCommand({ Bucket: 'newkey' })), { name: 'NotFound' });
});

test('GET bucket.localhost/key and GET bucket.localhost/ are refused the same way', async () => {
  const host = `${bucket}.localhost`;
  assertMisrouted(await rawRequest({ method: 'GET', url: srv.url, host: `${host}:${port}`, path: '/present' }), host);
  assertMisrouted(await rawRequest({ method: 'GET', url: srv.url, host: `${host}:${port}`, path: '/' }), host);
});

test('a bucket label in front of an IPv4 address is refused too', async () => {
  const host = `${bucket}.127.0.0.1`;
  assertMisrouted(await rawRequest({ method: 'GET', url: srv.url, host: `${host}:${port}`, path: '/present' }), host);
});

test('the JS SDK with forcePathStyle false against http://localhost is told what to do', async () => {
  // *.localhost resolves to loopback by RFC 6761; not every test machine's resolver knows it.
  const lookup = ((_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (opts?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  }) as unknown as LookupFunction;
  const vh = srv.client({ endpoint: `http://localhost:${port}`, forcePathStyle: false, maxAttempts: 1, requestHandler: { httpAgent: new http.Agent({ lookup }) } });
  await assert.rejects(vh.send(new PutObjectCommand({ Bucket: bucket, Key: 'via-sdk', Body: 'x' })), (e: Error) => e.name === 'InvalidRequest' && /--domain/.test(e.message));
  vh.destroy();
});

for (const host of ['localhost', '127.0.0.1', 'coffer.internal', 's3.example.com', 'coffer.example.com', 'nosuchbucket.localhost']) {
  test(`path-style through Host ${host} still works`, async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, host: `${host}:${port}`, path: `/${bucket}/present` });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'here');
  });
}

test('path-style through Host coffer.internal reaches bucket "coffer" by its path, not by the host', async () => {
  const r = await rawRequest({ method: 'GET', url: srv.url, host: `coffer.internal:${port}`, path: '/coffer/k' });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, 'in coffer');
});

test('with --domain set, the same Host shape is virtual-hosted and served', async () => {
  const d = await startTestServer({ COFFER_DOMAIN: 'localhost' });
  try {
    const dport = new URL(d.url).port;
    await d.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const put = await rawRequest({ method: 'PUT', url: d.url, host: `${bucket}.localhost:${dport}`, path: '/vk', body: Buffer.from('virtual') });
    assert.equal(put.status, 200, put.body);
    const get = await rawRequest({ method: 'GET', url: d.url, host: `${bucket}.localhost:${dport}`, path: '/vk' });
    assert.equal(get.body, 'virtual');
  } finally {
    await d.stop();
  }
});
