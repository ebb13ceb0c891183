// SigV2 requests made by hand against the real server: what AWS answers for a wrong
// signature, a skewed clock, an expired presigned URL and a bad Content-MD5; virtual-hosted
// buckets in the signed resource; `--no-sigv2` (COFFER_SIGV2=off) refusing SigV2 headers,
// URLs and POST forms as AWS refuses a signature version it does not take; and the KMS
// staying SigV4-only. The signer here is written out from the AWS page, independently of
// src/auth/sigv2-canonical.ts.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../interop/support.js';
import { startChildServer } from '../interop/support.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nonLoopbackIPv4 } from '../helpers/tls.js';

const sign = (toSign: string, secret = ROOT_SECRET) => createHmac('sha1', secret).update(toSign, 'utf8').digest('base64');

interface Res {
  status: number;
  body: string;
}

function send(base: string, method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer): Promise<Res> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), method, path: pathAndQuery, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A header-signed SigV2 request: StringToSign = VERB, Content-MD5, Content-Type, Date, x-amz-* headers, resource. */
function v2(base: string, method: string, path: string, opts: { resource?: string; headers?: Record<string, string>; body?: Buffer; date?: Date; secret?: string; sig?: string } = {}): Promise<Res> {
  const date = (opts.date ?? new Date()).toUTCString();
  const h: Record<string, string> = { date, ...(opts.headers ?? {}) };
  const amz = Object.keys(h).filter((k) => k.startsWith('x-amz-')).sort().map((k) => `${k}:${h[k]}\n`).join('');
  const toSign = `${method}\n${h['content-md5'] ?? ''}\n${h['content-type'] ?? ''}\n${date}\n${amz}${opts.resource ?? path}`;
  h.authorization = `AWS ${ROOT_KEY_ID}:${opts.sig ?? sign(toSign, opts.secret)}`;
  return send(base, method, path, h, opts.body);
}

function presigned(base: string, path: string, expires: number): string {
  const sig = sign(`GET\n\n\n${expires}\n${path}`);
  return `${base}${path}?AWSAccessKeyId=${ROOT_KEY_ID}&Expires=${expires}&Signature=${encodeURIComponent(sig)}`;
}

const code = (xml: string) => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
const message = (xml: string) => /<Message>([^<]*)<\/Message>/.exec(xml)?.[1];

