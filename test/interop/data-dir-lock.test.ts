// Issue 12 §4, "the data directory is guarded": two servers on one data directory must be
// impossible. A second `coffer server` started beside a live one used to run start-up
// recovery and delete the first one's in-flight upload as a leftover (the client got 500,
// the object was lost). Real server processes, one data directory.

import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET, openRequest, patternBytes, rawRequest, sha256hex, startChildServer, waitFor, tmpBlobs,
  type ChildServer,
} from './support.js';

const MiB = 1024 * 1024;

let dataDir: string;
let first: ChildServer | undefined;

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-lock-'));
});

afterEach(async () => {
  await first?.kill();
  first = undefined;
  await fs.rm(dataDir, { recursive: true, force: true });
});

/** Runs `coffer server` on dataDir to its exit (it must not get to listen): code and stderr. */
function runSecondServer(): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI_MAIN, 'server', '--port', '0', '--data-dir', dataDir], {
      env: { ...process.env, COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // A second server that gets to listen is the bug itself: stop it, the assertions report it.
      if (stdout.includes('Coffer listening on')) proc.kill('SIGKILL');
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

/** A signed PUT of `body` that sends its first half now and the rest when finish() is called. */
async function halfSentPut(url: string, key: string, body: Buffer): Promise<{ finish(): Promise<number> }> {
  const req: http.ClientRequest = await openRequest({
    method: 'PUT', url, path: `/lock-bucket/${key}`,
    headers: { 'content-length': String(body.length), 'content-type': 'application/octet-stream' },
  });
  const answered = new Promise<number>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
  });
  req.write(body.subarray(0, body.length / 2));
  return {
    async finish() {
      req.end(body.subarray(body.length / 2));
      return answered;
    },
  };
}

async function getBytes(url: string, p: string): Promise<Buffer> {
  const req = await openRequest({ method: 'GET', url, path: p });
  return new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${p}: ${res.statusCode}`))));
    });
    req.end();
  });
}

describe('the data directory lock', () => {
  it('a second server on a live data directory exits non-zero naming the first one\'s pid, and the first one\'s in-flight upload survives', async () => {
    first = await startChildServer(dataDir);
    assert.equal((await rawRequest({ method: 'PUT', url: first.url, path: '/lock-bucket' })).status, 200);
    const body = patternBytes(4 * MiB, 7);
    const put = await halfSentPut(first.url, 'in-flight', body);
    // The upload is mid-write: its blob sits in the temporary area the second server would empty.
    assert.ok(await waitFor(async () => (await tmpBlobs(dataDir)).length > 0), 'the upload reached the blob store');

    const second = await runSecondServer();
    assert.doesNotMatch(second.stdout, /Coffer listening on/, 'the second server must not serve');
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, new RegExp(`coffer: error: the data directory .* is in use by another coffer server \\(process ${first.proc.pid}\\b`));
    assert.match(second.stderr, /coffer: hint: stop that server first, or give this one another --data-dir/);

    assert.equal(await put.finish(), 200);
    assert.equal(sha256hex(await getBytes(first.url, '/lock-bucket/in-flight')), sha256hex(body));
  });

  it('the offline commands still run beside a live server (their IAM changes go through it, signed with the root credentials)', async () => {
    first = await startChildServer(dataDir);
    const env = { ...process.env, COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET };
    const out = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI_MAIN, 'user', 'create', 'beside', '--data-dir', dataDir], { timeout: 20_000, env }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });
    assert.equal(out.err, null, out.stderr);
    assert.match(out.stdout, /AKIA|ASIA|[A-Z0-9]{16,}/);
  });

  it('a lock left by a killed server is taken over on the next start, and a clean stop removes it', async () => {
    first = await startChildServer(dataDir);
    const lockFile = path.join(dataDir, 'coffer.lock');
    // A symbolic link naming its holder (pid@host:start), like Emacs's lock files.
    assert.match(await fs.readlink(lockFile), new RegExp(`^${first.proc.pid}@${os.hostname().replace(/[.]/g, '\\.')}:\\d+$`));
    await first.kill();
    await fs.lstat(lockFile); // SIGKILL leaves it behind

    first = await startChildServer(dataDir);
    assert.match(first.stdout() + first.stderr(), /took over the lock/);
    await first.stop();
    assert.equal(first.proc.exitCode, 0);
    await assert.rejects(fs.lstat(lockFile), { code: 'ENOENT' });
  });
});
