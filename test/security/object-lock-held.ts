// A signed request the server has authorized, whose body is held: sent with Expect: 100-continue,
// it is answered 100 Continue once the server has authorized it; the handler then reads the
// bucket (and so decides versioning and object lock as they are then) and waits for the body. A
// test changes the bucket meanwhile, then sends the body: what the request does must follow the
// bucket as it is when the request commits, wherever object lock is concerned.

import { createHash } from 'node:crypto';
import type http from 'node:http';
import { GetBucketVersioningCommand } from '@aws-sdk/client-s3';
import type { TestServer } from '../helpers/server.js';
import { openRequest } from '../interop/support.js';

export interface Held {
  send(): Promise<{ status: number; body: string }>;
}

export async function heldRequest(srv: TestServer, r: { method: 'PUT' | 'POST'; bucket: string; key?: string; query?: Record<string, string>; body: string }): Promise<Held> {
  const payload = Buffer.from(r.body);
  const req = await openRequest({
    method: r.method, url: srv.url, path: `/${r.bucket}${r.key !== undefined ? `/${r.key}` : ''}`, body: payload, ...(r.query ? { query: r.query } : {}),
    headers: {
      expect: '100-continue', 'content-length': String(payload.length), 'content-type': 'application/xml',
      'content-md5': createHash('md5').update(payload).digest('base64'),
    },
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    req.on('continue', resolve);
    response.then((res) => reject(new Error(`answered ${res.statusCode} before 100 Continue`)), reject);
  });
  // The server reads the bucket before its next I/O event; a round trip makes sure it has.
  await srv.s3.send(new GetBucketVersioningCommand({ Bucket: r.bucket }));
  return {
    async send() {
      req.end(payload);
      const res = await response;
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
    },
  };
}
