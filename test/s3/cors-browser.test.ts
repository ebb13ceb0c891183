// Bucket CORS proven from a real browser: playwright-core drives Debian's Chromium, which
// loads a page from another origin (a tiny server on another loopback port) and runs
// fetch() against Coffer — a presigned PUT and GET, and a header-signed PUT whose
// Authorization and x-amz-* headers force a preflight. Signing happens here, in the test
// process; the page only sends. Chromium enforces CORS itself: the same calls fail
// before the bucket allows the page's origin, succeed once it does, and fail again when
// the rules name another origin.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutBucketCorsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../helpers/sha256.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
// As the console test: a developer machine without Chromium skips; in CI (CI set) a missing browser fails.
const NO_BROWSER = existsSync(CHROMIUM) || process.env['CI'] ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;

interface FetchResult {
  ok: boolean;
  status?: number;
  text?: string;
  etag?: string | null;
  error?: string;
}

/** Runs fetch() in the page (the other origin) and reports what the page could see. */
function pageFetch(page: Page, url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<FetchResult> {
  return page.evaluate(async ({ url, init }) => {
    try {
      // no-store: a presigned URL made in the same second is the same URL, and a cached answer would hide the server's.
      const opts: Record<string, unknown> = { ...init, mode: 'cors', credentials: 'omit', cache: 'no-store' };
      const res = await fetch(url, opts as RequestInit);
      return { ok: true, status: res.status, text: await res.text(), etag: res.headers.get('etag') };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  }, { url, init });
}

async function startPageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>other origin</title><p>cross-origin page</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A PUT signed in the Authorization header (not presigned): the browser must preflight its headers. */
async function headerSignedPut(srv: TestServer, bucket: string, key: string, body: string): Promise<{ url: string; headers: Record<string, string> }> {
  const url = new URL(`/${bucket}/${key}`, srv.url);
  const signer = new SignatureV4({ credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
  const signed = await signer.sign({
    method: 'PUT', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {},
    headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') },
    body,
  });
  const headers = { ...(signed.headers as Record<string, string>) };
  delete headers.host; // the browser sets Host itself (and would refuse to)
  return { url: url.href, headers };
}

test('a page on another origin PUTs and GETs through fetch() only when the bucket\'s CORS rules allow its origin', { skip: NO_BROWSER, timeout: 120_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing and CI is set: the browser CORS test must run in CI (apt-get install chromium)`);
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  let srv: TestServer | undefined;
  let pageServer: Server | undefined;
  try {
    srv = await startTestServer();
    const other = await startPageServer();
    pageServer = other.server;
    assert.notEqual(new URL(srv.url).origin, other.origin, 'the page and Coffer are different origins');
    const s3 = srv.s3;
    const bucket = 'cors-browser';
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(other.origin + '/');
    const presignPut = (key: string) => getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 600 });
    const presignGet = (key: string) => getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 600 });
    const exists = async (key: string) => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(() => true, () => false);

    // 1. No CORS configuration: the preflight is refused, so the PUT is never sent; the GET's answer is hidden.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'seed.txt', Body: 'seeded by the test' }));
    const refusedPut = await pageFetch(page, await presignPut('blocked.txt'), { method: 'PUT', body: 'from the browser', headers: { 'content-type': 'text/plain' } });
    assert.equal(refusedPut.ok, false, `the PUT must fail without CORS: ${JSON.stringify(refusedPut)}`);
    assert.match(refusedPut.error!, /TypeError/);
    assert.equal(await exists('blocked.txt'), false, 'the refused preflight kept the PUT from being sent');
    const refusedGet = await pageFetch(page, await presignGet('seed.txt'), { method: 'GET' });
    assert.equal(refusedGet.ok, false, 'without Access-Control-Allow-Origin the page cannot read the object');

    // 2. Rules allowing the page's origin: the same calls work, and the exposed ETag is readable.
    await s3.send(new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: { CORSRules: [{ AllowedOrigins: [other.origin], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 0 }] },
    }));
    const put = await pageFetch(page, await presignPut('hello.txt'), { method: 'PUT', body: 'hello from the browser', headers: { 'content-type': 'text/plain' } });
    assert.deepEqual({ ok: put.ok, status: put.status }, { ok: true, status: 200 }, JSON.stringify(put));
    assert.equal(put.etag, `"${createHash('md5').update('hello from the browser').digest('hex')}"`, 'ETag is exposed to the page');
    const get = await pageFetch(page, await presignGet('hello.txt'), { method: 'GET' });
    assert.deepEqual({ ok: get.ok, status: get.status, text: get.text }, { ok: true, status: 200, text: 'hello from the browser' });
    const signed = await headerSignedPut(srv, bucket, 'signed.txt', 'signed in the test, sent by the page');
    const signedPut = await pageFetch(page, signed.url, { method: 'PUT', headers: signed.headers, body: 'signed in the test, sent by the page' });
    assert.deepEqual({ ok: signedPut.ok, status: signedPut.status }, { ok: true, status: 200 }, JSON.stringify(signedPut));
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'signed.txt' }));
    assert.equal(await stored.Body!.transformToString(), 'signed in the test, sent by the page');

    // 3. Rules naming another origin: refused again.
    await s3.send(new PutBucketCorsCommand({
      Bucket: bucket,
      CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['https://elsewhere.example'], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['*'] }] },
    }));
    const otherPut = await pageFetch(page, await presignPut('again.txt'), { method: 'PUT', body: 'nope', headers: { 'content-type': 'text/plain' } });
    assert.equal(otherPut.ok, false);
    assert.equal(await exists('again.txt'), false);
    assert.equal((await pageFetch(page, await presignGet('hello.txt'), { method: 'GET' })).ok, false);
    await context.close();
  } finally {
    await browser.close();
    await srv?.stop();
    pageServer?.close();
  }
});
