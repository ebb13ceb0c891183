// Runs the real `coffer server` as a child process on a free loopback port with a
// fresh data directory, so its memory and CPU are measured apart from the client.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT_KEY_ID = 'AKIACOFFERBENCHROOT1';
export const ROOT_SECRET = 'coffer-bench-root-secret-key-0123456789';

/** dist/bench/server-process.js -> dist/src/cli/main.js */
const MAIN = resolve(fileURLToPath(import.meta.url), '../../src/cli/main.js');

export interface ServerOptions {
  fsync: boolean;
  /** Another build's dist/src/cli/main.js (to compare builds); default this build's. */
  main?: string;
  /** Extra node flags for the child, e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeFlags?: string[];
  /** Extra environment for the child, e.g. { COFFER_ENCRYPTION_AT_REST: 'off' }. */
  env?: Record<string, string>;
  /** Runs on the fresh data directory before the server starts (a cluster node: the shared root-credentials.json). */
  prepare?: (dataDir: string) => Promise<void>;
}

export interface ServerProcess {
  pid: number;
  url: URL;
  dataDir: string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;

export async function startServer(opts: ServerOptions): Promise<ServerProcess> {
  const base = await mkdtemp(join(tmpdir(), 'coffer-bench-'));
  const dataDir = join(base, 'data');
  if (opts.prepare) {
    await mkdir(dataDir, { recursive: true });
    await opts.prepare(dataDir);
  }
  const args = [...extraNodeFlags(), ...(opts.nodeFlags ?? []), opts.main ?? MAIN, 'server', '--port', '0', '--data-dir', dataDir];
  if (!opts.fsync) args.push('--no-fsync');
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID,
      COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET,
      COFFER_LOG_LEVEL: 'warn',
      COFFER_ADDRESS: '127.0.0.1',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c.toString('utf8'))));
  let url: URL;
  try {
    url = await waitForListening(child);
  } catch (e) {
    child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
    throw e;
  }
  const exited = new Promise<void>((res) => (child.exitCode !== null ? res() : child.once('exit', () => res())));
  return {
    pid: child.pid!,
    url,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}

/**
 * BENCH_SERVER_NODE_OPTIONS: extra node flags for every server child, split on spaces, e.g.
 * '--expose-gc --import=./dist/bench/mem-probe.js' to watch its memory (bench/mem-probe.ts).
 */
function extraNodeFlags(): string[] {
  return (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
}

function waitForListening(child: ChildProcess): Promise<URL> {
  return new Promise<URL>((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not report listening within ${STARTUP_TIMEOUT_MS / 1000} s; stdout: ${out.slice(0, 500)}`)), STARTUP_TIMEOUT_MS);
    const onData = (c: Buffer) => {
      out += c.toString('utf8');
      const m = /Coffer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining so the child never blocks on a full pipe
        resolveUrl(new URL(m[1]!));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (code ${code}, signal ${signal}); stdout: ${out.slice(0, 500)}`));
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

function prefix(text: string): string {
  return text
    .split('\n')
    .map((l, i, a) => (l === '' && i === a.length - 1 ? '' : `[server] ${l}\n`))
    .join('');
}
