// Runs the compiled `coffer` CLI (dist/src/cli/main.js) as a child process, as a user
// would: the exit code and both outputs, a non-zero exit being a result, not an error.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET } from '../interop/support.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a `coffer` command on `dataDir`: this process's, less every COFFER_
 * and AWS_ variable, with the test root credentials unless `root` is false.
 */
export function cofferEnv(dataDir: string, root = true): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COFFER_') && !k.startsWith('AWS_')));
  return { ...env, COFFER_DATA_DIR: dataDir, ...(root ? { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET } : {}) };
}

/** `coffer ...args` with `env`; never rejects on a non-zero exit (only when it could not run or timed out). */
export function runCoffer(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

/** runCoffer, failing the test (with both outputs) unless it exits 0. */
export async function cofferOk(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliResult> {
  const r = await runCoffer(env, ...args);
  assert.equal(r.code, 0, `coffer ${args.join(' ')} exited ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
  return r;
}
