// The console's asset server (src/console/serve.ts) through the real listener: content
// types, the Content-Security-Policy, revalidation, HEAD, and refusal of anything that
// is not a known asset (unknown names, traversal, encoded characters).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CONSOLE_CSP } from '../../src/console/serve.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(() => srv.stop());

/** A raw request (fetch would normalize "/console/../x" away before sending it). */
function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('/console answers index.html with a strict CSP and no inline script', async () => {
  for (const path of ['/console', '/console/', '/console/index.html', '/console?x=1']) {
    const r = await raw('GET', path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['content-security-policy'], CONSOLE_CSP);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.match(r.body, /<script type="module" src="\/console\/app\.js"><\/script>/);
    assert.doesNotMatch(r.body, /<script>|<script type="module">|\son[a-z]+=/i, 'no inline script or handler');
  }
  assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval/);
});

test('assets carry their content types and revalidate with an ETag', async () => {
  const cases: Array<[string, string]> = [
    ['/console/app.js', 'text/javascript; charset=utf-8'],
    ['/console/pages/keys.js', 'text/javascript; charset=utf-8'],
    ['/console/sigv4.js', 'text/javascript; charset=utf-8'],
    ['/console/console.css', 'text/css; charset=utf-8'],
    ['/console/favicon.svg', 'image/svg+xml'],
  ];
  for (const [path, type] of cases) {
    const r = await raw('GET', path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], type, path);
    assert.equal(r.headers['cache-control'], 'no-cache');
    const etag = r.headers.etag as string;
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const again = await raw('GET', path, { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
  }
  const head = await raw('HEAD', '/console/app.js');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.ok(Number(head.headers['content-length']) > 100);
});

test('unknown assets, traversal and encoded names are 404, never a file outside the assets', async () => {
  for (const path of [
    '/console/nope.js',
    '/console/../package.json',
    '/console/..%2f..%2fpackage.json',
    '/console/%2e%2e/%2e%2e/package.json',
    '/console/pages/../../../../etc/passwd',
    '/console/.hidden.js',
    '/console/app.ts',
    '/console/sigv4.js.map',
    '/console/APP.JS',
    '/console/pages/',
    '/console//app.js',
  ]) {
    const r = await raw('GET', path);
    assert.equal(r.status, 404, path);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', path);
    assert.doesNotMatch(r.body, /coffer|root:/i, path);
  }
});

test('a signed GET of /console is not the console: it goes to S3 (a bucket named console)', async () => {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  await assert.rejects(srv.s3.send(new ListObjectsV2Command({ Bucket: 'console' })), { name: 'NoSuchBucket' });
});

test("objects a browser would run (HTML, SVG, XML) are sandboxed away from the console's origin; others are not", async () => {
  const { CreateBucketCommand, GetObjectCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  const b = `console-sandbox-${Date.now()}`;
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  const cases: [string, string, boolean][] = [
    ['page.html', 'text/html; charset=utf-8', true],
    ['pic.svg', 'image/svg+xml', true],
    ['doc.xhtml', 'application/xhtml+xml', true],
    ['data.json', 'application/json', false],
    ['blob.bin', 'application/octet-stream', false],
  ];
  for (const [key, type, sandboxed] of cases) {
    await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: '<script>sessionStorage</script>', ContentType: type }));
    const url = new URL(await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: b, Key: key }), { expiresIn: 60 }));
    const r = await raw('GET', url.pathname + url.search);
    assert.equal(r.status, 200, key);
    const csp = r.headers['content-security-policy'];
    if (sandboxed) assert.match(String(csp), /^sandbox /, key);
    else assert.equal(csp, undefined, key);
  }
  // A response-content-type override that turns a binary into HTML is sandboxed too.
  const over = new URL(await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: b, Key: 'blob.bin', ResponseContentType: 'text/html' }), { expiresIn: 60 }));
  const r = await raw('GET', over.pathname + over.search);
  assert.equal(r.headers['content-type'], 'text/html');
  assert.match(String(r.headers['content-security-policy']), /^sandbox /);
});
