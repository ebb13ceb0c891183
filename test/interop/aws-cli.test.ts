// The real AWS CLI (v1, botocore's default flexible checksums) against the real server:
// the high-level `aws s3` commands (mb, cp with multipart, sync, ls, rm, rb, presign)
// and `aws s3api` calls, including the error codes and exit statuses users script on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { filesUnder, sha256hex } from './support.js';
import { awsCli, awsCliEnv, writeAwsConfig } from './aws-cli-runner.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;
const bucket = uniqueBucket('cli');

const { run, text, json } = awsCli(() => ({ endpoint: srv.url, env }));

/** Runs `aws <args>` feeding `input` on stdin; returns stdout as bytes. */
function awsPipe(input: Buffer | undefined, ...args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('aws', [...args, '--endpoint-url', srv.url], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    p.stdin.end(input);
  });
}

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-'));
  const config = await writeAwsConfig(work, {
    max_concurrent_requests: '4',
    multipart_threshold: '8MB',
    multipart_chunksize: '8MB',
    // CLI v1 presigns with SigV2 unless told otherwise (aws-cli-sigv2.test.ts); this file pins SigV4.
    signature_version: 's3v4',
  });
  env = awsCliEnv(work, { configFile: config });
  const mb = await text('s3', 'mb', `s3://${bucket}`);
  assert.match(mb, new RegExp(`make_bucket: ${bucket}`));
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('aws s3 ls lists the bucket made by aws s3 mb', async () => {
  const out = await text('s3', 'ls');
  assert.match(out, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d ${bucket}$`, 'm'));
});

test('aws s3 cp round-trips a small file byte for byte', async () => {
  const src = path.join(work, 'small.txt');
  const body = Buffer.from('hello from the aws cli\n'.repeat(50));
  await fs.writeFile(src, body);
  const up = await text('s3', 'cp', src, `s3://${bucket}/cp/small.txt`);
  assert.match(up, /upload: .* to s3:\/\//);
  const dst = path.join(work, 'small.back');
  await text('s3', 'cp', `s3://${bucket}/cp/small.txt`, dst);
  assert.ok((await fs.readFile(dst)).equals(body));
});

test('aws s3 cp of a 20 MiB file goes multipart (3 parts of 8 MiB) and comes back intact', async () => {
  const src = path.join(work, 'big.bin');
  const body = randomBytes(20 * 1024 * 1024 + 12345);
  await fs.writeFile(src, body);
  await text('s3', 'cp', src, `s3://${bucket}/cp/big.bin`);
  const head = await json<{ ETag: string; ContentLength: number }>('s3api', 'head-object', '--bucket', bucket, '--key', 'cp/big.bin');
  assert.equal(head.ContentLength, body.length);
  assert.match(head.ETag, /^"[0-9a-f]{32}-3"$/, 'a multipart upload has a "-<parts>" ETag');
  const dst = path.join(work, 'big.back');
  await text('s3', 'cp', `s3://${bucket}/cp/big.bin`, dst);
  const back = await fs.readFile(dst);
  assert.equal(back.length, body.length);
  assert.equal(sha256hex(back), sha256hex(body));
});

test('aws s3 cp streams from stdin (multipart of unknown size) and back to stdout', async () => {
  const body = randomBytes(9 * 1024 * 1024 + 1);
  const up = await awsPipe(body, 's3', 'cp', '-', `s3://${bucket}/cp/stdin.bin`);
  assert.equal(up.code, 0, up.stderr);
  const down = await awsPipe(undefined, 's3', 'cp', `s3://${bucket}/cp/stdin.bin`, '-');
  assert.equal(down.code, 0, down.stderr);
  assert.equal(down.stdout.length, body.length);
  assert.equal(sha256hex(down.stdout), sha256hex(body));
});

test('aws s3 sync uploads a tree with nested, unicode and space names, and syncs it back identically', async () => {
  const tree = path.join(work, 'tree');
  const files: Record<string, Buffer> = {
    'top.txt': Buffer.from('top'),
    'a/b/c/deep.bin': randomBytes(70_000),
    'with space/file name.txt': Buffer.from('spaces'),
    'ünïcødé/日本語.txt': Buffer.from('unicode ✓'),
    'plus+and=equals/x&y.txt': Buffer.from('reserved'),
    'empty.txt': Buffer.alloc(0),
  };
  for (const [rel, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
    await fs.writeFile(path.join(tree, rel), data);
    // An hour old, so "local is newer than the upload" cannot depend on timestamp precision.
    const past = new Date(Date.now() - 3600_000);
    await fs.utimes(path.join(tree, rel), past, past);
  }
  const up = await text('s3', 'sync', tree, `s3://${bucket}/tree/`);
  assert.equal(up.match(/^upload: /gm)?.length, Object.keys(files).length, up);

  const again = await text('s3', 'sync', tree, `s3://${bucket}/tree/`);
  assert.equal(again.trim(), '', 'a second sync finds nothing to upload (sizes and times agree)');

  const back = path.join(work, 'tree-back');
  await text('s3', 'sync', `s3://${bucket}/tree/`, back);
  const want = Object.keys(files).map((f) => f.normalize('NFC')).sort();
  assert.deepEqual((await filesUnder(back)).map((f) => f.normalize('NFC')), want);
  for (const [rel, data] of Object.entries(files)) assert.ok((await fs.readFile(path.join(back, rel))).equals(data), rel);

  const ls = await text('s3', 'ls', `s3://${bucket}/tree/`, '--recursive');
  for (const [rel, data] of Object.entries(files)) {
    const line = ls.split('\n').find((l) => l.endsWith(` tree/${rel}`));
    assert.ok(line, `recursive ls shows tree/${rel}:\n${ls}`);
    assert.match(line, new RegExp(`\\s${data.length} tree/`));
  }
});

test('s3api put-object with metadata and content type; head-object reports them', async () => {
  const src = path.join(work, 'meta.json');
  await fs.writeFile(src, '{"x":1}');
  const put = await json<{ ETag: string }>(
    's3api', 'put-object', '--bucket', bucket, '--key', 'api/meta.json', '--body', src,
    '--content-type', 'application/json', '--metadata', 'color=blue,owner=cli-test', '--cache-control', 'no-cache',
  );
  assert.equal(put.ETag, `"${createHash('md5').update('{"x":1}').digest('hex')}"`);
  const head = await json<Record<string, unknown>>('s3api', 'head-object', '--bucket', bucket, '--key', 'api/meta.json');
  assert.equal(head.ContentType, 'application/json');
  assert.equal(head.ContentLength, 7);
  assert.equal(head.CacheControl, 'no-cache');
  assert.deepEqual(head.Metadata, { color: 'blue', owner: 'cli-test' });
  assert.equal(head.ETag, put.ETag);
  assert.equal(typeof head.LastModified, 'string');
});

test('s3api put-object-tagging / get-object-tagging', async () => {
  await text('s3api', 'put-object-tagging', '--bucket', bucket, '--key', 'api/meta.json', '--tagging', 'TagSet=[{Key=env,Value=test},{Key=team,Value=storage}]');
  const got = await json<{ TagSet: { Key: string; Value: string }[] }>('s3api', 'get-object-tagging', '--bucket', bucket, '--key', 'api/meta.json');
  const tags = Object.fromEntries(got.TagSet.map((t) => [t.Key, t.Value]));
  assert.deepEqual(tags, { env: 'test', team: 'storage' });
});

test('s3api list-objects-v2 with --prefix, --delimiter and paging', async () => {
  const dir = path.join(work, 'list');
  for (const k of ['a', 'b', 'c', 'd/1', 'd/2', 'e/1']) {
    await fs.mkdir(path.dirname(path.join(dir, k)), { recursive: true });
    await fs.writeFile(path.join(dir, k), k);
  }
  await text('s3', 'cp', dir, `s3://${bucket}/list/`, '--recursive');
  const grouped = await json<{ Contents?: { Key: string }[]; CommonPrefixes?: { Prefix: string }[]; KeyCount: number }>(
    's3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/', '--delimiter', '/',
  );
  assert.deepEqual(grouped.Contents?.map((c) => c.Key), ['list/a', 'list/b', 'list/c']);
  assert.deepEqual(grouped.CommonPrefixes?.map((c) => c.Prefix), ['list/d/', 'list/e/']);

  // One raw page of two keys: MaxKeys is honoured and a continuation token is offered.
  const page = await json<{ Contents: { Key: string }[]; IsTruncated: boolean; NextContinuationToken?: string; MaxKeys: number }>(
    's3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/', '--max-keys', '2', '--no-paginate',
  );
  assert.deepEqual(page.Contents.map((c) => c.Key), ['list/a', 'list/b']);
  assert.equal(page.IsTruncated, true);
  assert.equal(page.MaxKeys, 2);
  assert.ok(page.NextContinuationToken);

  // The CLI's own paginator follows continuation tokens page by page.
  const all = await json<{ Contents: { Key: string }[] }>('s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/', '--page-size', '2');
  assert.deepEqual(all.Contents.map((c) => c.Key), ['list/a', 'list/b', 'list/c', 'list/d/1', 'list/d/2', 'list/e/1']);
});

test('s3api copy-object copies bytes and metadata', async () => {
  const r = await json<{ CopyObjectResult: { ETag: string } }>(
    's3api', 'copy-object', '--bucket', bucket, '--key', 'api/meta-copy.json', '--copy-source', `${bucket}/api/meta.json`,
  );
  const head = await json<Record<string, unknown>>('s3api', 'head-object', '--bucket', bucket, '--key', 'api/meta-copy.json');
  assert.equal(head.ETag, r.CopyObjectResult.ETag);
  assert.equal(head.ContentType, 'application/json');
  assert.deepEqual(head.Metadata, { color: 'blue', owner: 'cli-test' });
  const dst = path.join(work, 'copy.out');
  await text('s3api', 'get-object', '--bucket', bucket, '--key', 'api/meta-copy.json', dst);
  assert.equal(await fs.readFile(dst, 'utf8'), '{"x":1}');
});

test('s3api delete-objects deletes several keys and reports each', async () => {
  const r = await json<{ Deleted: { Key: string }[]; Errors?: unknown[] }>(
    's3api', 'delete-objects', '--bucket', bucket, '--delete', JSON.stringify({ Objects: [{ Key: 'list/a' }, { Key: 'list/b' }, { Key: 'list/never-existed' }] }),
  );
  assert.deepEqual(r.Deleted.map((d) => d.Key).sort(), ['list/a', 'list/b', 'list/never-existed']);
  assert.equal(r.Errors, undefined);
  const left = await json<{ Contents: { Key: string }[] }>('s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/');
  assert.deepEqual(left.Contents.map((c) => c.Key), ['list/c', 'list/d/1', 'list/d/2', 'list/e/1']);
});

test('s3api create-multipart-upload / upload-part / complete-multipart-upload', async () => {
  const key = 'api/multi.bin';
  const p1 = randomBytes(5 * 1024 * 1024);
  const p2 = randomBytes(1000);
  await fs.writeFile(path.join(work, 'p1'), p1);
  await fs.writeFile(path.join(work, 'p2'), p2);
  const { UploadId } = await json<{ UploadId: string }>('s3api', 'create-multipart-upload', '--bucket', bucket, '--key', key, '--content-type', 'application/x-parts');
  assert.ok(UploadId);
  const e1 = await json<{ ETag: string }>('s3api', 'upload-part', '--bucket', bucket, '--key', key, '--upload-id', UploadId, '--part-number', '1', '--body', path.join(work, 'p1'));
  const e2 = await json<{ ETag: string }>('s3api', 'upload-part', '--bucket', bucket, '--key', key, '--upload-id', UploadId, '--part-number', '2', '--body', path.join(work, 'p2'));
  const parts = await json<{ Parts: { PartNumber: number; Size: number; ETag: string }[] }>('s3api', 'list-parts', '--bucket', bucket, '--key', key, '--upload-id', UploadId);
  assert.deepEqual(parts.Parts.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, p1.length, e1.ETag], [2, p2.length, e2.ETag]]);
  const done = await json<{ ETag: string; Key: string }>(
    's3api', 'complete-multipart-upload', '--bucket', bucket, '--key', key, '--upload-id', UploadId,
    '--multipart-upload', JSON.stringify({ Parts: [{ PartNumber: 1, ETag: e1.ETag }, { PartNumber: 2, ETag: e2.ETag }] }),
  );
  assert.match(done.ETag, /^"[0-9a-f]{32}-2"$/);
  assert.equal(done.Key, key);
  const dst = path.join(work, 'multi.out');
  const got = await json<{ ContentType: string; ContentLength: number }>('s3api', 'get-object', '--bucket', bucket, '--key', key, dst);
  assert.equal(got.ContentType, 'application/x-parts');
  assert.equal(got.ContentLength, p1.length + p2.length);
  assert.ok((await fs.readFile(dst)).equals(Buffer.concat([p1, p2])));
});

test('s3api get-bucket-location is null (us-east-1)', async () => {
  const r = await json<{ LocationConstraint: string | null }>('s3api', 'get-bucket-location', '--bucket', bucket);
  assert.equal(r.LocationConstraint, null);
});

test('aws s3 presign gives a URL that plain fetch can GET', async () => {
  const url = (await text('s3', 'presign', `s3://${bucket}/cp/small.txt`, '--expires-in', '300')).trim();
  assert.match(url, /X-Amz-Signature=/);
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello from the aws cli\n'.repeat(50));
  const tampered = await fetch(url.replace('small.txt', 'big.bin'));
  assert.equal(tampered.status, 403, 'the signature covers the key');
});

test('head-object of a missing key exits 255 with a 404 Not Found', async () => {
  const r = await run('s3api', 'head-object', '--bucket', bucket, '--key', 'no/such/key');
  assert.equal(r.code, 255);
  assert.match(r.stderr, /404/);
  assert.match(r.stderr, /Not Found/);
});

test('aws s3api put-bucket-policy / get-bucket-policy / get-bucket-policy-status / delete-bucket-policy; a malformed policy is MalformedPolicy', async () => {
  const b = `${bucket}-policy`;
  await text('s3', 'mb', `s3://${b}`);
  await text('s3api', 'delete-public-access-block', '--bucket', b); // new buckets block public policies, as in AWS
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }],
  });
  const file = path.join(work, 'policy.json');
  await fs.writeFile(file, policy);
  await text('s3api', 'put-bucket-policy', '--bucket', b, '--policy', `file://${file}`);
  const got = await json<{ Policy: string }>('s3api', 'get-bucket-policy', '--bucket', b);
  assert.equal(got.Policy, policy);
  const status = await json<{ PolicyStatus: { IsPublic: boolean } }>('s3api', 'get-bucket-policy-status', '--bucket', b);
  assert.equal(status.PolicyStatus.IsPublic, true);
  const bad = await run('s3api', 'put-bucket-policy', '--bucket', b, '--policy', 'not-json');
  assert.equal(bad.code, 255, bad.stderr);
  assert.match(bad.stderr, /MalformedPolicy.*Policies must be valid JSON and the first byte must be '\{'/);
  await text('s3api', 'delete-bucket-policy', '--bucket', b);
  const gone = await run('s3api', 'get-bucket-policy', '--bucket', b);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /NoSuchBucketPolicy/);
  await text('s3', 'rb', `s3://${b}`);
});

