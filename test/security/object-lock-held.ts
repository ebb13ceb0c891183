// A signed request the server has authorized, whose body is held: sent with Expect: 100-continue,
// it is answered 100 Continue once the server has authorized it; the handler then reads the
// bucket (and so decides versioning and object lock as they are then) and waits for the body. A
// test changes the bucket meanwhile, then sends the body: what the request does must follow the
// bucket as it is when the request commits, wherever object lock is concerned.

import { createHash } from 'node:crypto';
import { GetBucketVersioningCommand } from '@aws-sdk/client-s3';
import type { TestServer } from '../helpers/server.js';
import { openHeldRequest, type HeldRequest } from '../interop/support.js';

export type Held = HeldRequest;

export async function heldRequest(srv: TestServer, r: { method: 'PUT' | 'POST'; bucket: string; key?: string; query?: Record<string, string>; body: string }): Promise<Held> {
  const payload = Buffer.from(r.body);
  const held = await openHeldRequest({
    method: r.method, url: srv.url, path: `/${r.bucket}${r.key !== undefined ? `/${r.key}` : ''}`, body: payload, ...(r.query ? { query: r.query } : {}),
    headers: { 'content-type': 'application/xml', 'content-md5': createHash('md5').update(payload).digest('base64') },
  });
  // The server reads the bucket before its next I/O event; a round trip makes sure it has.
  await srv.s3.send(new GetBucketVersioningCommand({ Bucket: r.bucket }));
  return held;
}
