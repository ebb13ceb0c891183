// What odd and hand-rolled clients see, over node:http with no SDK in between:
// anonymous and badly signed requests, a body cut short, operations Coffer does not
// implement, and virtual-hosted-style addressing (Host: bucket.<domain>).

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import path from 'node:path';
import {
  CreateBucketCommand, GetObjectCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, committedBlobs, openRequest, patternBytes, rawRequest, tmpBlobs, waitFor, xmlText } from './support.js';
import fs from 'node:fs/promises';

const MiB = 1024 * 1024;

describe('path-style server', () => {
  let srv: TestServer;
  const bucket = uniqueBucket('raw');

  before(async () => {
    srv = await startTestServer();
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'present', Body: 'here' }));
  });
  after(async () => srv?.stop());

  /** Asserts an S3 error document with this code and status, whose RequestId matches the header. */
  function assertS3Error(r: { status: number; headers: http.IncomingHttpHeaders; body: string }, status: number, code: string): void {
    assert.equal(r.status, status, r.body);
    assert.match(String(r.headers['content-type']), /xml/);
    assert.match(r.body, /^<\?xml[^>]*\?>\s*<Error>/);
    assert.equal(xmlText(r.body, 'Code'), code, r.body);
    assert.ok(xmlText(r.body, 'Message'), 'has a Message');
    const id = r.headers['x-amz-request-id'];
    assert.ok(typeof id === 'string' && id.length > 0, 'x-amz-request-id header is set');
    assert.equal(xmlText(r.body, 'RequestId'), id, 'RequestId in the body is the header\'s');
  }

  test('an anonymous GET of an object is 403 AccessDenied with a request id', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}/present`, anonymous: true });
    assertS3Error(r, 403, 'AccessDenied');
    assert.doesNotMatch(r.body, /here/);
  });

  test('an anonymous ListBuckets is 403 AccessDenied', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: '/', anonymous: true });
    assertS3Error(r, 403, 'AccessDenied');
  });

  test('an anonymous HEAD is 403 with no body', async () => {
    const r = await rawRequest({ method: 'HEAD', url: srv.url, path: `/${bucket}/present`, anonymous: true });
    assert.equal(r.status, 403);
    assert.equal(r.body, '');
    assert.ok(r.headers['x-amz-request-id']);
  });

  test('a request signed with the wrong secret is 403 SignatureDoesNotMatch', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}/present`, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: 'not-the-secret-0123456789' } });
    assertS3Error(r, 403, 'SignatureDoesNotMatch');
  });

  test('a request signed with an unknown key id is 403 InvalidAccessKeyId', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}/present`, credentials: { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: ROOT_SECRET } });
    assertS3Error(r, 403, 'InvalidAccessKeyId');
  });

  test('a signed GET works over raw http (the signer used here is sound)', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}/present` });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'here');
  });

  test('GET ?website on a bucket is 501 NotImplemented', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}`, query: { website: '' } });
    assertS3Error(r, 501, 'NotImplemented');
  });

  test('PUT ?lifecycle without Content-MD5 or a checksum is 400 InvalidRequest, as AWS answers it', async () => {
    const body = Buffer.from('<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>');
    const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${bucket}`, query: { lifecycle: '' }, body, headers: { 'content-type': 'application/xml', 'content-length': String(body.length) } });
    assertS3Error(r, 400, 'InvalidRequest');
    assert.match(r.body, /Missing required header for this request: Content-MD5/);
  });

  test('PUT ?analytics on a bucket is 501 NotImplemented, not a silent success', async () => {
    const body = Buffer.from('<AnalyticsConfiguration><Id>x</Id></AnalyticsConfiguration>');
    const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${bucket}`, query: { analytics: '', id: 'x' }, body, headers: { 'content-type': 'application/xml', 'content-length': String(body.length) } });
    assertS3Error(r, 501, 'NotImplemented');
  });

  test('GET ?torrent on an object is 501 NotImplemented', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}/present`, query: { torrent: '' } });
    assertS3Error(r, 501, 'NotImplemented');
  });

  test('a PUT whose Content-MD5 does not match is 400 BadDigest and stores nothing', async () => {
    const before = await committedBlobs(srv.dataDir);
    const body = patternBytes(2 * MiB, 8);
    const wrongMd5 = createHash('md5').update('something else').digest('base64');
    const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${bucket}/bad-md5`, body, headers: { 'content-md5': wrongMd5, 'content-length': String(body.length) } });
    assertS3Error(r, 400, 'BadDigest');
    assert.equal((await rawRequest({ method: 'HEAD', url: srv.url, path: `/${bucket}/bad-md5` })).status, 404);
    assert.ok(await waitFor(async () => (await tmpBlobs(srv.dataDir)).length === 0, 5000), 'the rejected blob is removed');
    assert.deepEqual(await committedBlobs(srv.dataDir), before);
  });

  test('a PUT whose body does not match its signed x-amz-content-sha256 is 400 XAmzContentSHA256Mismatch and stores nothing', async () => {
    const before = await committedBlobs(srv.dataDir);
    const body = patternBytes(2 * MiB, 9);
    const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${bucket}/bad-sha`, body, payloadHash: createHash('sha256').update('other').digest('hex'), headers: { 'content-length': String(body.length) } });
    assertS3Error(r, 400, 'XAmzContentSHA256Mismatch');
    assert.equal((await rawRequest({ method: 'HEAD', url: srv.url, path: `/${bucket}/bad-sha` })).status, 404);
    assert.ok(await waitFor(async () => (await tmpBlobs(srv.dataDir)).length === 0, 5000), 'the rejected blob is removed');
    assert.deepEqual(await committedBlobs(srv.dataDir), before);
  });

  test('a body shorter than its Content-Length (connection dropped) stores no object and leaves no blob', async () => {
    const before = await committedBlobs(srv.dataDir);
    const body = patternBytes(4 * MiB, 7);
    const req = await openRequest({
      method: 'PUT', url: srv.url, path: `/${bucket}/cut-short`,
      headers: { 'content-length': String(body.length) },
    });
    req.on('error', () => undefined); // the destroy below
    req.write(body.subarray(0, 2.5 * MiB));
    // The server is really writing: its temporary blob holds some of the bytes.
    const writing = await waitFor(async () => {
      for (const f of await tmpBlobs(srv.dataDir)) {
        if ((await fs.stat(path.join(srv.dataDir, 'blobs', 'tmp', f)).catch(() => ({ size: 0 }))).size >= MiB) return true;
      }
      return false;
    }, 10_000);
    assert.ok(writing, 'the server started writing the body');
    req.destroy();

    assert.ok(await waitFor(async () => (await tmpBlobs(srv.dataDir)).length === 0, 5000), 'the partial blob is removed');
    assert.deepEqual(await committedBlobs(srv.dataDir), before, 'no blob was committed');
    const head = await rawRequest({ method: 'HEAD', url: srv.url, path: `/${bucket}/cut-short` });
    assert.equal(head.status, 404);
    const list = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'cut-short' }));
    assert.equal(list.KeyCount, 0);
  });
});