test('get-object of a missing key reports NoSuchKey', async () => {
  const r = await run('s3api', 'get-object', '--bucket', bucket, '--key', 'no/such/key', path.join(work, 'nothing'));
  assert.equal(r.code, 255);
  assert.match(r.stderr, /NoSuchKey/);
});

test('listing a missing bucket reports NoSuchBucket', async () => {
  const r = await run('s3', 'ls', `s3://${bucket}-missing`);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /NoSuchBucket/);
});

test('aws s3 rb of a non-empty bucket fails with BucketNotEmpty', async () => {
  const r = await run('s3', 'rb', `s3://${bucket}`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /BucketNotEmpty/);
});

test('aws s3 rm --recursive empties the bucket, then aws s3 rb removes it', async () => {
  const rm = await text('s3', 'rm', `s3://${bucket}`, '--recursive');
  assert.ok((rm.match(/^delete: /gm)?.length ?? 0) >= 10, rm);
  const left = await json<{ KeyCount: number; Contents?: unknown[] }>('s3api', 'list-objects-v2', '--bucket', bucket, '--no-paginate');
  assert.equal(left.Contents, undefined);
  assert.equal(left.KeyCount, 0);
  const rb = await text('s3', 'rb', `s3://${bucket}`);
  assert.match(rb, new RegExp(`remove_bucket: ${bucket}`));
  const ls = await text('s3', 'ls');
  assert.doesNotMatch(ls, new RegExp(` ${bucket}$`, 'm'));
});
