// A throwaway PostgreSQL for `npm run bench -- --only cluster`: Debian's binaries
// (/usr/lib/postgresql/15/bin, or COFFER_PG_BIN) run initdb and pg_ctl into a temporary
// folder, on a free loopback port. Unlike the tests' server it keeps PostgreSQL's
// durability defaults (fsync and synchronous_commit on), so a commit costs what it costs in
// production and the comparison with SQLite (synchronous=FULL) is fair. As root it runs as
// the `postgres` system user, as PostgreSQL refuses root.

import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { treeCpuSeconds } from './process-cpu.js';

const SUPERUSER = 'coffer';
const RUN_AS = 'postgres';

function pgBin(): string {
  if (process.env.COFFER_PG_BIN) return process.env.COFFER_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (existsSync(join(root, '15', 'bin'))) return join(root, '15', 'bin');
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return join(root, versions[0] ?? '15', 'bin');
}

/**
 * BENCH_PG_SETTINGS: more server settings to try, `name=value` separated by spaces (e.g.
 * `commit_delay=100 commit_siblings=4`); never for durability (fsync, synchronous_commit,
 * full_page_writes: refused), which must stay as in production.
 */
function extraSettings(): string {
  const given = (process.env.BENCH_PG_SETTINGS ?? '').split(/\s+/).filter(Boolean);
  for (const g of given) {
    if (!/^[a-z_]+=[\w.]+$/.test(g)) throw new Error(`BENCH_PG_SETTINGS: "${g}" is not name=value`);
    if (/^(fsync|synchronous_commit|full_page_writes|wal_sync_method)=/.test(g)) throw new Error(`BENCH_PG_SETTINGS: ${g.split('=')[0]} stays at its durable default`);
  }
  return given.map((g) => `-c ${g}`).join(' ');
}

export interface BenchPostgres {
  /** A new, empty database's connection string. */
  freshDatabase(): Promise<string>;
  /** CPU seconds the server has used so far: the postmaster, its backends and workers (0 without /proc). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function startPostgres(): Promise<BenchPostgres> {
  const bin = pgBin();
  if (!existsSync(join(bin, 'pg_ctl'))) throw Object.assign(new Error(`${join(bin, 'pg_ctl')} not found`), { hint: "install Debian's postgresql package or set COFFER_PG_BIN" });
  const asRoot = process.getuid?.() === 0;
  const runAs = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', RUN_AS, '--', cmd, ...args]] : [cmd, args]);
  const dir = mkdtempSync('/tmp/coffer-bench-pg-');
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', RUN_AS]).toString()), Number(execFileSync('id', ['-g', RUN_AS]).toString()));
  const data = join(dir, 'data');
  const [c1, a1] = runAs(join(bin, 'initdb'), ['-D', data, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  execFileSync(c1, a1, { stdio: 'ignore' });
  const port = await freePort();
  const [c2, a2] = runAs(join(bin, 'pg_ctl'), ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 ${extraSettings()}`, '-l', join(dir, 'log'), '-w', 'start']);
  execFileSync(c2, a2, { stdio: 'ignore' });
  const url = (db: string) => `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;
  // postmaster.pid's first line is the postmaster's pid.
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  const admin = new pg.Pool({ connectionString: url('postgres'), max: 1 });
  let n = 0;
  return {
    cpuSeconds() {
      return treeCpuSeconds(postmaster);
    },
    async freshDatabase() {
      const name = `bench${++n}`;
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
      return url(name);
    },
    async stop() {
      await admin.end();
      const [c3, a3] = runAs(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      spawnSync(c3, a3, { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
