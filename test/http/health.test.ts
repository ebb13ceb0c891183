// Issue 17, health endpoints: /health/live and /health/ready (and MinIO's paths, for load
// balancers and `mc ready`) answer unsigned GET and HEAD; readiness asks every store, the
// blob directory, the audit log and the root key, and names the part that fails.

import assert from 'node:assert/strict';
import { pino } from 'pino';
import { after, before, describe, it } from 'node:test';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { rawRequest } from '../interop/support.js';

const execFileAsync = promisify(execFile);
const VERSION = (JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], { encoding: 'utf8' })) as { version: string }).version;

async function get(url: string, path: string, method = 'GET') {
  const r = await rawRequest({ method, url, path, anonymous: true });
  return { ...r, json: r.body && r.headers['content-type'] === 'application/json' ? (JSON.parse(r.body) as Record<string, unknown>) : undefined };
}

describe('health endpoints on a healthy server', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('GET /health/live answers 200 with the status and the package version, unsigned', async () => {
    const r = await get(t.url, '/health/live');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok', version: VERSION });
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  it('GET /health/ready answers 200 and lists every part as ok', async () => {
    const r = await get(t.url, '/health/ready');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json?.status, 'ok');
    const parts = r.json?.parts as Record<string, { status: string }>;
    assert.deepEqual(Object.keys(parts).sort(), ['audit', 'blobs', 'iam', 'kms', 'metadata', 'rootKey']);
    for (const [name, p] of Object.entries(parts)) assert.equal(p.status, 'ok', name);
  });

  it('HEAD works on both, with no body', async () => {
    for (const p of ['/health/live', '/health/ready']) {
      const r = await get(t.url, p, 'HEAD');
      assert.equal(r.status, 200, p);
      assert.equal(r.body, '');
    }
  });

  it("MinIO's paths answer as MinIO does: 200 with an empty body", async () => {
    for (const p of ['/minio/health/live', '/minio/health/ready', '/minio/health/cluster', '/minio/health/cluster/read']) {
      const r = await get(t.url, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.body, '', p);
      assert.equal(r.headers['content-length'], '0', p);
    }
  });

  it('every response names Coffer and its version in the Server header', async () => {
    const r = await get(t.url, '/health/live');
    assert.equal(r.headers.server, `Coffer/${VERSION}`);
  });

  it('other unsigned paths return no data: /health/other is S3 (a bucket named health), refused anonymously', async () => {
    const r = await get(t.url, '/health/other');
    assert.notEqual(r.status, 200);
    assert.match(r.body, /<Code>(AccessDenied|NoSuchBucket)<\/Code>/);
  });

  it('mc ready reports the server ready (when mc is installed)', { skip: !existsSync(mcPath()) && 'mc is not installed' }, async () => {
    // mc runs asynchronously: the server answers it from this very process.
    const env = { ...process.env, MC_CONFIG_DIR: join(t.dataDir, 'mc-config') };
    await execFileAsync(mcPath(), ['alias', 'set', 'coffer', t.url, 'AKIACOFFERTESTROOT01', 'coffer-test-root-secret-key-0123456789'], { env, timeout: 60_000 });
    const ready = await execFileAsync(mcPath(), ['ready', 'coffer'], { env, timeout: 60_000 });
    assert.match(ready.stdout, /ready/i);
  });
});

function mcPath(): string {
  try {
    return join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim(), 'bin', 'mc');
  } catch {
    return '/nonexistent/mc';
  }
}

describe('readiness names the part that fails', () => {
  it('a blob directory replaced by a file: 503 naming blobs (the error only in the server log), liveness still 200', async () => {
    const logged: string[] = [];
    const t = await startTestServer({}, { log: pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) }) });
    const blobs = join(t.dataDir, 'blobs');
    try {
      await rename(blobs, `${blobs}.moved`);
      await writeFile(blobs, 'not a directory');
      const r = await get(t.url, '/health/ready');
      assert.equal(r.status, 503, r.body);
      assert.equal(r.json?.status, 'unavailable');
      assert.deepEqual(r.json?.failed, ['blobs']);
      const parts = r.json?.parts as Record<string, { status: string; error?: string }>;
      assert.equal(parts.blobs?.status, 'failed');
      assert.equal(parts.blobs?.error, undefined, 'unsigned: no error text (it may name paths, hosts, ARNs)');
      assert.ok(!r.body.includes(t.dataDir), r.body);
      const warning = logged.map((l) => JSON.parse(l) as { part?: string; error?: string }).find((l) => l.part === 'blobs');
      assert.match(warning?.error ?? '', /ENOTDIR|ENOENT/);
      assert.equal(parts.metadata?.status, 'ok');
      assert.equal((await get(t.url, '/minio/health/ready')).status, 503);
      assert.equal((await get(t.url, '/minio/health/cluster')).status, 503);
      assert.equal((await get(t.url, '/health/live')).status, 200);
      // Put back: ready again.
      await rm(blobs);
      await rename(`${blobs}.moved`, blobs);
      assert.equal((await get(t.url, '/health/ready')).status, 200);
    } finally {
      await t.stop();
    }
  });

  it('an audit log that cannot be written (its disk full): 503 naming audit', async (ctx) => {
    const base = await import('node:fs/promises').then((fs) => fs.mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'coffer-health-audit-')));
    const auditDir = join(base, 'audit');
    await mkdir(auditDir, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', auditDir], { stdio: 'pipe' });
    } catch (e) {
      if (process.env.CI) throw new Error(`cannot mount a tmpfs: ${(e as Error).message}`);
      await rm(base, { recursive: true, force: true });
      ctx.skip('mounting a tmpfs is not permitted here (run as root, or in CI)');
      return;
    }
    let t: TestServer | undefined;
    try {
      t = await startTestServer({}, { dataDir: base });
      assert.equal((await get(t.url, '/health/ready')).status, 200);
      // Fill the disk under the audit log, then make a KMS request that needs a record.
      const h = await open(join(auditDir, 'filler'), 'w');
      try {
        for (;;) await h.write(Buffer.alloc(64 * 1024, 1));
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        await h.close();
      }
      for (let i = 0; i < 40; i++) await t.kms.send(new CreateKeyCommand({ Description: 'x'.repeat(8000) })).catch(() => {});
      const r = await get(t.url, '/health/ready');
      assert.equal(r.status, 503, r.body);
      assert.deepEqual(r.json?.failed, ['audit']);
    } finally {
      await t?.stop();
      execFileSync('umount', [auditDir]);
      await rm(base, { recursive: true, force: true });
    }
  });
});
