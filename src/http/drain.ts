// Graceful close of the listener: stop accepting, let the requests in flight finish
// within a grace period, then close whatever is left. Keep-alive connections between
// requests hold nothing, so they are closed at once and again as requests finish (a
// connection whose response ends after close() would otherwise linger until its
// keep-alive timeout).

import type { Server } from 'node:http';

/** How often connections that became idle during the grace period are closed. */
const IDLE_SWEEP_MS = 100;

/**
 * Closes `server` and resolves once every connection is gone: at once when `graceMs` is 0,
 * else when the last request in flight has finished or `graceMs` has passed, whichever is
 * first. `forced` says whether connections still busy at the deadline were cut.
 */
export async function drainServer(server: Server, graceMs: number): Promise<{ forced: boolean }> {
  // The callback's error (the server was not listening) changes nothing: it is closed.
  const closed = new Promise<false>((resolve) => server.close(() => resolve(false)));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  const deadline = new Promise<true>((resolve) => {
    timer = setTimeout(() => resolve(true), Math.max(0, graceMs));
  });
  const forced = await Promise.race([closed, deadline]);
  clearInterval(sweep);
  clearTimeout(timer);
  if (forced) {
    server.closeAllConnections();
    await closed;
  }
  return { forced };
}
