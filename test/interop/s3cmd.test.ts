// s3cmd (Debian's package) against the real server, configured by a file in the test's own
// directory (path-style host, plain HTTP to loopback): mb, put (a small file and a 12 MiB
// one in 5 MiB multipart chunks), ls, la, get byte for byte, sync up and back, put with
// --server-side-encryption-kms-id, del and rb — all with SigV4 — then put/get/ls/del again
// with --signature-v2 (AWS's older signature, which S3 still accepts from such clients).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, filesUnder, sha256hex } from './support.js';
import { cleanAwsEnv, clientSuite, runTool } from './clients.js';

const suite = clientSuite('s3cmd', { cmd: 's3cmd', args: ['--version'] }, 'Debian: apt-get install s3cmd');

describe('s3cmd', { skip: suite.skip }, () => {
  let srv: TestServer;
  let work: string;
  let config: string;
  let env: NodeJS.ProcessEnv;
  const bucket = uniqueBucket('s3cmd');
  const v2bucket = uniqueBucket('s3cmd-v2');

  // With --signature-v2, s3cmd retries a request with SigV4 when the server answers that it
  // requires SigV4; its debug log (-d) says so, and a SigV2 step must not need that retry. The
  // debug log is not shown (it echoes the configuration): only its ERROR lines.
  async function s3cmd(args: string[], sig: 'v4' | 'v2' = 'v4') {
    const all = ['-c', config, '--no-progress', ...(sig === 'v2' ? ['--signature-v2', '-d'] : []), ...args];
    return runTool('s3cmd', all, { env, timeout: 180_000 });
  }
  async function ok(args: string[], sig: 'v4' | 'v2' = 'v4') {
    const r = await s3cmd(args, sig);
    const what = `s3cmd ${sig === 'v2' ? '--signature-v2 ' : ''}${args.join(' ')}`;
    if (sig === 'v2') {
      const errors = r.stderr.split('\n').filter((l) => /^(ERROR|WARNING)/.test(l)).join('\n');
      assert.equal(r.code, 0, `${what} exited ${r.code}\n${errors}`);
      assert.doesNotMatch(r.stderr, /Using signature v4/, `${what} fell back to SigV4: the server refused its SigV2 request`);
    } else {
      assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
    }
    return r.stdout;
  }
  async function file(name: string, body: Buffer) {
    const p = path.join(work, name);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, body);
    return p;
  }

  before(async () => {
    if (suite.missing) assert.fail(suite.missing);
    srv = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-s3cmd-'));
    const host = new URL(srv.url).host;
    config = path.join(work, 's3cfg');
    await fs.writeFile(config, [
      '[default]',
      `access_key = ${ROOT_KEY_ID}`,
      `secret_key = ${ROOT_SECRET}`,
      `host_base = ${host}`,
      // No %(bucket)s: path-style requests.
      `host_bucket = ${host}`,
      'use_https = False',
      'bucket_location = us-east-1',
      'signature_v2 = False',
      'multipart_chunk_size_mb = 5',
      '',
    ].join('\n'));
    env = cleanAwsEnv({ HOME: work });
  });

  after(async () => {
    await srv?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  test('SigV4: s3cmd mb, put, ls and get round-trip a small file', async () => {
    await ok(['mb', `s3://${bucket}`]);
    const body = Buffer.from('hello from s3cmd\n'.repeat(100));
    await ok(['put', await file('small.txt', body), `s3://${bucket}/dir/small.txt`]);
    const ls = await ok(['ls', `s3://${bucket}/dir/`]);
    assert.match(ls, new RegExp(`\\s${body.length}\\s+s3://${bucket}/dir/small\\.txt$`, 'm'));
    const la = await ok(['la', '--recursive']);
    assert.match(la, new RegExp(`s3://${bucket}/dir/small\\.txt`));
    const dst = path.join(work, 'small.back');
    await ok(['get', `s3://${bucket}/dir/small.txt`, dst]);
    assert.ok((await fs.readFile(dst)).equals(body));
  });

  test('SigV4: s3cmd put of 12 MiB goes multipart (5 MiB chunks, -3 ETag) and get returns it intact', async () => {
    const body = randomBytes(12 * 1024 * 1024 + 99);
    await ok(['put', await file('big.bin', body), `s3://${bucket}/big.bin`]);
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    assert.equal(head.ContentLength, body.length);
    assert.match(head.ETag ?? '', /^"[0-9a-f]{32}-3"$/, 'three 5 MiB parts: a -3 ETag');
    const dst = path.join(work, 'big.back');
    await ok(['get', `s3://${bucket}/big.bin`, dst]);
    assert.equal(sha256hex(await fs.readFile(dst)), sha256hex(body));
  });

  test('SigV4: s3cmd sync uploads a tree, then mirrors a deletion with --delete-removed, and syncs it back identically', async () => {
    const dir = path.join(work, 'tree');
    const files: Record<string, Buffer> = {
      'top.txt': Buffer.from('top'),
      'a/b/deep.bin': randomBytes(50_000),
      'with space/name.txt': Buffer.from('spaces'),
      'ünï/日本.txt': Buffer.from('unicode'),
    };
    for (const [rel, b] of Object.entries(files)) await file(path.join('tree', rel), b);
    await ok(['sync', `${dir}/`, `s3://${bucket}/tree/`]);
    await fs.rm(path.join(dir, 'top.txt'));
    delete files['top.txt'];
    await ok(['sync', '--delete-removed', `${dir}/`, `s3://${bucket}/tree/`]);
    const listed = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'tree/' }));
    assert.deepEqual((listed.Contents ?? []).map((o) => o.Key!.slice('tree/'.length)).sort(), Object.keys(files).sort());
    const back = path.join(work, 'tree-back');
    await ok(['sync', `s3://${bucket}/tree/`, `${back}/`]);
    assert.deepEqual(await filesUnder(back), Object.keys(files).sort());
    for (const [rel, b] of Object.entries(files)) assert.equal(sha256hex(await fs.readFile(path.join(back, rel))), sha256hex(b), rel);
  });

  test('SigV4: s3cmd put --server-side-encryption-kms-id stores aws:kms under the key; get decrypts', async () => {
    const keyArn = (await srv.kms.send(new CreateKeyCommand({ Description: 's3cmd interop' }))).KeyMetadata!.Arn!;
    const body = randomBytes(40_000);
    await ok(['put', '--server-side-encryption-kms-id', keyArn, await file('kms.bin', body), `s3://${bucket}/kms.bin`]);
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'kms.bin' }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(head.SSEKMSKeyId, keyArn);
    const dst = path.join(work, 'kms.back');
    await ok(['get', `s3://${bucket}/kms.bin`, dst]);
    assert.ok((await fs.readFile(dst)).equals(body));
  });

  test('SigV4: s3cmd del removes objects, del --recursive a prefix, rb the emptied bucket', async () => {
    await ok(['del', `s3://${bucket}/dir/small.txt`]);
    const ls = await ok(['ls', `s3://${bucket}/dir/`]);
    assert.doesNotMatch(ls, /small\.txt/);
    await ok(['del', '--recursive', '--force', `s3://${bucket}/`]);
    const listed = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(listed.KeyCount, 0);
    await ok(['rb', `s3://${bucket}`]);
    const buckets = await ok(['ls']);
    assert.doesNotMatch(buckets, new RegExp(bucket));
  });

  test('SigV2 (--signature-v2): s3cmd mb, put, ls, get, del and rb', async () => {
    await ok(['mb', `s3://${v2bucket}`], 'v2');
    const body = randomBytes(30_000);
    await ok(['put', await file('v2.bin', body), `s3://${v2bucket}/v2/obj.bin`], 'v2');
    const ls = await ok(['ls', `s3://${v2bucket}/v2/`], 'v2');
    assert.match(ls, new RegExp(`s3://${v2bucket}/v2/obj\\.bin`));
    const dst = path.join(work, 'v2.back');
    await ok(['get', `s3://${v2bucket}/v2/obj.bin`, dst], 'v2');
    assert.ok((await fs.readFile(dst)).equals(body));
    await ok(['del', `s3://${v2bucket}/v2/obj.bin`], 'v2');
    const listed = await srv.s3.send(new ListObjectsV2Command({ Bucket: v2bucket }));
    assert.equal(listed.KeyCount, 0);
    await ok(['rb', `s3://${v2bucket}`], 'v2');
  });

  test('SigV2: a wrong secret key is refused with 403 SignatureDoesNotMatch', async () => {
    const bad = path.join(work, 's3cfg-bad');
    await fs.writeFile(bad, (await fs.readFile(config, 'utf8')).replace(`secret_key = ${ROOT_SECRET}`, 'secret_key = not-the-secret-key-0123456789abcdef'));
    const r = await runTool('s3cmd', ['-c', bad, '--signature-v2', '-d', 'ls'], { env, timeout: 60_000 });
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, /Using signature v4/, 'refused as SigV2, not after a fallback to SigV4');
    assert.match(r.stderr, /SignatureDoesNotMatch|403/);
  });
});
