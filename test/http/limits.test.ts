// Limits that keep one client from starving the others: connection caps per client
// address and in total, with a reserve that still answers a client with no connection
// open; declared bodies over the object size refused before a byte is read; oversized
// KMS, IAM and admin bodies answered at once with the connection closed.
// Loopback aliases (127.0.0.2, 127.0.0.3 ...) are distinct clients on Linux.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, CreateMultipartUploadCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { rawConnection, requestHead, statusOf, within, xmlText, type RawConnection } from './raw-socket.js';

let srv: TestServer;
let port: number;
const MiB = 1024 * 1024;
before(async () => {
  srv = await startTestServer({
    COFFER_MAX_OBJECT_SIZE: String(MiB),
    COFFER_MAX_CONNECTIONS: '8',
    COFFER_MAX_CONNECTIONS_PER_CLIENT: '5',
    COFFER_CONNECTION_RESERVE: '2',
  });
  port = srv.coffer.port;
  await srv.s3.send(new CreateBucketCommand({ Bucket: 'limits' }));
});
after(async () => srv?.stop());

/** A plain GET of / from this client address, answered or not: the status, 0 when the connection was refused. */
async function probe(from: string): Promise<number> {
  const c = await rawConnection(port, requestHead(port, { method: 'GET', path: '/', service: 's3' }), from);
  const text = await within(5000, `a request from ${from}`, c.firstAnswer());
  c.socket.destroy();
  return statusOf(text);
}

/** Opens `n` connections from `from` that send half a request line and wait. */
async function stalled(n: number, from: string): Promise<RawConnection[]> {
  const out: RawConnection[] = [];
  for (let i = 0; i < n; i++) out.push(await rawConnection(port, 'GET / HTT', from));
  return out;
}

const settle = () => new Promise((r) => setTimeout(r, 100));

test('a client over its connection cap is refused; other clients, and a fresh one past the total, are still answered', async () => {
  const a = await stalled(5, '127.0.0.2');
  await settle();
  const refused = await rawConnection(port, undefined, '127.0.0.2');
  assert.equal((await within(2000, 'a sixth connection from one client', refused.closed)).text, '', 'closed at accept, with nothing said');
  const b = await stalled(3, '127.0.0.3'); // the total is now reached
  await settle();
  assert.equal(await probe('127.0.0.3'), 0, 'a client with connections open gets none past the total');
  assert.equal(await probe('127.0.0.4'), 200, 'a fresh client is answered from the reserve');
  for (const c of [...a, ...b]) c.socket.destroy();
  await settle();
  const buckets = await srv.s3.send(new ListBucketsCommand({}));
  assert.ok(buckets.Buckets?.some((x) => x.Name === 'limits'), 'closed connections give their places back');
});

test('a declared Content-Length over the object size is EntityTooLarge before any body is read', async () => {
  const head = requestHead(port, { method: 'PUT', path: '/limits/big', headers: { 'content-length': String(MiB + 1) }, service: 's3' });
  const c = await rawConnection(port, head);
  const text = await within(2000, 'an oversized PUT', c.firstAnswer());
  assert.equal(statusOf(text), 400, text);
  assert.equal(xmlText(text, 'Code'), 'EntityTooLarge');
  assert.equal(xmlText(text, 'Message'), 'Your proposed upload exceeds the maximum allowed size');
  assert.equal(xmlText(text, 'MaxSizeAllowed'), String(MiB));
  assert.match(text, /\r\nconnection: close\r\n/i);
  await within(2000, 'closing the connection', c.closed);
});

test('an aws-chunked PUT declaring a decoded length over the object size is refused the same way', async () => {
  const head = requestHead(port, {
    method: 'PUT', path: '/limits/chunked', service: 's3',
    headers: { 'content-length': '100', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(MiB + 1) },
  });
  const text = await within(2000, 'an oversized aws-chunked PUT', (await rawConnection(port, head)).firstAnswer());
  assert.equal(xmlText(text, 'Code'), 'EntityTooLarge', text);
});

test('an UploadPart declaring more than 5 GiB is EntityTooLarge before any body is read', async () => {
  const up = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: 'limits', Key: 'parts' }));
  const head = requestHead(port, { method: 'PUT', path: `/limits/parts?partNumber=1&uploadId=${up.UploadId}`, headers: { 'content-length': String(5 * 1024 ** 3 + 1) }, service: 's3' });
  const text = await within(2000, 'an oversized part', (await rawConnection(port, head)).firstAnswer());
  assert.equal(xmlText(text, 'Code'), 'EntityTooLarge', text);
});

for (const [name, service, path, headers, code] of [
  ['KMS', 'kms', '/', { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, 'ValidationException'],
  ['IAM', 'iam', '/', { 'content-type': 'application/x-www-form-urlencoded' }, 'ValidationError'],
  ['STS', 'sts', '/', { 'content-type': 'application/x-www-form-urlencoded' }, 'ValidationError'],
  ['the admin API', 'coffer', '/_coffer/api/whoami', { 'content-type': 'application/json' }, 'ValidationException'],
] as const) {
  test(`${name}: a body declared over 1 MiB is answered at once and the connection closed`, async () => {
    const head = requestHead(port, { method: 'POST', path, headers: { ...headers, 'content-length': String(2 * MiB) }, service });
    const { text } = await within(2000, `an oversized ${name} body`, (await rawConnection(port, head)).closed);
    assert.ok(statusOf(text) >= 400 && statusOf(text) < 500, text);
    assert.match(text, new RegExp(code));
    assert.match(text, /\r\nconnection: close\r\n/i);
  });

  test(`${name}: a body that grows past 1 MiB without a declared length is answered and the connection closed`, async () => {
    const head = requestHead(port, { method: 'POST', path, headers: { ...headers, 'transfer-encoding': 'chunked' }, service });
    const c = await rawConnection(port, head);
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    for (let i = 0; i < 5; i++) c.socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
    const { text } = await within(2000, `a growing ${name} body`, c.closed);
    assert.match(text, new RegExp(code), text);
  });
}

test('connection settings are validated with messages that say how to fix them', () => {
  const dataDir = '/tmp/unused';
  const config = loadConfig({ dataDir }, {});
  assert.deepEqual([config.maxConnections, config.maxConnectionsPerClient, config.connectionReserve, config.headersTimeoutSeconds, config.bodyIdleTimeoutSeconds], [900, 200, 32, 60, 20]);
  assert.throws(() => loadConfig({ dataDir }, { COFFER_MAX_CONNECTIONS: '100', COFFER_MAX_CONNECTIONS_PER_CLIENT: '200' }), (e: ConfigError) => /COFFER_MAX_CONNECTIONS_PER_CLIENT/.test(e.message) && /reverse proxy/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({ dataDir }, { COFFER_BODY_IDLE_TIMEOUT_SECONDS: 'soon' }), (e: ConfigError) => /COFFER_BODY_IDLE_TIMEOUT_SECONDS/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({ dataDir }, { COFFER_MAX_CONNECTIONS: '0' }), (e: ConfigError) => /ulimit/.test(e.hint ?? ''));
});
