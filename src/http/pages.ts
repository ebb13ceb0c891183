// Coffer's own unsigned pages (the console's assets, Prometheus metrics), served on the
// S3 port for GET/HEAD requests without a signature whose path is /console, /console/...
// or /metrics (http/server.ts decides; everything else is S3's).

import type { IncomingMessage, ServerResponse } from 'node:http';

/** Serves the request and answers true, or answers false to leave it to S3. */
export type PageHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Several handlers as one: the first that serves the request answers true. */
export function firstPage(handlers: readonly PageHandler[]): PageHandler {
  return async (req, res) => {
    for (const page of handlers) if (await page(req, res)) return true;
    return false;
  };
}
