// Shared pieces of the interop tests: SigV4-signed raw requests over node:http, the
// real `coffer server` as a child process, and small file-system helpers. Nothing
// here imitates Coffer; it only drives it.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../helpers/sha256.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';
import { isolatedAwsEnv } from './aws-cli-runner.js';

export { ROOT_KEY_ID, ROOT_SECRET };

/** The repository root, from dist/test/interop/ (compiled) — fixtures stay in the source tree. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = path.join(REPO_ROOT, 'test', 'interop', 'fixtures');
export const CLI_MAIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

export interface RawRequest {
  method: string;
  /** Base URL of the server, e.g. http://127.0.0.1:1234 */
  url: string;
  /** Already URI-encoded path, e.g. /bucket/some%20key */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Overrides the Host header (and the signed host), e.g. for virtual-hosted style. */
  host?: string;
  /** Signed payload hash; UNSIGNED-PAYLOAD unless a body is given here. */
  body?: Buffer;
  /** Leave the request unsigned (anonymous). */
  anonymous?: boolean;
  /** The x-amz-content-sha256 to sign instead of the body's real hash. */
  payloadHash?: string;
  /** Sign with these instead of the root credentials. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

function signerFor(credentials: { accessKeyId: string; secretAccessKey: string }): SignatureV4 {
  return new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false });
}
const rootSigner = signerFor({ accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });

function queryString(q: Record<string, string> | undefined): string {
  if (!q) return '';
  const parts = Object.entries(q).map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`));
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Signs (unless anonymous) and opens a request; the caller writes the body and ends it. */
export async function openRequest(r: RawRequest): Promise<http.ClientRequest> {
  const base = new URL(r.url);
  const host = r.host ?? base.host;
  let headers: Record<string, string> = { host, ...(r.headers ?? {}) };
  if (!r.anonymous) {
    headers['x-amz-content-sha256'] = r.payloadHash ?? (r.body ? sha256hex(r.body) : 'UNSIGNED-PAYLOAD');
    const signer = r.credentials ? signerFor(r.credentials) : rootSigner;
    const signed = await signer.sign({
      method: r.method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      port: Number(base.port),
      path: r.path,
      query: r.query ?? {},
      headers,
    });
    headers = signed.headers as Record<string, string>;
  }
  return http.request({
    host: base.hostname,
    port: Number(base.port),
    method: r.method,
    path: r.path + queryString(r.query),
    headers,
    agent: false,
  });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A complete signed request with an in-memory body; resolves with the whole response. */
export async function rawRequest(r: RawRequest): Promise<RawResponse> {
  const req = await openRequest(r);
  return new Promise<RawResponse>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.end(r.body);
  });
}

/** A signed request whose body waits: send() writes it and resolves with the whole response. */
export interface HeldRequest {
  send(): Promise<{ status: number; body: string }>;
}

/**
 * Opens a signed request with `Expect: 100-continue` and resolves once the server answered
 * 100 Continue (it authenticated and authorized the request from its headers and now waits
 * for the body): the body is held until send(). A final answer before 100 Continue rejects.
 */
export async function openHeldRequest(r: RawRequest & { body: Buffer }): Promise<HeldRequest> {
  const req = await openRequest({ ...r, headers: { ...r.headers, expect: '100-continue', 'content-length': String(r.body.length) } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    req.on('continue', resolve);
    response.then((res) => reject(new Error(`answered ${res.statusCode} before 100 Continue`)), reject);
  });
  return {
    async send() {
      req.end(r.body);
      const res = await response;
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
    },
  };
}

/** The text of the first <name>...</name> element, if any. */
export function xmlText(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1];
}

/** Every file under dir, relative and sorted ('/' separators); [] when dir is missing. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** Committed blob files (blobs/<aa>/<id>), excluding the temporary area. */
export async function committedBlobs(dataDir: string): Promise<string[]> {
  return (await filesUnder(path.join(dataDir, 'blobs'))).filter((f) => !f.startsWith('tmp/'));
}

