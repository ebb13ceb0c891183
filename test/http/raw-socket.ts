// A misbehaving client on a bare TCP socket: it signs a request's headers with the root
// credentials, sends only what the test says (part of a body, nothing at all) and records
// what the server answers and when it closes the connection. No HTTP client in between,
// so a server that never answers shows up as a timeout here, not as a client retry.

import { connect, type Socket } from 'node:net';
import { signRequest } from '../../src/auth/sign.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';

export interface RawHead {
  method: string;
  /** Path and query as they go on the wire. */
  path: string;
  headers?: Record<string, string>;
  /** The SigV4 service to sign for (s3, kms, iam, sts, coffer); undefined sends it unsigned. */
  service?: string;
}

/** The request line and headers, signed for `service`, ending with the blank line. */
export function requestHead(port: number, r: RawHead): string {
  let headers: Record<string, string> = { host: `127.0.0.1:${port}`, ...(r.headers ?? {}) };
  if (r.service) {
    headers = signRequest({
      method: r.method, rawUrl: r.path, headers, accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET,
      region: 'us-east-1', service: r.service, now: new Date(), payloadHash: 'UNSIGNED-PAYLOAD',
    }).headers;
  }
  return `${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

export interface RawConnection {
  socket: Socket;
  /** Resolves when the server closes the connection, with all it sent and how long after open. */
  closed: Promise<{ text: string; afterMs: number }>;
  /** Resolves with everything received once the first bytes arrived and `ms` passed without more. */
  firstAnswer(ms?: number): Promise<string>;
}

/** Opens a connection (from `localAddress`, another loopback address = another client) and writes `data`. */
export function rawConnection(port: number, data: string | Buffer | undefined, localAddress = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const started = Date.now();
    const chunks: Buffer[] = [];
    let onData: (() => void) | undefined;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      onData?.();
    });
    // The server may reset a connection it refuses or cuts: that is a close, not a test failure.
    socket.on('error', () => undefined);
    const closed = new Promise<{ text: string; afterMs: number }>((r) => socket.once('close', () => r({ text: Buffer.concat(chunks).toString('utf8'), afterMs: Date.now() - started })));
    const firstAnswer = (ms = 50): Promise<string> => new Promise((r) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        timer = setTimeout(() => r(Buffer.concat(chunks).toString('utf8')), ms);
      };
      onData = settle;
      socket.once('close', settle);
      if (chunks.length) settle();
    });
    socket.once('connect', () => {
      if (data !== undefined) socket.write(data);
      resolve({ socket, closed, firstAnswer });
    });
    socket.once('error', reject);
  });
}

/** The status code of a raw HTTP response text. */
export function statusOf(text: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

/** The text of the first <name>...</name> element, if any. */
export function xmlText(text: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
}

/** Fails after `ms` with `what`, so a server that never answers fails the test quickly. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
