// `mc admin` (MinIO's administration API under /minio/admin/, which Coffer does not
// implement) gets a clear S3 NotImplemented that names the admin API and says where users
// and policies are managed — not the "Credential is mal-formed" its empty-region signature
// used to get. With a bucket named `minio`, the same path is an ordinary object key.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, PutObjectCommand, DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, rawRequest, xmlText } from './support.js';
import { cleanAwsEnv, clientSuite, runTool } from './clients.js';

function mcBinary(): string {
  if (process.env.COFFER_MC) return process.env.COFFER_MC;
  const gopath = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).stdout?.trim() || path.join(os.homedir(), 'go');
  return path.join(gopath, 'bin', 'mc');
}
const MC = mcBinary();
const suite = clientSuite('mc admin', { cmd: MC, args: ['--version'] }, 'go install github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9 (see .ci/run)');

const MESSAGE = /The MinIO administration API \(mc admin, \/minio\/admin\/\) is not implemented by Coffer: manage users, groups and policies with the AWS IAM API/;

describe('MinIO admin API paths', () => {
  let srv: TestServer;
  let work: string;
  before(async () => {
    srv = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-mc-admin-'));
  });
  after(async () => {
    await srv?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('a signed GET /minio/admin/v3/info is 501 NotImplemented naming the admin API', async () => {
    const r = await rawRequest({ url: srv.url, path: '/minio/admin/v3/info', method: 'GET' });
    assert.equal(r.status, 501);
    assert.equal(xmlText(r.body.toString(), 'Code'), 'NotImplemented');
    assert.match(r.body.toString(), MESSAGE);
  });

  test('mc admin info says the admin API is not implemented', { skip: suite.skip }, async () => {
    if (suite.missing) assert.fail(suite.missing);
    const env = cleanAwsEnv({ HOME: work });
    const mc = (...args: string[]) => runTool(MC, ['--config-dir', path.join(work, 'mc-config'), '--no-color', ...args], { env, timeout: 60_000 });
    assert.equal((await mc('alias', 'set', 'coffer', srv.url, ROOT_KEY_ID, ROOT_SECRET, '--api', 'S3v4', '--path', 'on')).code, 0);
    const r = await mc('admin', 'info', 'coffer');
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr + r.stdout, /mal-formed/);
    assert.match(r.stderr + r.stdout, /MinIO administration API/);
  });

  test('with a bucket named minio, /minio/admin/... is an object key as usual', async () => {
    await srv.s3.send(new CreateBucketCommand({ Bucket: 'minio' }));
    try {
      await srv.s3.send(new PutObjectCommand({ Bucket: 'minio', Key: 'admin/v3/info', Body: 'not the admin API' }));
      const got = await srv.s3.send(new GetObjectCommand({ Bucket: 'minio', Key: 'admin/v3/info' }));
      assert.equal(await got.Body!.transformToString(), 'not the admin API');
      await srv.s3.send(new DeleteObjectCommand({ Bucket: 'minio', Key: 'admin/v3/info' }));
    } finally {
      await srv.s3.send(new DeleteBucketCommand({ Bucket: 'minio' }));
    }
  });
});
