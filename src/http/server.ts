// The Node listener. Every request gets a request id, then is handed to the service
// it is for: KMS (X-Amz-Target: TrentService.*), and S3 for everything else.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

export interface ServiceHandlers {
  s3(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  kms?(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  /** Last-resort failure (a bug in a handler's own error path). */
  fail(err: unknown, requestId: string): void;
}

export function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

export function createCofferServer(handlers: ServiceHandlers): Server {
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    const requestId = newRequestId();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
    res.setHeader('server', 'Coffer');
    const target = req.headers['x-amz-target'];
    const handler = typeof target === 'string' && target.startsWith('TrentService.') && handlers.kms ? handlers.kms : handlers.s3;
    handler(req, res, requestId).catch((err) => {
      handlers.fail(err, requestId);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-length': '0' });
        res.end();
      } else {
        res.destroy();
      }
    });
  });
  return server;
}
