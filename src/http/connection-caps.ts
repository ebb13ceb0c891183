// Connection caps: every open connection holds a file descriptor, and a process that runs
// out of them refuses everyone. One client address may hold at most `perClient`
// connections; past `total` only clients with no connection open are accepted, up to
// `reserve` more, so a fresh client is still answered while others hold their places.
// A refused connection is closed at accept, before a byte is read: the caps hold for TLS
// too, and a client retries as it would after any reset.
//
// The defaults (900 total, 200 per client, 32 reserve) leave about 90 of a default
// `ulimit -n` of 1024 for the stores' own files. Behind a reverse proxy every client
// has the proxy's address: raise the per-client cap there.

import type { Server, Socket } from 'node:net';

export interface ConnectionCaps {
  total: number;
  perClient: number;
  reserve: number;
}

/** Counts the server's connections by peer address and closes those over the caps at accept. */
export function capConnections(server: Server, caps: ConnectionCaps): void {
  const byClient = new Map<string, number>();
  let open = 0;
  // Before the HTTP and TLS listeners: a refused socket gets no parser and no handshake.
  server.prependListener('connection', (socket: Socket) => {
    const client = socket.remoteAddress;
    const held = client === undefined ? 0 : byClient.get(client) ?? 0;
    if (client === undefined || held >= caps.perClient || (open >= caps.total && (held > 0 || open >= caps.total + caps.reserve))) {
      socket.destroy();
      return;
    }
    open++;
    byClient.set(client, held + 1);
    socket.once('close', () => {
      open--;
      const n = byClient.get(client)! - 1;
      if (n === 0) byClient.delete(client);
      else byClient.set(client, n);
    });
  });
}
