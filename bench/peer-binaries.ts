// The peers of `npm run bench -- --peer minio`, built from source through the Go module
// proxy into a cache (~/.cache/coffer-bench, or BENCH_PEER_CACHE) once and reused: MinIO
// server and local-kms, each at a pinned pseudo-version, so every run compares against
// the same peer build. Build time is not part of a run's figures.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import net from 'node:net';
import http from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** MinIO's module has no semver tags; this is the proxy's pseudo-version of its 2026-02-12 master. */
export const MINIO = { module: 'github.com/minio/minio', version: 'v0.0.0-20260212201848-7aac2a2c5b7c', bin: 'minio' };
export const LOCAL_KMS = { module: 'github.com/nsmithuk/local-kms', version: 'v0.0.0-20260228092603-2a5e92d09ab6', bin: 'local-kms' };

type Peer = typeof MINIO;

function cacheDir(): string {
  return process.env.BENCH_PEER_CACHE ?? join(homedir(), '.cache', 'coffer-bench');
}

/** The peer's binary path, building it with `go install module@version` when it is not cached. */
export async function peerBinary(peer: Peer): Promise<string> {
  const dir = join(cacheDir(), `${peer.bin}@${peer.version}`);
  const bin = join(dir, peer.bin);
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  process.stderr.write(`bench: building ${peer.module}@${peer.version} from source (once; cached in ${dir})\n`);
  const tmp = join(dir, 'gobin');
  await run('go', ['install', `${peer.module}@${peer.version}`], { ...process.env, GOBIN: tmp, GOFLAGS: '-mod=mod' });
  await rename(join(tmp, peer.bin), bin);
  return bin;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

/** A free loopback port (closed again before it is handed out). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PeerProcess {
  pid: number;
  url: URL;
  stop(): Promise<void>;
}

/** Starts `bin args` with `env`; ready once `ready(url)` resolves true (polled for up to 60 s). */
export async function startPeer(name: string, bin: string, args: string[], env: Record<string, string>, port: number, readyPath: string): Promise<PeerProcess> {
  const child: ChildProcess = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => void (err = (err + c.toString('utf8')).slice(-2000)));
  const url = new URL(`http://127.0.0.1:${port}`);
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited before it was ready: ${err.trim().slice(-500)}`);
    if (await answers(url, readyPath)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} was not ready within 60 s: ${err.trim().slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    pid: child.pid!,
    url,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

function answers(url: URL, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method: path === '/' ? 'POST' : 'GET' }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.once('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
    req.end();
  });
}
