// transportOf / isSecureTransport / isTlsRequest / isLoopbackAddress: how a request reached
// us, and which requests may carry SSE-KMS and SSE-C secrets. A table of peer addresses (IPv4, IPv6, IPv4-mapped IPv6, junk),
// then the same functions on real sockets: plain HTTP and HTTPS on loopback, an
// IPv4 client of a dual-stack listener (seen as ::ffff:127.0.0.1), and a client on a
// non-loopback interface when the machine has one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { isLoopbackAddress, isSecureTransport, isTlsRequest, transportOf } from '../../src/http/transport.js';
import { makeTestCertificate, type TestCertificate, nonLoopbackIPv4 } from '../helpers/tls.js';

function fakeRequest(remoteAddress: string | undefined, encrypted?: boolean): IncomingMessage {
  return { socket: { remoteAddress, ...(encrypted === undefined ? {} : { encrypted }) } } as unknown as IncomingMessage;
}

const LOOPBACK = ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.1.2.3', '::ffff:7f00:1'];
const NOT_LOOPBACK = [
  '10.0.0.1', '192.168.1.10', '128.0.0.1', '126.255.255.255', '0.0.0.0',
  '::', '::2', 'fe80::1', 'fe80::1%eth0', '2001:db8::1',
  '::ffff:10.0.0.1', '::ffff:128.0.0.1', '::ffff:0a00:0001',
  '::127.0.0.1', // IPv4-compatible (deprecated), not IPv4-mapped: not loopback
  '64:ff9b::7f00:1', // NAT64 of 127.0.0.1 — a remote translator, not this host
  'localhost', '', '127.0.0.1.example.com', 'not an address',
];

test('loopback peers: 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8 in any spelling', () => {
  for (const a of LOOPBACK) assert.equal(isLoopbackAddress(a), true, a);
});

test('every other peer address (private, link-local, mapped non-loopback, names, junk) is not loopback', () => {
  for (const a of NOT_LOOPBACK) assert.equal(isLoopbackAddress(a), false, JSON.stringify(a));
  assert.equal(isLoopbackAddress(undefined), false);
});

test('isSecureTransport: TLS from anywhere, plain HTTP only from loopback unless allowed', () => {
  const secure = (req: IncomingMessage, allow: boolean) => isSecureTransport(transportOf(req), allow);
  assert.equal(secure(fakeRequest('203.0.113.7', true), false), true, 'TLS from a remote peer');
  assert.equal(secure(fakeRequest('203.0.113.7', false), false), false, 'plain HTTP from a remote peer');
  assert.equal(secure(fakeRequest('203.0.113.7'), false), false, 'a socket without an encrypted flag');
  assert.equal(secure(fakeRequest('::ffff:203.0.113.7'), false), false, 'mapped remote peer');
  assert.equal(secure(fakeRequest('203.0.113.7'), true), true, 'plain HTTP allowed by the operator');
  for (const a of LOOPBACK) assert.equal(secure(fakeRequest(a), false), true, `plain HTTP from ${a}`);
  // A destroyed socket has no remote address: refuse rather than guess.
  assert.equal(secure(fakeRequest(undefined), false), false);
});

test('transportOf: TLS, loopback and the peer address as the socket reports them, decided once per connection', () => {
  const req = fakeRequest('::ffff:127.0.0.1', true);
  assert.deepEqual(transportOf(req), { secure: true, loopback: true, sourceIp: '::ffff:127.0.0.1' });
  assert.deepEqual(transportOf(fakeRequest('203.0.113.7')), { secure: false, loopback: false, sourceIp: '203.0.113.7' });
  // A second request on the same connection gets the same answer, even once the socket has let go of its peer.
  const next = { socket: req.socket } as IncomingMessage;
  (req.socket as { remoteAddress?: string }).remoteAddress = undefined;
  assert.equal(transportOf(next), transportOf(req));
  assert.equal(transportOf(next).loopback, true);
  assert.deepEqual(transportOf({ socket: null } as unknown as IncomingMessage), { secure: false, loopback: false, sourceIp: undefined });
});

