// The published package: `npm pack` of this checkout holds the server and the console's
// assets (and no tests, benchmarks or interop programs), `npm install -g` of that tarball
// into a fresh prefix gives a `coffer` command that runs from the installed files, and
// `coffer server` from there answers S3 and serves the console.
//
// The install resolves dependencies from the npm cache (--prefer-offline: the registry only
// for what the cache lacks). Nothing compiles: better-sqlite3 13 ships prebuilt N-API
// binaries inside its npm package (12 downloaded them from GitHub, else built SQLite from
// source, about 90 s here).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3Client, ListBucketsCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { REPO_ROOT, ROOT_KEY_ID, ROOT_SECRET } from '../interop/support.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeout ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (err && code === -1) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-package-'));
after(() => fs.rm(work, { recursive: true, force: true }));

const pkg = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  private?: boolean;
  files?: string[];
  bin?: Record<string, string>;
  scripts: Record<string, string>;
  engines?: { node?: string };
};

test('package.json is publishable: not private, a files list, a prepack build, Node >= 22, LICENSE beside it', async () => {
  assert.equal(pkg.private, undefined);
  assert.ok(pkg.files && pkg.files.length > 0, 'a files list keeps tests and benchmarks out of the package');
  // prepack, not prepare: prepare would also run on every `npm ci`, which `npm test` follows with a build anyway.
  assert.match(pkg.scripts.prepack ?? '', /npm run build/);
  assert.equal(pkg.scripts.prepare, undefined);
  assert.equal(pkg.engines?.node, '>=22');
  assert.equal(pkg.bin?.coffer, 'dist/src/cli/main.js');
  const license = await fs.readFile(path.join(REPO_ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(license, /END OF TERMS AND CONDITIONS/);
});

let tarball = '';

test('npm pack holds the server, the console assets, README, LICENSE and docs, and no tests, benchmarks or interop programs', async () => {
  // --ignore-scripts: `npm test` has just built dist/; a prepack build here would rewrite
  // files that tests running beside this one are loading.
  const r = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT });
  assert.equal(r.code, 0, r.stderr);
  const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(work, path.basename(info!.filename));
  const files = info!.files.map((f) => f.path);
  for (const must of ['package.json', 'README.md', 'LICENSE', 'dist/src/cli/main.js', 'dist/src/crypto/decrypt-worker.js', 'dist/console/web/index.html', 'docs/ARCHITECTURE.md']) {
    assert.ok(files.includes(must), `${must} is in the package`);
  }
  assert.ok(files.some((f) => f.startsWith('dist/console/web/') && f.endsWith('.js')), 'the console modules are in the package');
  const unwanted = files.filter((f) => /^(dist\/(test|bench|fuzz)\/|test\/|bench\/|fuzz\/|interop\/|src\/|scripts\/|\.ci\/)/.test(f) || f.endsWith('.map'));
  assert.deepEqual(unwanted, []);
});

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const TOO_OLD = NODE_MAJOR < 22 ? `Coffer needs Node >= 22 (better-sqlite3 13 does not load on ${process.version})` : false;

test('npm install -g of the tarball gives a coffer command that serves S3 and the console from the installed files', { timeout: 120_000, skip: TOO_OLD }, async () => {
  assert.ok(tarball, 'the pack test ran first');
  const prefix = path.join(work, 'prefix');
  const env = { ...process.env, npm_config_update_notifier: 'false' };
  const install = await run('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, tarball], { env, timeout: 100_000 });
  assert.equal(install.code, 0, `npm install -g failed:\n${install.stdout}\n${install.stderr}`);

  const bin = path.join(prefix, 'bin', 'coffer');
  const installed = path.join(prefix, 'lib', 'node_modules', 'coffer');
  assert.equal(await fs.realpath(bin), path.join(installed, 'dist', 'src', 'cli', 'main.js'));
  const sqlite = JSON.parse(await fs.readFile(path.join(installed, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string };
  assert.match(sqlite.version, /^13\./, 'better-sqlite3 13, with its prebuilt binaries');
  await assert.rejects(fs.access(path.join(installed, 'node_modules', 'typescript')), 'devDependencies are not installed');

  // TODO(i17-runtime): also check `coffer --version` prints pkg.version once that flag lands.
  const help = await run(bin, ['--help'], { cwd: work });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: coffer /m);
  assert.match(help.stdout, /\bserver\b/);

  // Started from another directory, so nothing can come from this checkout.
  const dataDir = path.join(work, 'data');
  const server = spawn(bin, ['server', '--port', '0', '--data-dir', dataDir], {
    cwd: work,
    env: { ...process.env, COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the installed coffer server did not listen within 15 s; stderr: ${stderr}`)), 15_000);
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
        reject(new Error(`the installed coffer server exited (${code}); stderr: ${stderr}`));
      });
    });
    const s3 = new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'from-the-package' }));
      const listed = await s3.send(new ListBucketsCommand({}));
      assert.deepEqual(listed.Buckets?.map((b) => b.Name), ['from-the-package']);
    } finally {
      s3.destroy();
    }
    const page = await fetch(new URL('/console', url));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
  } finally {
    server.kill('SIGTERM');
  }
  assert.equal(await exited, 0, `the server stops cleanly on SIGTERM; stderr: ${stderr}`);
});