describe('SigV2 on the real server', () => {
  let srv: TestServer;
  const bucket = uniqueBucket('v2raw');
  before(async () => {
    srv = await startTestServer({ COFFER_DOMAIN: 's3.coffer.test' });
    assert.equal((await v2(srv.url, 'PUT', `/${bucket}`)).status, 200);
    assert.equal((await v2(srv.url, 'PUT', `/${bucket}/k`, { body: Buffer.from('hello v2'), headers: { 'content-type': 'text/plain' } })).status, 200);
  });
  after(async () => srv?.stop());

  test('a sub-resource whose name is percent-encoded is signed as the router reads it: a signature without it does not carry it in', async () => {
    // Signed for GET /bucket/k; the same signature with ?%70olicy (policy) or ?%76ersionId=… added must not be accepted.
    const date = new Date().toUTCString();
    const sig = sign(`GET\n\n\n${date}\n/${bucket}/k`);
    for (const extra of ['%70olicy', '%76ersionId=null', '%61cl']) {
      const r = await send(srv.url, 'GET', `/${bucket}/k?${extra}`, { date, authorization: `AWS ${ROOT_KEY_ID}:${sig}` });
      assert.equal(r.status, 403, `${extra}: ${r.body}`);
      assert.equal(code(r.body), 'SignatureDoesNotMatch');
    }
    // Signed with the decoded name, the encoded request is accepted.
    const signed = await v2(srv.url, 'GET', `/${bucket}/k?%61cl`, { resource: `/${bucket}/k?acl` });
    assert.equal(signed.status, 200, signed.body);
  });

  test('sub-resources only some signers sign are accepted unsigned for reads, never for a PUT or DELETE', async () => {
    const b = uniqueBucket('v2ext');
    assert.equal((await v2(srv.url, 'PUT', `/${b}`)).status, 200);
    // A DeleteBucket-shaped signature (resource /b) replayed against ?ownershipControls / ?publicAccessBlock / ?encryption.
    for (const sub of ['ownershipControls', 'publicAccessBlock', 'encryption']) {
      const r = await v2(srv.url, 'DELETE', `/${b}?${sub}`, { resource: `/${b}` });
      assert.equal(r.status, 403, `${sub}: ${r.body}`);
      assert.equal(code(r.body), 'SignatureDoesNotMatch');
    }
    const signedDelete = await v2(srv.url, 'DELETE', `/${b}?publicAccessBlock`, { resource: `/${b}?publicAccessBlock` });
    assert.equal(signedDelete.status, 204, signedDelete.body);
    const unsignedRead = await v2(srv.url, 'GET', `/${b}?ownershipControls`, { resource: `/${b}` });
    assert.equal(unsignedRead.status, 200, unsignedRead.body);
  });

  test('a header-signed GET returns the object', async () => {
    const r = await v2(srv.url, 'GET', `/${bucket}/k`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'hello v2');
  });

  test('a wrong signature is 403 SignatureDoesNotMatch with the StringToSign and SignatureProvided, as AWS returns them', async () => {
    const r = await v2(srv.url, 'GET', `/${bucket}/k`, { secret: 'wrong-secret-key-000000000000000' });
    assert.equal(r.status, 403);
    assert.equal(code(r.body), 'SignatureDoesNotMatch');
    assert.match(r.body, new RegExp(`<StringToSign>GET&#10;&#10;&#10;[^<]+&#10;/${bucket}/k</StringToSign>`));
    assert.match(r.body, /<SignatureProvided>[A-Za-z0-9+/=]+<\/SignatureProvided>/);
    assert.match(r.body, /<StringToSignBytes>47 45 54 0a/);
    assert.doesNotMatch(r.body, /CanonicalRequest/);
  });

  test('an unknown access key is 403 InvalidAccessKeyId; a malformed header 400 InvalidArgument', async () => {
    const r = await send(srv.url, 'GET', `/${bucket}/k`, { date: new Date().toUTCString(), authorization: 'AWS AKIANOSUCHKEY000000:abc=' });
    assert.equal(r.status, 403);
    assert.equal(code(r.body), 'InvalidAccessKeyId');
    const m = await send(srv.url, 'GET', `/${bucket}/k`, { date: new Date().toUTCString(), authorization: 'AWS nocolon' });
    assert.equal(m.status, 400);
    assert.equal(code(m.body), 'InvalidArgument');
  });

  test('a Date 20 minutes old is 403 RequestTimeTooSkewed', async () => {
    const r = await v2(srv.url, 'GET', `/${bucket}/k`, { date: new Date(Date.now() - 20 * 60_000) });
    assert.equal(r.status, 403);
    assert.equal(code(r.body), 'RequestTimeTooSkewed');
  });

  test('a Content-MD5 that does not match the body is still BadDigest (SigV2 signs no payload)', async () => {
    const wrong = createHash('md5').update('other').digest('base64');
    const r = await v2(srv.url, 'PUT', `/${bucket}/md5`, { body: Buffer.from('payload'), headers: { 'content-md5': wrong } });
    assert.equal(r.status, 400, r.body);
    assert.equal(code(r.body), 'BadDigest');
    const right = createHash('md5').update('payload').digest('base64');
    assert.equal((await v2(srv.url, 'PUT', `/${bucket}/md5`, { body: Buffer.from('payload'), headers: { 'content-md5': right } })).status, 200);
  });

  test('virtual-hosted style: the Host bucket starts the signed resource', async () => {
    const host = `${bucket}.s3.coffer.test`;
    const ok = await v2(srv.url, 'GET', '/k', { headers: { host }, resource: `/${bucket}/k` });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.body, 'hello v2');
    const bad = await v2(srv.url, 'GET', '/k', { headers: { host }, resource: '/k' });
    assert.equal(code(bad.body), 'SignatureDoesNotMatch');
  });

  test('a presigned URL works until it expires, then is 403 AccessDenied "Request has expired"', async () => {
    const live = await fetch(presigned(srv.url, `/${bucket}/k`, Math.floor(Date.now() / 1000) + 300));
    assert.equal(live.status, 200);
    assert.equal(await live.text(), 'hello v2');
    const dead = await fetch(presigned(srv.url, `/${bucket}/k`, Math.floor(Date.now() / 1000) - 5));
    const body = await dead.text();
    assert.equal(dead.status, 403);
    assert.equal(code(body), 'AccessDenied');
    assert.equal(message(body), 'Request has expired');
    assert.match(body, /<Expires>[^<]+<\/Expires><ServerTime>[^<]+<\/ServerTime>/);
  });

  test('the KMS stays SigV4-only: a SigV2-signed KMS call is refused', async () => {
    const date = new Date().toUTCString();
    const r = await send(srv.url, 'POST', '/', {
      date,
      'x-amz-target': 'TrentService.ListKeys',
      'content-type': 'application/x-amz-json-1.1',
      authorization: `AWS ${ROOT_KEY_ID}:${sign(`POST\n\napplication/x-amz-json-1.1\n${date}\n/`)}`,
    }, Buffer.from('{}'));
    assert.equal(r.status, 400, r.body);
    assert.equal((JSON.parse(r.body) as { __type: string }).__type, 'IncompleteSignatureException');
  });
});

