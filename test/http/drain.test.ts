// drainServer, the graceful close behind SIGTERM, on a real node:http server: a response
// the handler has ended is still in flight until its last byte has left the process, so
// the close must not cut it. CI once saw a 20 MB download end 1.2 MB short: Node's
// closeIdleConnections (called by server.close() and by the old idle sweep) destroys a
// connection whose response has ended even while its bytes wait in the socket's buffer.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { drainServer, trackConnections } from '../../src/http/drain.js';
import { makeTestCertificate, type TestCertificate } from '../helpers/tls.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: http.Server | undefined;
let cert: TestCertificate | undefined;

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  if (cert) fs.rmSync(cert.dir, { recursive: true, force: true });
  cert = undefined;
});

async function listen(handler: http.RequestListener, tls = false): Promise<string> {
  if (tls) cert = makeTestCertificate();
  server = tls
    ? https.createServer({ keepAliveTimeout: 65_000, cert: cert!.cert, key: cert!.key }, handler)
    : http.createServer({ keepAliveTimeout: 65_000 }, handler);
  trackConnections(server);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A GET whose body is not read until resume(); settles with the bytes and whether the response ended whole. */
async function pausedGet(url: string, agent?: http.Agent): Promise<{ res: http.IncomingMessage; resume(): Promise<{ length: number; complete: boolean }> }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    client.get(url, { agent: agent ?? false, ca: cert?.cert }, resolve).on('error', reject);
  });
  res.pause();
  let length = 0;
  const settled = new Promise<{ length: number; complete: boolean }>((resolve) => {
    res.on('data', (c: Buffer) => (length += c.length));
    res.on('end', () => resolve({ length, complete: res.complete }));
    res.on('close', () => resolve({ length, complete: res.complete }));
    res.on('error', () => resolve({ length, complete: false }));
  });
  return { res, resume: () => (res.resume(), settled) };
}

function connects(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { agent: false, ca: cert?.cert }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
  });
}

describe('drainServer', () => {
  for (const tls of [false, true]) {
    it(`delivers a response ended with megabytes still in the socket buffer, however long the client takes to read it (${tls ? 'HTTPS' : 'HTTP'})`, async () => {
      const body = Buffer.alloc(24 * MiB, 7);
      let ended!: () => void;
      const endedNow = new Promise<void>((r) => (ended = r));
      const url = await listen((_req, res) => {
        res.writeHead(200, { 'content-length': body.length });
        res.end(body); // all of it handed over at once: most of it waits in the socket's buffer
        ended();
      }, tls);
      const get = await pausedGet(url);
      await endedNow;
      const drained = drainServer(server!, 20_000);
      // Several idle sweeps go by while the client reads nothing.
      await sleep(600);
      assert.equal(await connects(url), false, 'no new connection is accepted while draining');
      const got = await get.resume();
      assert.deepEqual(got, { length: body.length, complete: true });
      assert.deepEqual(await drained, { forced: false });
    });
  }

  it('delivers a response its handler ends during the drain while the client reads nothing', async () => {
    let endIt!: () => number;
    const url = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': 9 * MiB });
      res.write(Buffer.alloc(8 * MiB, 1));
      endIt = () => {
        res.end(Buffer.alloc(MiB, 2));
        return res.writableLength;
      };
    });
    const get = await pausedGet(url);
    const drained = drainServer(server!, 20_000);
    await sleep(300);
    assert.ok(endIt() > 0, 'the end leaves bytes in the socket buffer');
    await sleep(500);
    assert.deepEqual(await get.resume(), { length: 9 * MiB, complete: true });
    assert.deepEqual(await drained, { forced: false });
  });

  it('closes an idle keep-alive connection at once and resolves without waiting for the grace period', async () => {
    const url = await listen((_req, res) => res.end('ok'));
    const agent = new http.Agent({ keepAlive: true });
    try {
      const get = await pausedGet(url, agent);
      assert.deepEqual(await get.resume(), { length: 2, complete: true });
      const socketClosed = new Promise<void>((r) => get.res.socket?.once('close', () => r()) ?? r());
      const started = Date.now();
      assert.deepEqual(await drainServer(server!, 20_000), { forced: false });
      await socketClosed;
      assert.ok(Date.now() - started < 2_000, `drained in ${Date.now() - started} ms`);
    } finally {
      agent.destroy();
    }
  });

  it('closes a keep-alive connection as soon as its response in flight has gone out', async () => {
    let finish!: () => void;
    const url = await listen((_req, res) => {
      finish = () => res.end('late');
    });
    const agent = new http.Agent({ keepAlive: true });
    try {
      const getting = pausedGet(url, agent).catch(() => undefined);
      while (finish === undefined) await sleep(10);
      let done = false;
      const drained = drainServer(server!, 20_000).then((d) => ((done = true), d));
      await sleep(300);
      assert.equal(done, false, 'the drain waits for the response in flight');
      finish();
      const get = (await getting)!;
      assert.deepEqual(await get.resume(), { length: 4, complete: true });
      assert.deepEqual(await drained, { forced: false });
    } finally {
      agent.destroy();
    }
  });

  it('serves a request whose headers are still arriving when the drain begins', async () => {
    const url = await listen((_req, res) => res.end('served'));
    const { port } = new URL(url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    const ended = new Promise((r) => socket.once('close', r));
    socket.write('GET /x HTTP/1.1\r\nHost: x\r\n');
    await sleep(50);
    const drained = drainServer(server!, 20_000);
    await sleep(30);
    socket.write('\r\n');
    await ended;
    assert.match(answer, /^HTTP\/1\.1 200 OK[\s\S]*served$/);
    assert.deepEqual(await drained, { forced: false });
  });

  it('closes an HTTPS keep-alive connection between requests', async () => {
    const url = await listen((_req, res) => res.end('ok'), true);
    const agent = new https.Agent({ keepAlive: true, ca: cert!.cert });
    try {
      const get = await pausedGet(url, agent);
      assert.deepEqual(await get.resume(), { length: 2, complete: true });
      const started = Date.now();
      assert.deepEqual(await drainServer(server!, 20_000), { forced: false });
      assert.ok(Date.now() - started < 2_000, `drained in ${Date.now() - started} ms`);
    } finally {
      agent.destroy();
    }
  });

  it('cuts what is still in flight at the deadline and says so', async () => {
    const url = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('12345'); // never ended
    });
    const get = await pausedGet(url);
    const started = Date.now();
    assert.deepEqual(await drainServer(server!, 300), { forced: true });
    assert.ok(Date.now() - started >= 290);
    assert.deepEqual(await get.resume(), { length: 5, complete: false });
  });
});
