// The Go KMS load client (bench/kms-load/main.go): GenerateDataKey+Decrypt pairs as
// bench/kms.ts's pairOp makes them, from compiled code with goroutines on keep-alive
// connections. The Node client of bench/kms.ts tops out near 12,800 requests/s on one core
// here, which is about where local-kms answers: with it, a faster server cannot show that it
// is faster. Built once with the local Go toolchain (standard library only, no download)
// into the bench cache, keyed by the source's hash.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT_KEY_ID, ROOT_SECRET } from './server-process.js';

/** bench/kms-load in the source tree (this file runs from dist/bench). */
const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'kms-load');

export interface GoLoadResult {
  /** Requests per second (two per pair). */
  rate: number;
  seconds: number;
  /** The client's CPU seconds per wall second (1.0 = one core). */
  clientCpu: number;
}

/** The client's binary, building it when this source has not been built yet. */
export async function goKmsLoad(): Promise<string> {
  const main = readFileSync(join(SOURCE, 'main.go'));
  const hash = createHash('sha256').update(main).update(readFileSync(join(SOURCE, 'go.mod'))).digest('hex').slice(0, 16);
  const dir = join(process.env.BENCH_PEER_CACHE ?? join(homedir(), '.cache', 'coffer-bench'), `kms-load-${hash}`);
  const bin = join(dir, 'kms-load');
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  await exec('go', ['build', '-o', `${bin}.tmp`, '.'], SOURCE, { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' });
  await rename(`${bin}.tmp`, bin);
  return bin;
}

/** `pairs` pairs (after `warmup`) against `url` with `concurrency` in flight, on `keyId` (CreateKey first when absent). */
export async function runGoKmsLoad(bin: string, url: URL, o: { pairs: number; concurrency: number; warmup?: number; keyId?: string }): Promise<GoLoadResult> {
  const args = ['-endpoint', `http://${url.host}`, '-pairs', String(o.pairs), '-c', String(o.concurrency), '-warmup', String(o.warmup ?? 200), ...(o.keyId ? ['-key', o.keyId] : [])];
  const out = await exec(bin, args, undefined, { ...process.env, KMS_LOAD_ACCESS_KEY_ID: ROOT_KEY_ID, KMS_LOAD_SECRET_ACCESS_KEY: ROOT_SECRET });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { pairs: number; seconds: number; cpuSeconds: number; errors: number; firstError?: string };
  if (r.errors > 0) throw new Error(`Go KMS client: ${r.errors} of ${r.pairs} pairs failed, first: ${r.firstError}`);
  return { rate: (2 * r.pairs) / r.seconds, seconds: r.seconds, clientCpu: r.cpuSeconds / r.seconds };
}

function exec(cmd: string, args: string[], cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => void (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => void (err = (err + c.toString('utf8')).slice(-2000)));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err.trim()}`))));
  });
}
