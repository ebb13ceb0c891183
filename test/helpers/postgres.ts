// A real, throwaway PostgreSQL 15 for the tests of the PostgreSQL stores: Debian's
// binaries (/usr/lib/postgresql/15/bin) run initdb and pg_ctl into a temporary folder,
// on a free loopback port, with the unix socket in that folder, trust authentication and
// fsync off (a test database need not survive a power cut; ownPostgresServer gives a test a
// server of its own with the durable defaults, to crash it). One server per test file
// (started lazily, stopped with `pg_ctl stop -m immediate` after the file's tests, and at
// process exit as a fallback); each store gets a fresh database (CREATE DATABASE …
// TEMPLATE template0).
//
// PostgreSQL refuses to run as root, and the tests run as root here and in CI: then the
// server runs as the `postgres` system user (Debian's package creates it) through
// runuser, and the folder is chowned to it.
//
// Without PostgreSQL a test file skips with a message on a developer machine, and fails
// in CI (env CI set): `describePostgres` does both.

import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { openPgPool } from '../../src/storage/postgres/pool.js';

/** Where initdb, pg_ctl and postgres are: COFFER_PG_BIN, else Debian's 15, else Debian's newest. */
export const PG_BIN = process.env.COFFER_PG_BIN ?? debianBin();

function debianBin(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(join(root, '15', 'bin'))) return join(root, '15', 'bin');
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return join(root, versions[0] ?? '15', 'bin');
}
const SUPERUSER = 'coffer';
const RUN_AS = 'postgres';

/** Why PostgreSQL cannot run here, or undefined when it can. */
export function postgresMissing(): string | undefined {
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(PG_BIN, tool))) return `${join(PG_BIN, tool)} not found (install Debian's postgresql package)`;
  }
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', RUN_AS]).status !== 0) {
    return `running as root and there is no '${RUN_AS}' user to run PostgreSQL as`;
  }
  return undefined;
}

export interface PgTestServer {
  /** The server's loopback port. */
  readonly port: number;
  /** The connection string of a database on this server. */
  url(database: string): string;
  /** Creates a new, empty database and returns its connection string. */
  freshDatabase(): Promise<string>;
  /**
   * Stops the server as an operator would (`pg_ctl stop -m fast`: sessions are ended, new
   * connections refused) for tests of an outage; `start()` brings it back on the same port
   * with the same data. The server is the test file's own, so only that file sees it.
   */
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * Crashes the server (`pg_ctl stop -m immediate`: every process quits at once, nothing
   * written but what already was; the next start runs crash recovery). The OS does not
   * crash, so what PostgreSQL wrote to it stays; with the durable settings of
   * ownPostgresServer this loses only commits not yet acknowledged as durable.
   */
  crash(): Promise<void>;
}

let started: Promise<PgTestServer> | undefined;
const stopSyncs: (() => void)[] = [];
const admins: pg.Pool[] = [];

/**
 * The test file's PostgreSQL server, started on first use; stopped after the file's tests
 * (the `after` hook this registers at load time) and at process exit.
 */
export function postgresServer(): Promise<PgTestServer> {
  started ??= start({ durable: false });
  return started;
}

/**
 * A server of the test's own with PostgreSQL's durable defaults (fsync, synchronous_commit
 * and full_page_writes on), for tests that crash it and count what survived. Stopped with
 * the file's others.
 */
export function ownPostgresServer(): Promise<PgTestServer> {
  return start({ durable: true });
}

