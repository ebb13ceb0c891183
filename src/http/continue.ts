// `Expect: 100-continue`: the client holds the body back until the server answers
// `100 Continue`. Node asks first (the server's `checkContinue` event); Coffer answers it
// only once the request is authenticated (and, for S3, authorized as far as the headers
// allow), so a refused upload gets its 403 without the client ever sending the body.
// Services that sign over the body itself (KMS, IAM, STS, admin) are let in at once.

import type { ServerResponse } from 'node:http';

const awaiting = new WeakSet<ServerResponse>();

/** Marks a response whose request waits for `100 Continue` (from the checkContinue event). */
export function holdBody(res: ServerResponse): void {
  awaiting.add(res);
}

/** Asks the client for the body if it is waiting for our go; a no-op otherwise, and after the first call. */
export function releaseBody(res: ServerResponse): void {
  if (!awaiting.delete(res) || res.headersSent || res.writableEnded) return;
  res.writeContinue();
}
