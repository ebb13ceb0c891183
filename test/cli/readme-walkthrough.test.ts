// The README as a walkthrough: every shell block marked `<!-- walkthrough -->` (and Python
// blocks so marked) runs as written, in order, in one bash session with `set -euo pipefail`,
// in a fresh directory against a fresh `coffer server` that this test starts there (the
// quick start's own start command is marked skip). The convention is spelled out in a
// comment at the top of README.md's Quick start. Also: every ```sh block carries a marker,
// and every COFFER_* variable the code reads is documented in the README.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI_MAIN, REPO_ROOT } from '../interop/support.js';

interface Block {
  lang: string;
  line: number;
  marker: string | undefined;
  body: string;
}

const readme = await fs.readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');

/** Fenced blocks with the HTML comment on the line just before each (blank lines between allowed). */
function blocks(text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]!);
    if (!open) {
      if (/^```/.test(lines[i]!)) {
        // an unlabelled fence: skip to its end
        for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++);
      }
      continue;
    }
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const m = j >= 0 ? /^<!-- (walkthrough(?::.*)?) -->$/.exec(lines[j]!.trim()) : null;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ lang: open[1]!, line: start + 1, marker: m?.[1], body: body.join('\n') });
  }
  return out;
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-readme-'));
after(() => fs.rm(work, { recursive: true, force: true }));

const all = blocks(readme);
const runnable = all.filter((b) => b.marker === 'walkthrough');

test('every shell block of the README is marked: run by the walkthrough, or skipped with a reason', () => {
  const sh = all.filter((b) => b.lang === 'sh' || b.lang === 'bash');
  assert.ok(sh.length >= 10, `found ${sh.length} shell blocks`);
  const unmarked = sh.filter((b) => b.marker === undefined || (b.marker !== 'walkthrough' && !/^walkthrough: skip \(.+\)$/.test(b.marker)));
  assert.deepEqual(unmarked.map((b) => `README.md:${b.line}`), []);
  assert.ok(runnable.length >= 6);
  for (const b of runnable) assert.ok(['sh', 'bash', 'python'].includes(b.lang), `README.md:${b.line}: a walkthrough block is sh or python`);
});

test('every COFFER_* variable the code reads is documented in the README', async () => {
  const names = new Set<string>();
  async function walk(dir: string): Promise<void> {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ts')) for (const m of (await fs.readFile(p, 'utf8')).matchAll(/\bCOFFER_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(m[0]);
    }
  }
  await walk(path.join(REPO_ROOT, 'src'));
  assert.ok(names.has('COFFER_MAX_OBJECT_SIZE') && names.size > 30, `found ${names.size} names`);
  const missing = [...names].filter((n) => !readme.includes(n)).sort();
  assert.deepEqual(missing, []);
});

test('the README walkthrough runs as written against a fresh server', { timeout: 240_000 }, async () => {
  // A clean environment: nothing from the developer's AWS or Coffer settings leaks in.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|COFFER_|BOTO_)/.test(k)) env[k] = v;
  const bin = path.join(work, 'bin');
  await fs.mkdir(bin);
  await fs.writeFile(path.join(bin, 'coffer'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_MAIN}" "$@"\n`, { mode: 0o755 });
  // This Node last: the PATH's python3 (with boto3) must win over one beside node.
  env.PATH = `${bin}:${env.PATH ?? ''}:${path.dirname(process.execPath)}`;
  // HOME stays (pyenv's python3 and its boto3 live there); the AWS CLI's files do not.
  env.AWS_CONFIG_FILE = path.join(work, 'aws-config');
  env.AWS_SHARED_CREDENTIALS_FILE = path.join(work, 'aws-credentials');
  env.AWS_PAGER = '';

  const server = spawn(process.execPath, [CLI_MAIN, 'server', '--port', '0', '--data-dir', 'data'], {
    cwd: work,
    env: { ...env, COFFER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverErr = '';
  server.stderr!.on('data', (d: Buffer) => (serverErr += d.toString()));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`coffer server not listening within 15 s; stderr: ${serverErr}`)), 15_000);
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Coffer listening on (https?:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`coffer server exited (${code}); stderr: ${serverErr}`));
      });
    });
    const hostPort = new URL(url).host;

    const script = ['set -euo pipefail'];
    for (const b of runnable) {
      const body = b.body.replaceAll('127.0.0.1:9000', hostPort);
      script.push(`echo ">>> README.md:${b.line}" >&2`);
      if (b.lang === 'python') script.push(`python3 - <<'__COFFER_PY__'`, body, '__COFFER_PY__');
      else script.push(body);
    }
    script.push('echo ">>> done" >&2');
    await fs.writeFile(path.join(work, 'walkthrough.sh'), script.join('\n') + '\n');

    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['walkthrough.sh'], { cwd: work, env, timeout: 200_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
      });
    });
    const blocksRun = [...r.stderr.matchAll(/^>>> (\S+)$/gm)].map((m) => m[1]);
    const failedAt = blocksRun.at(-1);
    assert.equal(r.code, 0, `the walkthrough failed in the block at ${failedAt}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}\n--- server\n${serverErr.slice(-2000)}`);
    assert.equal(failedAt, 'done');
    // What the blocks print, where a wrong answer would not fail a command.
    assert.match(r.stdout, /"Arn": "arn:aws:iam::\d{12}:root"/, 'get-caller-identity as the root');
    assert.match(r.stdout, /^b'hello'$/m, 'the boto3 presigned URL fetched the object');
    assert.match(r.stdout, /^a secret$/m, 'KMS encrypt and decrypt round trip');
    assert.match(r.stdout, /"ServerSideEncryption": "aws:kms"/);
    assert.match(r.stdout, /"allowed"/, 'simulate-principal-policy allows alice kms:Decrypt');
    assert.match(r.stdout, /^1,42$/m, 'alice reads the SSE-KMS object');
    assert.match(r.stdout, /report-dsse\.csv/, 'the role session lists the bucket');
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
});
