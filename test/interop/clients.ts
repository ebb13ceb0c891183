// Pieces shared by the tests of third-party clients (Go SDK, Java SDK, rclone, s3cmd,
// minio-py, mc): whether a client is there (in CI a missing client fails its tests; on a
// developer machine they skip with a message naming the package), whether a slow suite
// runs on this pass, and running a client with a clean environment.

import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes (for downloads to stdout). */
  out: Buffer;
}

/** Runs cmd without a shell; never throws on a non-zero exit (a missing program rejects). */
export function runTool(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number; input?: Buffer } = {},
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => out.push(d));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeout ?? 300_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const buf = Buffer.concat(out);
      resolve({ code, signal, stdout: buf.toString('utf8'), stderr, out: buf });
    });
    if (opts.input) p.stdin!.end(opts.input);
  });
}

/** The environment of this process without anything AWS-related, with no AWS config or credentials files and no instance metadata. */
export function cleanAwsEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('RCLONE_') && !k.startsWith('MC_')));
  return {
    ...env,
    AWS_CONFIG_FILE: path.join(os.tmpdir(), 'coffer-no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(os.tmpdir(), 'coffer-no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/**
 * Whether a client's suite runs here: `skip` is false to run, or the reason to skip. The
 * suite is skipped on the second CI pass (COFFER_INTEROP_SLOW=0, set by .ci/run for Node
 * 24: these suites drive programs outside Node, which Node's version does not change), and
 * on a developer machine without the client. In CI (env CI set) a missing client does not
 * skip: the suite's before hook fails with `missing`.
 */
export function clientSuite(name: string, probe: { cmd: string; args: string[] }, install: string): { skip: string | false; version: string; missing?: string } {
  if (process.env.COFFER_INTEROP_SLOW === '0') return { skip: `${name}: slow interop suite, skipped on this pass (COFFER_INTEROP_SLOW=0)`, version: '' };
  const r = spawnSync(probe.cmd, probe.args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error || r.status !== 0) {
    const missing = `${name} is not available (\`${probe.cmd} ${probe.args.join(' ')}\`: ${r.error?.message ?? `exit ${r.status}: ${r.stderr}`}); install it: ${install}`;
    if (process.env.CI) return { skip: false, version: '', missing };
    return { skip: `${missing} — skipped (in CI this fails)`, version: '' };
  }
  return { skip: false, version: `${r.stdout}${r.stderr}`.trim().split('\n')[0]! };
}
