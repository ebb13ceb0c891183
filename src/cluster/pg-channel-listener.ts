// A LISTEN on one PostgreSQL channel, on a connection of its own beside the pool (a pooled
// connection would be handed to other queries): calls `changed` on each notification. A
// notification only says "look again": a listener that lost its connection (PostgreSQL
// restarted, the connection was cut) opens another after a pause that doubles up to 30 s,
// and calls `changed` once it listens again, since a change may have passed meanwhile.
// Whoever listens still polls, faster while `listening` is false.

import pg from 'pg';

export interface ChannelListenerLog {
  warn(o: object, msg: string): void;
}

const MAX_PAUSE_MS = 30_000;

/** The pool's connection settings (not its Client class, types or pipelining). */
function connectionOf(o: pg.PoolOptions): pg.ClientConfig {
  const { connectionString, host, port, user, password, database, ssl, connectionTimeoutMillis } = o;
  return { connectionString, host, port, user, password, database, ssl, connectionTimeoutMillis, application_name: `${o.application_name ?? 'coffer'}-listen` };
}

export class PgChannelListener {
  #current: pg.Client | undefined;
  #listening = false;
  #closed = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly changed: () => void,
    private readonly log: ChannelListenerLog,
  ) {}

  /** `channel` is a constant of the code (an identifier, not a value from outside). */
  static start(pool: pg.Pool, channel: string, changed: () => void, log: ChannelListenerLog): PgChannelListener {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
    const l = new PgChannelListener(connectionOf(pool.options), channel, changed, log);
    void l.#connect();
    return l;
  }

  /** Notifications arrive now. */
  get listening(): boolean {
    return this.#listening;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listening = false;
    clearTimeout(this.#timer);
    const c = this.#current;
    this.#current = undefined;
    await c?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.config);
    this.#current = client;
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', (n) => {
      if (n.channel === this.channel && this.#current === client) this.changed();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (err) {
      this.#lost(client, err);
      return;
    }
    if (this.#current !== client) return;
    this.#listening = true;
    this.#failures = 0;
    this.changed();
  }

  #lost(client: pg.Client, err: unknown): void {
    if (this.#current !== client) return;
    this.#current = undefined;
    this.#listening = false;
    client.end().catch(() => undefined);
    if (this.#closed) return;
    const pause = Math.min(MAX_PAUSE_MS, 500 * 2 ** this.#failures++);
    this.log.warn({ err, channel: this.channel, retryInMs: pause }, 'lost the connection that listens for changes; polling until it is back');
    this.#timer = setTimeout(() => void this.#connect(), pause);
    this.#timer.unref();
  }
}
