// The MinIO client `mc` (built from the Go module proxy with `go install github.com/minio/mc@...`
// — .ci/run does it; minio-go underneath) against the real server, with its configuration in
// the test's own directory (--config-dir): alias set (S3v4, path style), mb, cp up (small
// and a 20 MiB file, which mc sends as a multipart upload), ls, cat, cp down byte for byte,
// stat, rm and rm --recursive --force.
//
// The binary: $COFFER_MC, else $(go env GOPATH)/bin/mc. Debian's `mc` is Midnight Commander,
// so PATH is not searched.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, sha256hex } from './support.js';
import { cleanAwsEnv, clientSuite, runTool } from './clients.js';

function mcBinary(): string {
  if (process.env.COFFER_MC) return process.env.COFFER_MC;
  const gopath = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).stdout?.trim() || path.join(os.homedir(), 'go');
  return path.join(gopath, 'bin', 'mc');
}
const MC = mcBinary();
const suite = clientSuite('mc (MinIO client)', { cmd: MC, args: ['--version'] }, 'go install github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9 (see .ci/run)');

describe('mc (MinIO client)', { skip: suite.skip }, () => {
  let srv: TestServer;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const bucket = uniqueBucket('mc');

  async function mc(...args: string[]) {
    return runTool(MC, ['--config-dir', path.join(work, 'mc-config'), '--quiet', '--no-color', ...args], { env, timeout: 180_000 });
  }
  async function ok(...args: string[]) {
    const r = await mc(...args);
    assert.equal(r.code, 0, `mc ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
    return r;
  }

  before(async () => {
    if (suite.missing) assert.fail(suite.missing);
    assert.match(suite.version, /^mc version/, `${MC} is not the MinIO client: ${suite.version}`);
    srv = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-mc-'));
    env = cleanAwsEnv({ HOME: work });
  });

  after(async () => {
    await srv?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('mc alias set (S3v4, path style) and mb', async () => {
    await ok('alias', 'set', 'coffer', srv.url, ROOT_KEY_ID, ROOT_SECRET, '--api', 'S3v4', '--path', 'on');
    await ok('mb', `coffer/${bucket}`);
    const ls = await ok('ls', '--json', 'coffer');
    const names = ls.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { key: string }).key);
    assert.ok(names.includes(`${bucket}/`), `mc ls lists the bucket: ${names.join(', ')}`);
  });

  test('mc cp up, ls, cat and cp down round-trip a small file', async () => {
    const body = Buffer.from('hello from the MinIO client\n'.repeat(64));
    const src = path.join(work, 'small.txt');
    await fs.writeFile(src, body);
    await ok('cp', src, `coffer/${bucket}/dir/small.txt`);
    const ls = await ok('ls', '--json', '--recursive', `coffer/${bucket}`);
    const entries = ls.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; size: number });
    assert.deepEqual(entries.map((e) => [e.key, e.size]), [['dir/small.txt', body.length]]);
    const cat = await ok('cat', `coffer/${bucket}/dir/small.txt`);
    assert.ok(cat.out.equals(body));
    const dst = path.join(work, 'small.back');
    await ok('cp', `coffer/${bucket}/dir/small.txt`, dst);
    assert.ok((await fs.readFile(dst)).equals(body));
    const stat = await ok('stat', '--json', `coffer/${bucket}/dir/small.txt`);
    assert.equal((JSON.parse(stat.stdout) as { size: number }).size, body.length);
  });

  test('mc cp of 20 MiB goes multipart and comes back intact through cat', async () => {
    const body = randomBytes(20 * 1024 * 1024 + 17);
    const src = path.join(work, 'big.bin');
    await fs.writeFile(src, body);
    await ok('cp', src, `coffer/${bucket}/big.bin`);
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    assert.equal(head.ContentLength, body.length);
    assert.match(head.ETag ?? '', /^"[0-9a-f]{32}-\d+"$/, 'a multipart ETag');
    const cat = await ok('cat', `coffer/${bucket}/big.bin`);
    assert.equal(cat.out.length, body.length);
    assert.equal(sha256hex(cat.out), sha256hex(body));
  });

  test('mc rm removes an object; rm --recursive --force empties the bucket', async () => {
    await ok('rm', `coffer/${bucket}/dir/small.txt`);
    const cat = await mc('cat', `coffer/${bucket}/dir/small.txt`);
    assert.notEqual(cat.code, 0, 'cat of a removed object fails');
    const src = path.join(work, 'tiny.txt');
    await fs.writeFile(src, 'tiny');
    for (const k of ['a/1.txt', 'a/2.txt', 'b/3.txt']) await ok('cp', src, `coffer/${bucket}/${k}`);
    await ok('rm', '--recursive', '--force', `coffer/${bucket}`);
    const listed = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(listed.KeyCount, 0, `left: ${(listed.Contents ?? []).map((o) => o.Key).join(', ')}`);
  });
});
