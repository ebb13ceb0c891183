// Small request bodies read whole (KMS, IAM and STS, the admin API), up to a limit.
// A body over the limit is answered at once — refused from its Content-Length before a
// byte is read, or as soon as it grows past the limit — and the connection is closed
// after the answer: reading on would let a client feed us any amount, and leaving the
// rest unread on a kept-alive connection would stall the client until its own timeout.

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The body, or `tooLarge()` (the service's error) once it is known to pass `max` bytes. */
export function readBoundedBody(req: IncomingMessage, res: ServerResponse, max: number, tooLarge: () => Error): Promise<Buffer> {
  const refuse = (): Promise<Buffer> => {
    req.pause();
    res.setHeader('connection', 'close');
    return Promise.reject(tooLarge());
  };
  if (Number(req.headers['content-length']) > max) return refuse();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        req.off('data', onData).off('end', onEnd).off('error', reject);
        refuse().catch(reject);
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks, size));
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}
