// HTTP/1.1 pipelining and the encrypted large-GET path (crypto/file-decrypt.ts): a GET
// pipelined behind another is answered by a response that Node queues until the one before
// it ends, so it has no socket yet. When the client cuts the connection meanwhile, Node never
// closes that queued response: nothing but the request says the client is gone. The GET must
// still end its body stream — its blob file closed, its decrypt worker job and lent ring
// released — not wait forever on a response that will never drain.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { decryptPool } from '../../src/crypto/index.js';
import { blobFilesOpen } from '../helpers/cut-get.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
let srv: TestServer;
const bucket = uniqueBucket('get-pipelined');

before(async () => {
  srv = await startTestServer();
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  await srv?.stop();
});

const blobsOpen = (): Promise<string[]> => blobFilesOpen(srv.dataDir);

test('a pipelined GET whose connection is cut before its turn leaves no blob file open and no decrypt job', async () => {
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'first', Body: randomBytes(16 * MiB) }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'second', Body: randomBytes(16 * MiB) }));
  const paths: string[] = [];
  for (const key of ['first', 'second']) {
    const url = new URL(await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 }));
    paths.push(url.pathname + url.search);
  }
  const { port } = new URL(srv.url);
  const socket = connect({ host: '127.0.0.1', port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  // Both requests in one write; the client then reads nothing, so the first response stalls
  // on the socket and the second waits in Node's queue behind it.
  socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`).join(''));
  socket.pause();
  // Both GETs have opened their blob files (their decrypt jobs run).
  const deadline = Date.now() + 10_000;
  while ((await blobsOpen()).length < 2 && Date.now() < deadline) await sleep(20);
  assert.equal((await blobsOpen()).length, 2, 'both pipelined GETs opened their blob files');
  await sleep(300);
  socket.destroy();

  const end = Date.now() + 10_000;
  while (((await blobsOpen()).length > 0 || decryptPool().openJobs > 0) && Date.now() < end) await sleep(50);
  assert.deepEqual(await blobsOpen(), [], 'every blob file the cut GETs opened is closed');
  assert.equal(decryptPool().openJobs, 0, 'every decrypt job of the cut GETs is closed');
});

test('twelve streaming GETs pipelined on one connection: every body whole, no MaxListeners warning, no close listener left on the connection', async () => {
  const body = randomBytes(2 * MiB + 123);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'many', Body: body }));
  const url = new URL(await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: bucket, Key: 'many' }), { expiresIn: 60 }));
  const { port } = new URL(srv.url);
  const warnings: Error[] = [];
  // The AWS SDK's notice about Node versions is not the server's.
  const onWarning = (w: Error): void => void (w.message.includes('NodeVersionSupportWarning') || warnings.push(w));
  process.on('warning', onWarning);
  let serverSocket: Socket | undefined;
  const onConnection = (s: Socket): void => void (serverSocket = s);
  srv.coffer.server.on('connection', onConnection);
  try {
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const deadline = Date.now() + 5_000;
    while (serverSocket === undefined && Date.now() < deadline) await sleep(5);
    assert.ok(serverSocket, 'the server accepted the connection');
    const idleListeners = serverSocket.listenerCount('close');
    const n = 12;
    const one = body.length + 2000; // a response's head is far under 2,000 bytes
    const chunks: Buffer[] = [];
    let got = 0;
    const all = new Promise<void>((resolve, reject) => {
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= n * body.length) setTimeout(resolve, 200);
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`the connection closed after ${got} bytes`)));
    });
    // All twelve in one write: eleven wait in Node's queue behind the first.
    socket.write(Array.from({ length: n }, () => `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`).join(''));
    await all;
    const raw = Buffer.concat(chunks);
    assert.ok(raw.length < n * one, 'nothing but twelve responses came');
    // Every response is the whole object: split on each head's end.
    let at = 0;
    for (let i = 0; i < n; i++) {
      const headEnd = raw.indexOf('\r\n\r\n', at);
      assert.ok(headEnd > 0, `response ${i + 1} has a head`);
      assert.match(raw.subarray(at, headEnd).toString('latin1'), /^HTTP\/1\.1 200 /, `response ${i + 1} is a 200`);
      const start = headEnd + 4;
      assert.ok(raw.subarray(start, start + body.length).equals(body), `response ${i + 1} carries the whole object`);
      at = start + body.length;
    }
    assert.equal(at, raw.length, 'twelve responses and nothing else');
    await sleep(100);
    assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), [], 'no warning (MaxListenersExceededWarning) was emitted');
    assert.equal(serverSocket.listenerCount('close'), idleListeners, "the connection has as many 'close' listeners as before the GETs");
    socket.destroy();
  } finally {
    process.off('warning', onWarning);
    srv.coffer.server.off('connection', onConnection);
  }
});