describe('SigV2 and the TLS rule for SSE-KMS and SSE-C', () => {
  const external = nonLoopbackIPv4();
  let srv: TestServer;
  const bucket = uniqueBucket('v2tls');
  before(async () => {
    srv = await startTestServer({ COFFER_ADDRESS: '0.0.0.0' });
  });
  after(async () => srv?.stop());

  test('a SigV2 SSE-KMS PUT over plain HTTP is refused from a non-loopback client and accepted from loopback', { skip: !external && 'no non-loopback IPv4 interface here' }, async () => {
    const local = `http://127.0.0.1:${srv.coffer.port}`;
    const remote = `http://${external}:${srv.coffer.port}`;
    assert.equal((await v2(local, 'PUT', `/${bucket}`)).status, 200);
    const headers = { 'x-amz-server-side-encryption': 'aws:kms' };
    const far = await v2(remote, 'PUT', `/${bucket}/kms`, { body: Buffer.from('secret'), headers });
    assert.equal(far.status, 400, far.body);
    assert.equal(code(far.body), 'InvalidRequest');
    assert.equal(message(far.body), 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.');
    assert.equal((await v2(local, 'PUT', `/${bucket}/kms`, { body: Buffer.from('secret'), headers })).status, 200);
  });
});

describe('--no-sigv2', () => {
  const refusal = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';
  let srv: TestServer;
  const bucket = uniqueBucket('nov2');
  before(async () => {
    srv = await startTestServer({ COFFER_SIGV2: 'off' });
  });
  after(async () => srv?.stop());

  test('COFFER_SIGV2=off: a SigV2 header, a SigV2 URL and a SigV2 POST form are 400 InvalidRequest naming AWS4-HMAC-SHA256', async () => {
    const h = await v2(srv.url, 'PUT', `/${bucket}`);
    assert.equal(h.status, 400);
    assert.equal(code(h.body), 'InvalidRequest');
    assert.equal(message(h.body), refusal);
    const q = await fetch(presigned(srv.url, `/${bucket}/k`, Math.floor(Date.now() / 1000) + 300));
    const qb = await q.text();
    assert.equal(q.status, 400);
    assert.equal(message(qb), refusal);
    await srv.s3.send(new (await import('@aws-sdk/client-s3')).CreateBucketCommand({ Bucket: bucket }));
    const policy = Buffer.from(JSON.stringify({ expiration: new Date(Date.now() + 60_000).toISOString(), conditions: [{ bucket }, { key: 'f' }] })).toString('base64');
    const form = new FormData();
    form.append('key', 'f');
    form.append('AWSAccessKeyId', ROOT_KEY_ID);
    form.append('policy', policy);
    form.append('signature', sign(policy));
    form.append('file', new Blob(['x']), 'f.txt');
    const p = await fetch(`${srv.url}/${bucket}`, { method: 'POST', body: form });
    const pb = await p.text();
    assert.equal(p.status, 400, pb);
    assert.equal(message(pb), refusal);
  });

  test('`coffer server --no-sigv2` refuses SigV2 (and SigV2 works without the flag)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-nov2-'));
    try {
      const child = await startChildServer(dataDir, { COFFER_FSYNC: 'false' }, ['--no-sigv2']);
      try {
        const r = await v2(child.url, 'GET', '/');
        assert.equal(r.status, 400);
        assert.equal(message(r.body), refusal);
      } finally {
        await child.stop();
      }
      const child2 = await startChildServer(dataDir, { COFFER_FSYNC: 'false' });
      try {
        assert.equal((await v2(child2.url, 'GET', '/')).status, 200);
      } finally {
        await child2.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
