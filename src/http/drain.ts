// Graceful close of the listener: stop accepting, let the requests in flight finish
// within a grace period, then close whatever is left. Keep-alive connections between
// requests hold nothing, so they are closed at once and again as requests finish (a
// connection whose response ends after close() would otherwise linger until its
// keep-alive timeout).
//
// A response is in flight until its last byte has left the process, not until its handler
// ends it: res.end() returns with megabytes still in the socket's buffer when the client
// reads slowly. Node's closeIdleConnections() (which http's server.close() also calls)
// destroys such a connection, and the download ends short. So the connections are tracked
// here from the start, a connection counts as idle only when no response on it is open
// and its socket holds nothing unsent, and the listener is closed with net's close(),
// which only stops accepting.

import type { Server } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/** How often connections that became idle during the grace period are closed. */
const IDLE_SWEEP_MS = 100;

interface Connection {
  /** Requests received whose responses have not closed yet (pipelined ones included). */
  active: number;
  /** The socket's bytesRead when last seen between requests: more means a request is arriving. */
  read: number;
}

const TRACKED = new WeakMap<Server, Map<Socket, Connection>>();

/**
 * Follows `server`'s connections and their requests, for drainServer. Call it once, right
 * after the server is created: connections opened before are unknown to the drain, which
 * then leaves them to its deadline.
 */
export function trackConnections(server: Server): void {
  const connections = new Map<Socket, Connection>();
  TRACKED.set(server, connections);
  // A TLS server's requests come on the TLS socket, not the TCP one under it.
  server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', (socket: Socket) => {
    if (socket.destroyed) return; // refused by the connection caps
    connections.set(socket, { active: 0, read: socket.bytesRead });
    socket.once('close', () => connections.delete(socket));
  });
  const onRequest = (req: { socket: Socket }, res: { once(event: 'close', f: () => void): unknown }): void => {
    const c = connections.get(req.socket);
    if (c === undefined) return;
    c.active++;
    // 'close' follows 'finish', which Node emits once the last write has left the process.
    res.once('close', () => {
      c.active--;
      c.read = req.socket.bytesRead;
    });
  };
  // First, so the count is up before any handler can end the response.
  server.prependListener('request', onRequest);
  server.prependListener('checkContinue', onRequest);
}

/**
 * Closes the idle ones among `connections`: no response open, nothing unsent, and no byte
 * of a next request since they were last seen (one arriving gets until the next sweep to
 * become a request, or a stalled one is closed then).
 */
function closeIdle(connections: Map<Socket, Connection>): void {
  for (const [socket, c] of connections) {
    const read = socket.bytesRead;
    if (c.active === 0 && socket.writableLength === 0 && read === c.read) socket.destroy();
    else c.read = read;
  }
}

/**
 * Closes `server` and resolves once every connection is gone: at once when `graceMs` is 0,
 * else when the last request in flight has finished or `graceMs` has passed, whichever is
 * first. `forced` says whether connections still busy at the deadline were cut.
 * `server` must have been given to trackConnections when it was created.
 */
export async function drainServer(server: Server, graceMs: number): Promise<{ forced: boolean }> {
  const connections = TRACKED.get(server);
  if (connections === undefined) throw new Error('drainServer: the server was not given to trackConnections');
  // With no grace everything is cut anyway: http's own close() (which also stops Node's
  // headers-timeout timer) is then right. Otherwise only stop accepting; that timer (unref'd)
  // then goes on checking the connections left, and stops with the process. The callback's
  // error (the server was not listening) changes nothing: it is closed.
  const closed = new Promise<false>((resolve) => {
    if (graceMs <= 0) server.close(() => resolve(false));
    else NetServer.prototype.close.call(server, () => resolve(false));
  });
  closeIdle(connections);
  let timer: NodeJS.Timeout | undefined;
  const sweep = setInterval(() => closeIdle(connections), IDLE_SWEEP_MS);
  const deadline = new Promise<true>((resolve) => {
    timer = setTimeout(() => resolve(true), Math.max(0, graceMs));
  });
  const forced = await Promise.race([closed, deadline]);
  clearInterval(sweep);
  clearTimeout(timer);
  if (forced) {
    for (const socket of connections.keys()) socket.destroy();
    server.closeAllConnections();
    await closed;
  }
  return { forced };
}
