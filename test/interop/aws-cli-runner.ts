// The real AWS CLI run against a test server, as the interop tests drive it: an environment
// with only what a test sets (nothing from this machine's AWS configuration), a config
// file, and `run` / `text` / `json` / `fails` over `aws <args> --endpoint-url <server>`.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';

/**
 * process.env without any AWS_ variable, pointed at the given (usually missing) config and
 * credentials files, with instance metadata off: no profile, credentials file or instance
 * role of this machine leaks into a client.
 */
export function isolatedAwsEnv(configFile: string, credentialsFile: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  return Object.assign(env, { AWS_CONFIG_FILE: configFile, AWS_SHARED_CREDENTIALS_FILE: credentialsFile, AWS_EC2_METADATA_DISABLED: 'true' });
}

/**
 * The AWS CLI's environment: the root credentials in us-east-1, no pager, the config file
 * given (by default <work>/no-config, which does not exist) and no credentials file.
 * `extra` is added last (e.g. AWS_MAX_ATTEMPTS).
 */
export function awsCliEnv(work: string, opts: { configFile?: string; extra?: NodeJS.ProcessEnv } = {}): NodeJS.ProcessEnv {
  return Object.assign(isolatedAwsEnv(opts.configFile ?? path.join(work, 'no-config'), path.join(work, 'no-credentials')), {
    AWS_ACCESS_KEY_ID: ROOT_KEY_ID,
    AWS_SECRET_ACCESS_KEY: ROOT_SECRET,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_PAGER: '',
    ...opts.extra,
  });
}

/** Writes <work>/aws-config: the default profile in us-east-1, path-style S3 addressing and these further `s3` settings. Returns its path. */
export async function writeAwsConfig(work: string, s3: Record<string, string> = {}): Promise<string> {
  const file = path.join(work, 'aws-config');
  const lines = ['[default]', 'region = us-east-1', 's3 =', '    addressing_style = path', ...Object.entries(s3).map(([k, v]) => `    ${k} = ${v}`), ''];
  await fs.writeFile(file, lines.join('\n'));
  return file;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AwsCliOptions {
  /** The server's base URL, passed as --endpoint-url. */
  endpoint: string;
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Appends `--output json` to every command (otherwise only `json` adds it). */
  output?: 'json';
  /** Kills a command that runs longer; 60 s by default. */
  timeoutMs?: number;
}

export interface AwsCli<J> {
  /** Runs `aws <args> --endpoint-url <server>`; never throws on a non-zero exit. */
  run(...args: string[]): Promise<CliResult>;
  /** A command that must exit 0; its stdout. */
  text(...args: string[]): Promise<string>;
  /** A command that must exit 0; its stdout as JSON, {} when empty. */
  json<T = J>(...args: string[]): Promise<T>;
  /** A command that must fail as a service error: exit 254 (CLI v2) or 255 (v1), stderr naming `(code)` or matching the pattern. */
  fails(code: string | RegExp, ...args: string[]): Promise<CliResult>;
  /** The same runner with these variables added to its environment (other credentials, a session token). */
  withEnv(extra: NodeJS.ProcessEnv): AwsCli<J>;
}

/**
 * A runner over the options `options()` returns when each command runs, so a module can
 * make it before its `before` hook has started the server. `J` is the type `json` returns
 * unless told otherwise.
 */
export function awsCli<J = Record<string, unknown>>(options: () => AwsCliOptions): AwsCli<J> {
  const run = (...args: string[]): Promise<CliResult> => {
    const o = options();
    const argv = [...args, '--endpoint-url', o.endpoint, ...(o.output === 'json' ? ['--output', 'json'] : [])];
    return new Promise((resolve, reject) => {
      execFile('aws', argv, { env: o.env, cwd: o.cwd, maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
      });
    });
  };
  const text = async (...args: string[]): Promise<string> => {
    const r = await run(...args);
    assert.equal(r.code, 0, `aws ${args.join(' ')} exited ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
    return r.stdout;
  };
  return {
    run,
    text,
    async json<T = J>(...args: string[]): Promise<T> {
      const out = await text(...args, ...(options().output === 'json' ? [] : ['--output', 'json']));
      return (out.trim() === '' ? {} : JSON.parse(out)) as T;
    },
    async fails(code: string | RegExp, ...args: string[]): Promise<CliResult> {
      const r = await run(...args);
      assert.ok(r.code === 254 || r.code === 255, `aws ${args.join(' ')} should fail with ${code}, exited ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
      assert.match(r.stderr, typeof code === 'string' ? new RegExp(`\\(${code}\\)`) : code, `stderr names ${code}: ${r.stderr}`);
      return r;
    },
    withEnv(extra: NodeJS.ProcessEnv): AwsCli<J> {
      return awsCli<J>(() => {
        const o = options();
        return { ...o, env: { ...o.env, ...extra } };
      });
    },
  };
}
