// A loopback TCP proxy in front of a test PostgreSQL that counts what a server sends it and
// gets back: round trips (each burst the client sends after the server last answered, per
// connection), the bytes PostgreSQL answered, and how often a statement's text was sent (a
// simple query, or the Parse of an unnamed statement, carries its text every time).

import { createServer, connect, type Server, type Socket } from 'node:net';

export interface CountingProxy {
  port: number;
  trips(): number;
  /** Bytes PostgreSQL sent back so far. */
  answered(): number;
  /** How many times `text` was sent so far (counted from the proxy's start). */
  sent(text: string): number;
  close(): Promise<void>;
}

/** A proxy to 127.0.0.1:`port`; `watch`: the texts sent() counts. */
export async function countingProxy(port: number, watch: readonly string[] = []): Promise<CountingProxy> {
  let trips = 0;
  let answered = 0;
  const seen = new Map<string, number>(watch.map((w) => [w, 0]));
  const longest = Math.max(0, ...watch.map((w) => Buffer.byteLength(w)));
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let waiting = true;
    // The end of the last chunk, so a text split between two chunks is still found (once).
    let tail = Buffer.alloc(0);
    client.on('data', (d: Buffer) => {
      if (waiting) trips++;
      waiting = false;
      if (longest > 0) {
        const text = Buffer.concat([tail, d]);
        for (const w of watch) {
          for (let at = text.indexOf(w); at >= 0; at = text.indexOf(w, at + 1)) {
            if (at + Buffer.byteLength(w) > tail.length) seen.set(w, seen.get(w)! + 1);
          }
        }
        tail = text.subarray(Math.max(0, text.length - longest + 1));
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      waiting = true;
      answered += d.length;
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    trips: () => trips,
    answered: () => answered,
    sent: (text) => seen.get(text) ?? 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
