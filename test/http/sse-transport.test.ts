// The TLS rule for server-side encryption, end to end on one server listening on all
// interfaces: SSE-KMS and SSE-C requests (writes, and reads of such objects) over plain
// HTTP are refused for a client on a non-loopback address, accepted from loopback,
// accepted from anywhere with COFFER_ALLOW_SSE_OVER_HTTP=1, and accepted over HTTPS.
// Needs a non-loopback IPv4 interface; skipped without one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { rmSync } from 'node:fs';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { customerKey, getBody, ssec } from '../helpers/sse.js';
import { makeTestCertificate, type TestCertificate, nonLoopbackIPv4 } from '../helpers/tls.js';

const external = nonLoopbackIPv4();
const skip = !external && 'no non-loopback IPv4 interface here';

const KMS_OVER_HTTP = 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.';
const SSEC_OVER_HTTP = 'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.';

const servers: TestServer[] = [];
const clients: S3Client[] = [];
let cert: TestCertificate;

before(() => {
  cert = makeTestCertificate();
});

after(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) await s.stop();
  rmSync(cert.dir, { recursive: true, force: true });
});

/** A server on 0.0.0.0, a client that reaches it over loopback and one over the external interface. */
async function serve(env: Record<string, string>): Promise<{ local: S3Client; remote: S3Client; bucket: string }> {
  const srv = await startTestServer({ COFFER_ADDRESS: '0.0.0.0', ...env });
  servers.push(srv);
  const scheme = env.COFFER_TLS_CERT ? 'https' : 'http';
  // The certificate names 127.0.0.1 and localhost; the external address is checked by transport, not by name.
  const tls = env.COFFER_TLS_CERT ? { requestHandler: { httpsAgent: new Agent({ ca: cert.cert, checkServerIdentity: () => undefined }) } } : {};
  const local = srv.client({ ...tls, endpoint: `${scheme}://127.0.0.1:${srv.coffer.port}` });
  const remote = srv.client({ ...tls, endpoint: `${scheme}://${external}:${srv.coffer.port}`, maxAttempts: 1 });
  clients.push(local, remote);
  const bucket = uniqueBucket('sse-transport');
  await local.send(new CreateBucketCommand({ Bucket: bucket }));
  return { local, remote, bucket };
}

test('plain HTTP from a non-loopback client: SSE-KMS and SSE-C writes and reads are refused with InvalidRequest; loopback and unencrypted requests are not', { skip }, async () => {
  const { local, remote, bucket } = await serve({});
  const body = Buffer.from('sse over plain http');
  const k = customerKey();

  await assertFails(remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms', Body: body, ServerSideEncryption: 'aws:kms' })), 400, 'InvalidRequest', KMS_OVER_HTTP);
  await assertFails(remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: body, ...ssec(k) })), 400, 'InvalidRequest', SSEC_OVER_HTTP);

  // The same requests from loopback are fine, and so are the unencrypted ones from afar.
  await local.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms', Body: body, ServerSideEncryption: 'aws:kms' }));
  await local.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: body, ...ssec(k) }));
  await remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: body }));
  assert.ok((await getBody(remote, { Bucket: bucket, Key: 'plain' })).equals(body));
  assert.ok((await getBody(local, { Bucket: bucket, Key: 'kms' })).equals(body));

  // Reading an SSE-KMS or SSE-C object back over plain HTTP from afar is refused too.
  await assertFails(getBody(remote, { Bucket: bucket, Key: 'kms' }), 400, 'InvalidRequest', KMS_OVER_HTTP);
  await assertFails(getBody(remote, { Bucket: bucket, Key: 'ssec', ...ssec(k) }), 400, 'InvalidRequest', SSEC_OVER_HTTP);
});

test('COFFER_ALLOW_SSE_OVER_HTTP=1: a non-loopback client may write and read SSE-KMS and SSE-C over plain HTTP', { skip }, async () => {
  const { remote, bucket } = await serve({ COFFER_ALLOW_SSE_OVER_HTTP: '1' });
  const body = Buffer.from('trusted network');
  const k = customerKey();
  const put = await remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms', Body: body, ServerSideEncryption: 'aws:kms' }));
  assert.equal(put.ServerSideEncryption, 'aws:kms');
  assert.ok((await getBody(remote, { Bucket: bucket, Key: 'kms' })).equals(body));
  await remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: body, ...ssec(k) }));
  assert.ok((await getBody(remote, { Bucket: bucket, Key: 'ssec', ...ssec(k) })).equals(body));
});

test('HTTPS: a non-loopback client may write and read SSE-KMS and SSE-C without any flag', { skip }, async () => {
  const { remote, bucket } = await serve({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
  const body = Buffer.from('over tls from afar');
  const k = customerKey();
  const put = await remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms', Body: body, ServerSideEncryption: 'aws:kms' }));
  assert.equal(put.ServerSideEncryption, 'aws:kms');
  assert.ok((await getBody(remote, { Bucket: bucket, Key: 'kms' })).equals(body));
  await remote.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: body, ...ssec(k) }));
  const head = await remote.send(new HeadObjectCommand({ Bucket: bucket, Key: 'ssec', ...ssec(k) }));
  assert.equal(head.SSECustomerAlgorithm, 'AES256');
  assert.ok((await getBody(remote, { Bucket: bucket, Key: 'ssec', ...ssec(k) })).equals(body));
});