describe('virtual-hosted-style server (COFFER_DOMAIN=s3.local.test)', () => {
  const DOMAIN = 's3.local.test';
  let srv: TestServer;
  let port: number;
  let vs3: S3Client;
  const bucket = uniqueBucket('vhost');

  // Every name resolves to loopback, so bucket.s3.local.test reaches the test server.
  const lookup = ((_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (opts?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  }) as unknown as LookupFunction;

  before(async () => {
    srv = await startTestServer({ COFFER_DOMAIN: DOMAIN });
    port = srv.coffer.port;
    vs3 = new S3Client({
      endpoint: `http://${DOMAIN}:${port}`,
      region: 'us-east-1',
      forcePathStyle: false,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      requestHandler: { httpAgent: new http.Agent({ lookup }) },
    });
  });
  after(async () => {
    vs3?.destroy();
    await srv?.stop();
  });

  test('the SDK with forcePathStyle false creates, writes, lists and reads through bucket.<domain>', async () => {
    const seen: string[] = [];
    vs3.middlewareStack.add((next) => async (args) => {
      const r = args.request as { hostname?: string; path?: string };
      seen.push(`${r.hostname}${r.path}`);
      return next(args);
    }, { step: 'finalizeRequest', name: 'recordHost' });
    await vs3.send(new CreateBucketCommand({ Bucket: bucket }));
    await vs3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/v host.txt', Body: 'virtual' }));
    const list = await vs3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.deepEqual(list.Contents?.map((c) => c.Key), ['dir/v host.txt']);
    const got = await vs3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/v host.txt' }));
    assert.equal(await got.Body!.transformToString(), 'virtual');
    const buckets = await vs3.send(new ListBucketsCommand({}));
    assert.ok(buckets.Buckets?.some((b) => b.Name === bucket));
    // The requests really were virtual-hosted (the bucket is in the host, not the path).
    assert.ok(seen.some((s) => s.startsWith(`${bucket}.${DOMAIN}/dir/`)), seen.join('\n'));
    assert.ok(!seen.some((s) => s.includes(`/${bucket}/`)), seen.join('\n'));
  });

  test('a raw signed request with Host: bucket.<domain>:port reads the object', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, host: `${bucket}.${DOMAIN}:${port}`, path: '/dir/v%20host.txt' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'virtual');
  });

  test('path-style requests still work on a server with a domain', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}/dir/v%20host.txt` });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'virtual');
  });

  test('a virtual-hosted request for a missing bucket is 404 NoSuchBucket naming it', async () => {
    const r = await rawRequest({ method: 'GET', url: srv.url, host: `nope-${bucket}.${DOMAIN}:${port}`, path: '/x' });
    assert.equal(r.status, 404, r.body);
    assert.equal(xmlText(r.body, 'Code'), 'NoSuchBucket');
    assert.equal(xmlText(r.body, 'BucketName'), `nope-${bucket}`);
  });
});
