// rclone (Debian's package; its S3 backend is the AWS SDK for Go v1) against the real server,
// configured only through RCLONE_CONFIG_* environment variables (provider Other, path style):
// `copy`, `sync` and `check` of a tree that includes a 12 MiB file over a 5 MiB upload cutoff
// (a 3-part multipart upload), with and without server_side_encryption = aws:kms and a key
// this test creates; `rcat` streaming from stdin (multipart of unknown size) and `cat` back.
// What rclone uploaded is checked with the AWS SDK for JavaScript (ETags, SSE headers).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, filesUnder, sha256hex } from './support.js';
import { cleanAwsEnv, clientSuite, runTool } from './clients.js';

const suite = clientSuite('rclone', { cmd: 'rclone', args: ['version'] }, 'Debian: apt-get install rclone');
const MULTIPART = ['--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', '--s3-upload-concurrency', '2'];
// Fail fast: rclone retries a failed transfer three times by default.
const QUICK = ['--retries', '1', '--low-level-retries', '2'];

describe('rclone', { skip: suite.skip }, () => {
  let srv: TestServer;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let keyArn: string;
  const bucket = uniqueBucket('rclone');
  let tree: string;
  const files: Record<string, Buffer> = {
    'top.txt': Buffer.from('top of the tree\n'),
    'a/b/deep.bin': randomBytes(70_000),
    'with space/file name.txt': Buffer.from('spaces'),
    'ünïcødé/日本語.txt': Buffer.from('unicode ✓'),
    'empty.txt': Buffer.alloc(0),
    'big/twelve.bin': randomBytes(12 * 1024 * 1024 + 321),
  };

  async function rclone(args: string[], input?: Buffer) {
    const r = await runTool('rclone', [...QUICK, ...args], { env, input, timeout: 240_000 });
    return r;
  }
  async function ok(...args: string[]) {
    const r = await rclone(args);
    assert.equal(r.code, 0, `rclone ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
    return r.stdout;
  }
  async function writeTree(dir: string, content: Record<string, Buffer>) {
    for (const [rel, body] of Object.entries(content)) {
      await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fs.writeFile(path.join(dir, rel), body);
    }
  }
  async function sameTree(dir: string, content: Record<string, Buffer>) {
    assert.deepEqual(await filesUnder(dir), Object.keys(content).sort());
    for (const [rel, body] of Object.entries(content)) assert.equal(sha256hex(await fs.readFile(path.join(dir, rel))), sha256hex(body), rel);
  }
  async function keysUnder(prefix: string): Promise<string[]> {
    const out = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
  }

  before(async () => {
    if (suite.missing) assert.fail(suite.missing);
    srv = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-rclone-'));
    keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 'rclone interop' }))).KeyMetadata!.Arn!;
    const remote = (name: string, extra: Record<string, string> = {}) => {
      const base: Record<string, string> = {
        TYPE: 's3', PROVIDER: 'Other', ENDPOINT: srv.url, ACCESS_KEY_ID: ROOT_KEY_ID, SECRET_ACCESS_KEY: ROOT_SECRET,
        REGION: 'us-east-1', FORCE_PATH_STYLE: 'true', ...extra,
      };
      return Object.fromEntries(Object.entries(base).map(([k, v]) => [`RCLONE_CONFIG_${name}_${k}`, v]));
    };
    env = cleanAwsEnv({
      // No config file anywhere: the remotes live in the environment only.
      RCLONE_CONFIG: path.join(work, 'no-rclone.conf'),
      HOME: work,
      ...remote('COFFER'),
      ...remote('COFFERKMS', { SERVER_SIDE_ENCRYPTION: 'aws:kms', SSE_KMS_KEY_ID: keyArn }),
    });
    tree = path.join(work, 'tree');
    await writeTree(tree, files);
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  after(async () => {
    await srv?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('rclone copy uploads the tree (12 MiB file as a 3-part multipart upload), check agrees, copy back is identical', async () => {
    await ok('copy', ...MULTIPART, tree, `coffer:${bucket}/plain`);
    assert.deepEqual(await keysUnder('plain/'), Object.keys(files).sort());
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain/big/twelve.bin' }));
    assert.equal(head.ContentLength, files['big/twelve.bin']!.length);
    assert.match(head.ETag ?? '', /^"[0-9a-f]{32}-3"$/, 'multipart: a -3 ETag');
    await ok('check', tree, `coffer:${bucket}/plain`);
    const back = path.join(work, 'plain-back');
    await ok('copy', `coffer:${bucket}/plain`, back);
    await sameTree(back, files);
  });

  test('rclone sync mirrors additions, changes and deletions; check agrees; check spots a difference', async () => {
    const dir = path.join(work, 'sync');
    const v1 = { ...files };
    await writeTree(dir, v1);
    await ok('sync', ...MULTIPART, dir, `coffer:${bucket}/sync`);
    assert.deepEqual(await keysUnder('sync/'), Object.keys(v1).sort());
    // Change one file, delete one, add one.
    await fs.rm(path.join(dir, 'top.txt'));
    const v2: Record<string, Buffer> = { ...v1, 'a/b/deep.bin': randomBytes(80_000), 'new/added.txt': Buffer.from('added later') };
    delete v2['top.txt'];
    await writeTree(dir, v2);
    await ok('sync', ...MULTIPART, dir, `coffer:${bucket}/sync`);
    assert.deepEqual(await keysUnder('sync/'), Object.keys(v2).sort());
    await ok('check', dir, `coffer:${bucket}/sync`);
    const back = path.join(work, 'sync-back');
    await ok('sync', `coffer:${bucket}/sync`, back);
    await sameTree(back, v2);
    // check is not a no-op: a local change makes it fail.
    await fs.writeFile(path.join(dir, 'new/added.txt'), 'changed locally, same length');
    const r = await rclone(['check', dir, `coffer:${bucket}/sync`]);
    assert.notEqual(r.code, 0, 'rclone check must report the differing file');
  });

  test('rclone copy with server_side_encryption = aws:kms: every object (multipart too) is aws:kms under the key; check and copy back agree', async () => {
    await ok('copy', ...MULTIPART, tree, `cofferkms:${bucket}/kms`);
    assert.deepEqual(await keysUnder('kms/'), Object.keys(files).sort());
    for (const rel of Object.keys(files)) {
      const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `kms/${rel}` }));
      assert.equal(head.ServerSideEncryption, 'aws:kms', rel);
      assert.equal(head.SSEKMSKeyId, keyArn, rel);
    }
    await ok('check', tree, `cofferkms:${bucket}/kms`);
    const back = path.join(work, 'kms-back');
    await ok('copy', `cofferkms:${bucket}/kms`, back);
    await sameTree(back, files);
  });

  test('rclone sync with aws:kms: the mirror follows a deletion and stays encrypted under the key', async () => {
    const dir = path.join(work, 'kms-sync');
    const small = { 'one.txt': Buffer.from('one'), 'two/two.bin': randomBytes(9_000), 'three.txt': Buffer.from('three') };
    await writeTree(dir, small);
    await ok('sync', ...MULTIPART, dir, `cofferkms:${bucket}/kms-sync`);
    await fs.rm(path.join(dir, 'three.txt'));
    await ok('sync', ...MULTIPART, dir, `cofferkms:${bucket}/kms-sync`);
    assert.deepEqual(await keysUnder('kms-sync/'), ['one.txt', 'two/two.bin']);
    for (const k of ['one.txt', 'two/two.bin']) {
      const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `kms-sync/${k}` }));
      assert.equal(head.ServerSideEncryption, 'aws:kms');
      assert.equal(head.SSEKMSKeyId, keyArn);
    }
    await ok('check', dir, `cofferkms:${bucket}/kms-sync`);
  });

  for (const [remote, what] of [['coffer', 'plain'], ['cofferkms', 'aws:kms']] as const) {
    test(`rclone rcat streams 12 MiB from stdin (multipart of unknown size, ${what}) and rclone cat returns it`, async () => {
      const body = randomBytes(12 * 1024 * 1024 + 5);
      const key = `rcat/${what.replace(':', '-')}.bin`;
      const up = await rclone(['rcat', ...MULTIPART, '--streaming-upload-cutoff', '1M', `${remote}:${bucket}/${key}`], body);
      assert.equal(up.code, 0, up.stderr);
      const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ContentLength, body.length);
      assert.match(head.ETag ?? '', /-3"$/, 'streamed in 5 MiB parts');
      if (what === 'aws:kms') assert.equal(head.SSEKMSKeyId, keyArn);
      const down = await rclone(['cat', `${remote}:${bucket}/${key}`]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.out.length, body.length);
      assert.equal(sha256hex(down.out), sha256hex(body));
    });
  }
});