export async function tmpBlobs(dataDir: string): Promise<string[]> {
  return filesUnder(path.join(dataDir, 'blobs', 'tmp'));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until check() returns true or the deadline passes; returns the last result. */
export async function waitFor(check: () => Promise<boolean>, ms = 5000, every = 20): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(every);
  }
}

/** Deterministic, non-repeating-looking bytes for a seed (so versions are distinguishable). */
export function patternBytes(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) b.writeUInt32LE(x, i);
    else for (let j = i; j < size; j++) b[j] = (x >>> ((j - i) * 8)) & 0xff;
  }
  return b;
}

export interface ChildServer {
  url: string;
  proc: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `node dist/src/cli/main.js server --port 0 [extraArgs]` on dataDir and waits for its listening line. */
export async function startChildServer(dataDir: string, extraEnv: Record<string, string> = {}, extraArgs: string[] = []): Promise<ChildServer> {
  const proc = spawn(process.execPath, [CLI_MAIN, 'server', '--port', '0', '--data-dir', dataDir, ...extraArgs], {
    env: {
      ...process.env,
      COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID,
      COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET,
      COFFER_LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coffer server not listening within 15 s; stderr: ${err}`)), 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Coffer listening on (https?:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`coffer server exited (${code ?? signal}) before listening; stderr: ${err}`));
    });
  }).catch((e) => {
    proc.kill('SIGKILL');
    throw e;
  });
  return {
    url,
    proc,
    stderr: () => err,
    stdout: () => out,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** What a Python client flow (fixtures/*_flow.py) reported: its exit code, stderr, and the JSON steps it printed. */
export interface PythonFlowRun<Step> {
  code: number;
  stderr: string;
  steps: Record<string, Step>;
}

/**
 * Runs fixtures/<script> with python3 against the server, with no AWS configuration of
 * this machine leaking in (no config or credentials files, no instance metadata). The
 * script prints {"steps": {...}}; an unreadable summary leaves `steps` empty, and the
 * exit-code test reports stderr.
 */
export function runPythonFlow<Step>(script: string, args: string[], timeoutMs: number): Promise<PythonFlowRun<Step>> {
  const env = isolatedAwsEnv(path.join(os.tmpdir(), 'coffer-no-aws-config'), path.join(os.tmpdir(), 'coffer-no-aws-credentials'));
  return new Promise((resolve, reject) => {
    execFile('python3', [path.join(FIXTURES, script), ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      let steps: Record<string, Step> = {};
      try {
        steps = (JSON.parse(stdout) as { steps: Record<string, Step> }).steps;
      } catch {
        // leave steps empty
      }
      resolve({ code: err ? (err.code as unknown as number) : 0, stderr, steps });
    });
  });
}

/** A step a pass/fail flow (boto3_flow.py, boto3_sse_flow.py) reports. */
export interface FlowStep {
  ok: boolean;
  error?: string;
  trace?: string;
  [k: string]: unknown;
}

/**
 * The tests of a pass/fail flow: one that it ran to the end and printed its summary, then
 * one per step (name, behaviour), so a failure names the behaviour. `run` is read when the
 * tests run (the flow starts in a before hook).
 */
export function flowStepTests(flow: string, run: () => PythonFlowRun<FlowStep>, steps: readonly (readonly [string, string])[]): void {
  test(`the ${flow} runs to the end and prints its summary`, () => {
    assert.equal(run().code, 0, run().stderr);
    assert.ok(Object.keys(run().steps).length > 0, `no JSON summary; stderr: ${run().stderr}`);
  });
  for (const [name, behaviour] of steps) {
    test(`boto3: ${behaviour}`, () => {
      const s = run().steps[name];
      assert.ok(s, `step ${name} did not run`);
      assert.ok(s.ok, `step ${name} failed: ${s.error}\n${s.trace ?? ''}`);
    });
  }
}