after(async () => {
  for (const a of admins) await a.end().catch(() => {});
  for (const stop of stopSyncs) stop();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', RUN_AS, '--', cmd, ...args]] : [cmd, args];
}

function run(cmd: string, args: string[]): void {
  const [c, a] = asServerUser(cmd, args);
  execFileSync(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function start(settings: { durable: boolean }): Promise<PgTestServer> {
  const missing = postgresMissing();
  if (missing !== undefined) throw new Error(`PostgreSQL is not available: ${missing}`);
  // As root the server's user must reach the folder: /tmp, not a TMPDIR that may sit under /root.
  const base = process.env.COFFER_PG_TMP ?? (process.getuid?.() === 0 ? '/tmp' : tmpdir());
  const dir = mkdtempSync(join(base, 'coffer-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', RUN_AS]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', RUN_AS]).toString().trim());
    chownSync(dir, uid, gid);
  }
  run(join(PG_BIN, 'initdb'), ['-D', data, '-U', SUPERUSER, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']);
  const pgCtl = join(PG_BIN, 'pg_ctl');
  let port = 0;
  let opts = '';
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${settings.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off'}`;
    try {
      run(pgCtl, ['-D', data, '-o', opts, '-l', log, '-w', '-t', '30', 'start']);
      break;
    } catch (e) {
      // Another process may have taken the port between our probe and the server's bind.
      if (attempt >= 2) {
        const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
        throw new Error(`pg_ctl start failed: ${String(e)}\n${text}`);
      }
    }
  }
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    const [c, a] = asServerUser(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
    spawnSync(c, a, { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  stopSyncs.push(stopSync);
  process.once('exit', stopSync);

  const url = (database: string) => `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`;
  let n = 0;
  const pool = new pg.Pool({ connectionString: url('postgres'), max: 1, allowExitOnIdle: true });
  pool.on('error', () => {});
  admins.push(pool);
  const create = async (): Promise<string> => {
    const name = `t${process.pid}_${++n}`;
    await pool.query(`CREATE DATABASE ${name} TEMPLATE template0`);
    return url(name);
  };
  let ahead: Promise<string> | undefined;
  return {
    port,
    url,
    async stop() {
      run(pgCtl, ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
    },
    async start() {
      run(pgCtl, ['-D', data, '-o', opts, '-l', log, '-w', '-t', '60', 'start']);
    },
    async crash() {
      run(pgCtl, ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']);
    },
    freshDatabase() {
      // One database is made ahead, while the test that got the last one runs.
      const ready = ahead ?? create();
      ahead = create();
      ahead.catch(() => {});
      return ready;
    },
  };
}

/**
 * `describe` for a test file that needs PostgreSQL: runs `fn` when the server can start;
 * otherwise one test that skips with the reason, or fails when CI is set.
 */
export function describePostgres(name: string, fn: () => void): void {
  const missing = postgresMissing();
  if (missing === undefined) {
    describe(name, fn);
  } else if (process.env.CI) {
    it(`${name}: PostgreSQL is required in CI`, () => {
      throw new Error(`PostgreSQL is not available: ${missing}`);
    });
  } else {
    it(name, { skip: `PostgreSQL is not available: ${missing}` }, () => {});
  }
}

interface Closable {
  close(): Promise<void>;
}

export interface PgStores<S extends Closable> {
  /** A new store on a fresh database, with a pool of its own that close() ends. */
  make(): Promise<S>;
  /** Closes `s` and opens its database again, as a restarted node would. */
  reopen(s: S): Promise<S>;
  /** A second store on `s`'s database with its own pool, as another node would open it. */
  twin(s: S): Promise<S>;
}

/** Stores of one kind for a contract suite: `open` opens one on a pool it then owns. */
export function pgStores<S extends Closable>(open: (pool: pg.Pool) => Promise<S>): PgStores<S> {
  const urls = new WeakMap<S, string>();
  const openAt = async (url: string): Promise<S> => {
    const s = await open(openPgPool(url, { max: 4 }));
    urls.set(s, url);
    return s;
  };
  return {
    make: async () => openAt(await (await postgresServer()).freshDatabase()),
    async reopen(s) {
      await s.close();
      return openAt(urls.get(s)!);
    },
    twin: (s) => openAt(urls.get(s)!),
  };
}

/**
 * The plan PostgreSQL makes for `sql` with `values`, as text, with sequential and bitmap
 * scans and sorts discouraged: on a test's tiny tables a scan and a sort are always
 * cheapest, so this shows whether an index can serve the query, in its order, at all
 * (a plan that still scans or sorts has no other way).
 */
export async function planOf(pool: pg.Pool, sql: string, values: unknown[]): Promise<string> {
  const c = await pool.connect();
  try {
    await c.query('SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off');
    return (await c.query(`EXPLAIN ${sql}`, values)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
  } finally {
    c.release(true);
  }
}