test('isTlsRequest is about the socket only, not the peer or the allow flag', () => {
  assert.equal(isTlsRequest(fakeRequest('127.0.0.1')), false);
  assert.equal(isTlsRequest(fakeRequest('203.0.113.7', true)), true);
  assert.equal(isTlsRequest(fakeRequest('::1', false)), false);
});

// --- real sockets --------------------------------------------------------------

interface Seen {
  remoteAddress: string | undefined;
  tls: boolean;
  secure: boolean;
}

let cert: TestCertificate;
const servers: (http.Server | https.Server)[] = [];

before(() => {
  cert = makeTestCertificate();
});

after(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  rmSync(cert.dir, { recursive: true, force: true });
});

/** A server that answers each request with what the transport functions say about it. */
async function listen(kind: 'http' | 'https', host: string): Promise<number> {
  const handler = (req: IncomingMessage, res: http.ServerResponse) => {
    const seen: Seen = { remoteAddress: req.socket.remoteAddress, tls: isTlsRequest(req), secure: isSecureTransport(transportOf(req), false) };
    res.setHeader('connection', 'close');
    res.end(JSON.stringify(seen));
  };
  const server = kind === 'https' ? https.createServer({ cert: cert.cert, key: cert.key }, handler) : http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function get(kind: 'http' | 'https', host: string, port: number, localAddress?: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const mod = kind === 'https' ? https : http;
    const req = mod.get({ host, port, path: '/', agent: false, ca: cert.cert, localAddress }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Seen));
    });
    req.on('error', reject);
  });
}

test('plain HTTP from 127.0.0.1 on a real socket: not TLS, but secure enough (loopback)', async () => {
  const port = await listen('http', '127.0.0.1');
  assert.deepEqual(await get('http', '127.0.0.1', port), { remoteAddress: '127.0.0.1', tls: false, secure: true });
});

test('HTTPS on a real socket: TLS, secure', async () => {
  const port = await listen('https', '127.0.0.1');
  assert.deepEqual(await get('https', '127.0.0.1', port), { remoteAddress: '127.0.0.1', tls: true, secure: true });
});

function ipv6Works(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.internal));
}

test('an IPv4 client of a dual-stack listener is seen as ::ffff:127.0.0.1 and counts as loopback', { skip: !ipv6Works() && 'no IPv6 loopback here' }, async () => {
  const port = await listen('http', '::');
  const seen = await get('http', '127.0.0.1', port);
  assert.equal(seen.remoteAddress, '::ffff:127.0.0.1');
  assert.deepEqual(seen, { remoteAddress: '::ffff:127.0.0.1', tls: false, secure: true });
});

test('plain HTTP from ::1: loopback', { skip: !ipv6Works() && 'no IPv6 loopback here' }, async () => {
  const port = await listen('http', '::1');
  assert.deepEqual(await get('http', '::1', port), { remoteAddress: '::1', tls: false, secure: true });
});

const external = nonLoopbackIPv4();

test('plain HTTP from a non-loopback interface is refused; HTTPS from it is accepted', { skip: !external && 'no non-loopback IPv4 interface here' }, async () => {
  const plain = await listen('http', external!);
  assert.deepEqual(await get('http', external!, plain, external), { remoteAddress: external, tls: false, secure: false });
  const tls = await listen('https', external!);
  // The certificate names 127.0.0.1 and localhost only; check the transport, not the name.
  const seen = await new Promise<Seen>((resolve, reject) => {
    https
      .get({ host: external, port: tls, path: '/', agent: false, ca: cert.cert, localAddress: external, checkServerIdentity: () => undefined }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(JSON.parse(body) as Seen));
      })
      .on('error', reject);
  });
  assert.deepEqual(seen, { remoteAddress: external, tls: true, secure: true });
});
