// Slow clients cannot hold a connection forever: a body that stops arriving is cut with
// S3's 400 RequestTimeout (KMS: 408 RequestTimeoutException) and the connection closed,
// leaving the previous object intact; a connection that never finishes its headers is
// closed after the headers timeout; headers over Node's limit get S3's XML error.
// Timeouts are 0.3 s here, not the production defaults.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rawConnection, requestHead, statusOf, within, xmlText } from './raw-socket.js';

let srv: TestServer;
let port: number;
before(async () => {
  srv = await startTestServer({ COFFER_BODY_IDLE_TIMEOUT_SECONDS: '0.3', COFFER_HEADERS_TIMEOUT_SECONDS: '0.3' });
  port = srv.coffer.port;
  await srv.s3.send(new CreateBucketCommand({ Bucket: 'slow' }));
});
after(async () => srv?.stop());

const REQUEST_TIMEOUT_MESSAGE = 'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.';

test('a PUT that stalls mid-body is 400 RequestTimeout, the connection is closed and the previous object stays', async () => {
  await srv.s3.send(new PutObjectCommand({ Bucket: 'slow', Key: 'kept', Body: 'the first version' }));
  const head = requestHead(port, { method: 'PUT', path: '/slow/kept', headers: { 'content-length': '1000' }, service: 's3' });
  const c = await rawConnection(port, head + 'x'.repeat(400));
  const { text, afterMs } = await within(5000, 'a stalled PUT', c.closed);
  assert.equal(statusOf(text), 400, text);
  assert.equal(xmlText(text, 'Code'), 'RequestTimeout');
  assert.equal(xmlText(text, 'Message'), REQUEST_TIMEOUT_MESSAGE);
  assert.match(text, /\r\nconnection: close\r\n/i);
  assert.ok(afterMs >= 250, `cut after ${afterMs} ms, not before the idle timeout`);
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: 'slow', Key: 'kept' }));
  assert.equal(await got.Body!.transformToString(), 'the first version');
});

test('a PUT that sends its headers and no body at all is cut the same way', async () => {
  const head = requestHead(port, { method: 'PUT', path: '/slow/never', headers: { 'content-length': '10' }, service: 's3' });
  const { text } = await within(5000, 'a PUT without its body', (await rawConnection(port, head)).closed);
  assert.equal(xmlText(text, 'Code'), 'RequestTimeout', text);
});

test('a body that keeps trickling within the idle timeout is not cut', async () => {
  const head = requestHead(port, { method: 'PUT', path: '/slow/trickle', headers: { 'content-length': '6' }, service: 's3' });
  const c = await rawConnection(port, head);
  for (const ch of 'trickl') {
    await new Promise((r) => setTimeout(r, 150));
    c.socket.write(ch);
  }
  const answer = await within(5000, 'a trickled PUT', c.firstAnswer());
  assert.equal(statusOf(answer), 200, answer);
  c.socket.destroy();
});

test('a KMS request that stalls mid-body is 408 RequestTimeoutException and the connection is closed', async () => {
  const head = requestHead(port, {
    method: 'POST', path: '/', service: 'kms',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys', 'content-length': '100' },
  });
  const { text } = await within(5000, 'a stalled KMS request', (await rawConnection(port, head + '{"Limit"')).closed);
  assert.equal(statusOf(text), 408, text);
  assert.match(text, /"__type":"RequestTimeoutException"/);
});

test('a connection that never finishes its headers is closed after the headers timeout', async () => {
  const partial = await rawConnection(port, 'PUT /slow/x HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const silent = await rawConnection(port, undefined);
  const cut = await within(5000, 'partial headers', partial.closed);
  assert.equal(xmlText(cut.text, 'Code'), 'RequestTimeout', cut.text);
  assert.equal((await within(5000, 'a silent connection', silent.closed)).text, '', 'nothing to answer when nothing was asked');
});

test('headers over the size limit are 400 RequestHeaderSectionTooLarge in S3 XML', async () => {
  const c = await rawConnection(port, `GET /slow/kept HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amz-meta-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  const { text } = await within(5000, 'oversized headers', c.closed);
  assert.equal(statusOf(text), 400, text);
  assert.match(text, /content-type: application\/xml/i);
  assert.equal(xmlText(text, 'Code'), 'RequestHeaderSectionTooLarge');
  assert.equal(xmlText(text, 'Message'), 'Your request header section exceeds the maximum allowed size.');
  assert.ok(xmlText(text, 'RequestId'), 'has a request id');
});
