// The Hadoop S3A harness, shared by test/interop/hadoop-s3a.test.ts (one server) and
// test/cluster/hadoop-s3a-cluster.test.ts (a cluster behind its round-robin proxy): builds
// the Maven runner in interop/hadoop-s3a/, writes one properties file per scenario and runs
// every scenario in one JVM, parsing its one-JSON-line-per-scenario results.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './support.js';
import { CONF_DIR } from '../hadoop/s3a-conf.js';

export const PROJECT = path.join(REPO_ROOT, 'interop', 'hadoop-s3a');
const MAIN_CLASS = 'dev.coffer.interop.S3aInterop';

/** What one scenario's properties file tells the runner. */
export interface ScenarioSpec {
  name: string;
  bucket: string;
  /** Files of interop/hadoop-s3a/conf/ layered over the site file (after test-tuning.xml). */
  layers?: string[];
  mode?: 'roundtrip' | 'denied';
  sizes?: number[];
  /** roundtrip: each file is written twice (the first write stays as a noncurrent version in a versioned bucket). */
  overwrite?: boolean;
  /** header.x-amz-server-side-encryption: a value, 'absent' or 'any'. */
  sse: string;
  /** header.x-amz-server-side-encryption-aws-kms-key-id: a value, 'prefix:...', 'absent' or 'any'. */
  kmsKeyId: string;
  deniedExisting?: string[];
  /** denied mode: 'translated' wants S3A's java.nio.file.AccessDeniedException, 'http-403' any 403 AccessDenied in the chain. */
  deniedExpect?: 'translated' | 'http-403';
}

/** What the runner prints for a scenario (one JSON line). */
export interface Result {
  scenario: string;
  ok: boolean;
  ms: number;
  checks: number;
  error?: string;
  sse: (string | null)[];
  kmsKeyIds: (string | null)[];
  /** s3a:// URI -> sha256 of the plaintext, for files left for these checks. */
  kept: Record<string, string>;
  /** s3a:// URI -> sha256 of each write S3A made to it, in order. */
  written: Record<string, string[]>;
  notes: string[];
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  results: Map<string, Result>;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeout ?? 600_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function requireTool(cmd: string, args: string[], pkg: string): Promise<string> {
  try {
    const r = await run(cmd, args, { timeout: 60_000 });
    assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return (r.stdout + r.stderr).split('\n')[0]!;
  } catch (e) {
    throw new Error(`the Hadoop S3A interop test needs \`${cmd}\` (${pkg}); .ci/run installs it with apt-get: ${(e as Error).message}`);
  }
}

/** Java 17 and Maven, or a failure saying how to install them. */
export async function requireJavaAndMaven(): Promise<void> {
  await requireTool('java', ['-version'], 'Debian: openjdk-17-jdk-headless');
  await requireTool('mvn', ['-v'], 'Debian: maven');
}

/** Compiles the runner and resolves its classpath (downloads on first use, into ~/.m2). */
export async function buildRunner(): Promise<string> {
  const r = await run('mvn', ['-B', '-q', 'compile', 'dependency:build-classpath', '-Dmdep.outputFile=target/classpath.txt'], { cwd: PROJECT, timeout: 900_000 });
  assert.equal(r.code, 0, `mvn compile in ${PROJECT} failed:\n${r.stdout}\n${r.stderr}`);
  const deps = (await fs.readFile(path.join(PROJECT, 'target', 'classpath.txt'), 'utf8')).trim();
  return [path.join(PROJECT, 'target', 'classes'), deps].join(path.delimiter);
}

/** The JVM's environment: nothing AWS-related from this machine; KMS calls (CSE-KMS) go to `kmsEndpoint`. */
export function jvmEnv(work: string, kmsEndpoint: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  return {
    ...env,
    AWS_ENDPOINT_URL_KMS: kmsEndpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(work, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-aws-credentials'),
  };
}

/** Runs the scenarios of `files` in one JVM. */
export async function runScenarios(classpath: string, files: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  // C1 only and the serial collector: a short run on 2 cores shared with the rest of the suite
  // spends less CPU compiling and collecting than it would save.
  const jvm = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn'];
  const r = await run('java', [...jvm, '-cp', classpath, MAIN_CLASS, ...files], { env, timeout: 600_000 });
  const results = new Map<string, Result>();
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const res = JSON.parse(line) as Result;
    results.set(res.scenario, res);
  }
  return { ...r, results };
}

/** Writes `<work>/<name>.properties` for scenario `s` with its core-site.xml `site`; returns its path. */
export async function writeScenarioFile(work: string, s: ScenarioSpec, site: string): Promise<string> {
  const conf = [site, path.join(CONF_DIR, 'test-tuning.xml'), ...(s.layers ?? []).map((f) => path.join(CONF_DIR, f))];
  const lines = [
    `name=${s.name}`,
    `conf=${conf.join(',')}`,
    `dir=s3a://${s.bucket}/${s.name}`,
    `mode=${s.mode ?? 'roundtrip'}`,
    `expect.sse=${s.sse}`,
    `expect.kmsKeyId=${s.kmsKeyId}`,
  ];
  if (s.sizes) lines.push(`sizes=${s.sizes.join(',')}`);
  if (s.overwrite) lines.push('overwrite=true');
  if (s.deniedExisting) lines.push(`denied.existing=${s.deniedExisting.join(',')}`);
  if (s.deniedExpect) lines.push(`denied.expect=${s.deniedExpect}`);
  const file = path.join(work, `${s.name}.properties`);
  // Properties files treat backslash and colon specially; none of our values contain a backslash.
  await fs.writeFile(file, lines.join('\n') + '\n');
  return file;
}
