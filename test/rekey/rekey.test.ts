// `coffer rekey` end to end: the built CLI as a child process, signed as an IAM user,
// against the real server; objects written with the AWS SDK under key A (SSE-KMS plain,
// with a bucket key, multipart, DSSE-KMS) next to SSE-S3 and SSE-C ones.
// After the re-key: HEAD names key B, GET returns the same bytes, no blob file changed,
// key A can be disabled without breaking a read, the audit log has the ReEncrypt calls
// under the user; a rerun changes nothing; --max-objects and a killed run resume from
// the checkpoint; --prefix and --from-key filter; a user without kms:ReEncryptTo (or
// kms:ReEncryptFrom on the source key) gets failures naming it and the objects stay as
// they were; ^C exits 130 with the checkpoint saved. In a versioned bucket every version is
// re-wrapped (or with --current-only the current ones) and the checkpoint holds a version.
// Versions under object lock keep their key: COMPLIANCE and legal holds always, GOVERNANCE
// unless --bypass-governance-retention by a signer allowed s3:BypassGovernanceRetention.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand, PutObjectLegalHoldCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { auditEvents, s3On, kmsOn, userFactory, type TestUser } from '../helpers/sse-principals.js';
import { customerKey, getBody, ssec } from '../helpers/sse.js';
import { CLI_MAIN, filesUnder, patternBytes } from '../interop/support.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface Summary {
  complete: boolean;
  stopped?: string;
  toKeyId: string;
  coveredEarlier: number;
  resumedAfter?: string;
  objects: Record<'rewrapped' | 'converted' | 'unchanged' | 'skipped' | 'changed' | 'failed', number>;
  skippedBy: Record<string, number>;
  failures: { key: string; code: string; message: string }[];
}

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let work: string;
let keyA: string;
let keyB: string;
let keyC: string;
let rekeyer: TestUser;
/** Added to the server's clock (object lock's "now"): a test moves it past a retention instead of waiting. */
let clockShift = 0;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function cli(creds: { accessKeyId: string; secretAccessKey: string } | undefined, ...args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: work };
  if (creds) Object.assign(env, { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey });
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, 'rekey', ...args], { env, cwd: work, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

async function rekey(creds: { accessKeyId: string; secretAccessKey: string }, ...args: string[]): Promise<{ r: CliResult; s: Summary }> {
  const r = await cli(creds, '--endpoint', srv.url, '--json', ...args);
  let s: Summary;
  try {
    s = JSON.parse(r.stdout) as Summary;
  } catch {
    assert.fail(`coffer rekey ${args.join(' ')} exited ${r.code} without a JSON summary\nstderr: ${r.stderr}\nstdout: ${r.stdout}`);
  }
  return { r, s };
}

async function newKey(alias?: string): Promise<string> {
  const k = await srv.kms.send(new CreateKeyCommand({}));
  if (alias) await srv.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: k.KeyMetadata!.KeyId! }));
  return k.KeyMetadata!.Arn!;
}

async function head(s3: S3Client, bucket: string, key: string) {
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

/** sha256 and mtime of every committed blob file: a re-wrap must not touch one. */
async function blobFiles(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dir = path.join(srv.dataDir, 'blobs');
  for (const rel of await filesUnder(dir)) {
    if (rel.startsWith('tmp/')) continue;
    const f = path.join(dir, rel);
    const st = await fs.stat(f);
    out.set(rel, `${sha(await fs.readFile(f))} ${st.mtimeMs}`);
  }
  return out;
}

before(async () => {
  srv = await startTestServer({}, { now: () => Date.now() + clockShift });
  users = userFactory(srv);
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-rekey-'));
  keyA = await newKey('alias/rekey-old');
  keyB = await newKey('alias/rekey-new');
  keyC = await newKey();
  // The default key policies delegate to IAM: the user's identity policy decides.
  rekeyer = await users.create('rekeyer', {
    s3: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
    // kms:DescribeKey on every key: the preflight's check of --to-key / --from-key (and a
    // NotFoundException for an alias that does not exist) needs it.
    kms: [kmsOn(['kms:ReEncryptFrom'], keyA, keyC), kmsOn(['kms:ReEncryptTo', 'kms:Encrypt'], keyB), kmsOn('kms:DescribeKey')],
  });
});

after(async () => {
  users.destroy();
  await srv.stop();
  await fs.rm(work, { recursive: true, force: true });
});

describe('a bucket of mixed objects moved from key A to key B', () => {
  const bucket = uniqueBucket('rekey');
  const bodies = new Map<string, Buffer>();
  const underA = ['plain/01', 'plain/02', 'plain/03', 'plain/04', 'plain/05', 'plain/06', 'bk/obj', 'mp/obj', 'dsse/obj'];
  const cust = customerKey();
  let blobsBefore: Map<string, string>;

  before(async () => {
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const put = async (key: string, size: number, extra: Record<string, unknown>) => {
      const body = patternBytes(size, bodies.size + 1);
      bodies.set(key, body);
      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
    };
    for (const [i, k] of ['plain/01', 'plain/02', 'plain/03', 'plain/04', 'plain/05', 'plain/06'].entries()) {
      await put(k, 70_000 + i * 1000, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA });
    }
    await put('bk/obj', 150_000, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/rekey-old', BucketKeyEnabled: true });
    await put('dsse/obj', 100_000, { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyA });
    await put('other/obj', 80_000, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyC });
    await put('sse-s3/obj', 90_000, { ServerSideEncryption: 'AES256' });
    await put('sse-c/obj', 90_000, ssec(cust));
    await put('plain/default', 90_000, {}); // Coffer, like S3, encrypts it with SSE-S3 by default
    // Multipart: two parts, the part-list tag must still verify after the re-wrap.
    const mp = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/obj', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
    const p1 = patternBytes(5 * 1024 * 1024, 91);
    const p2 = patternBytes(123_456, 92);
    const e1 = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp/obj', UploadId: mp.UploadId, PartNumber: 1, Body: p1 }));
    const e2 = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp/obj', UploadId: mp.UploadId, PartNumber: 2, Body: p2 }));
    await srv.s3.send(new CompleteMultipartUploadCommand({
      Bucket: bucket, Key: 'mp/obj', UploadId: mp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1.ETag }, { PartNumber: 2, ETag: e2.ETag }] },
    }));
    bodies.set('mp/obj', Buffer.concat([p1, p2]));
    blobsBefore = await blobFiles();
    assert.ok(blobsBefore.size >= 12, 'the objects live in blob files');
  });

  test('--max-objects stops early with a checkpoint, and the rerun resumes after it', async () => {
    const first = await rekey(rekeyer.credentials, '--bucket', bucket, '--prefix', 'plain/', '--to-key', 'alias/rekey-new', '--max-objects', '2');
    assert.equal(first.r.code, 0, first.r.stderr);
    assert.equal(first.s.stopped, 'max-objects');
    assert.equal(first.s.objects.rewrapped, 2);
    assert.equal(first.s.toKeyId, keyB, 'the alias is resolved once, to the key');
    const state = JSON.parse(await fs.readFile(path.join(work, `.coffer-rekey-${bucket}.json`), 'utf8')) as { after: string; covered: number };
    assert.deepEqual([state.after, state.covered], ['plain/02', 2]);
    assert.equal((await head(srv.s3, bucket, 'plain/02')).SSEKMSKeyId, keyB);
    assert.equal((await head(srv.s3, bucket, 'plain/03')).SSEKMSKeyId, keyA, 'nothing after the stop was touched');

    const second = await rekey(rekeyer.credentials, '--bucket', bucket, '--prefix', 'plain/', '--to-key', 'alias/rekey-new');
    assert.equal(second.r.code, 0, second.r.stderr);
    assert.equal(second.s.complete, true);
    assert.equal(second.s.resumedAfter, 'plain/02');
    assert.equal(second.s.coveredEarlier, 2);
    assert.deepEqual(second.s.objects, { rewrapped: 4, converted: 0, unchanged: 0, skipped: 1, changed: 0, failed: 0 }, 'plain/03..06 and the SSE-S3 one; not 01, 02 again');
    assert.deepEqual(second.s.skippedBy, { 'sse-s3': 1 });
    await assert.rejects(fs.stat(path.join(work, `.coffer-rekey-${bucket}.json`)), 'a finished run removes its checkpoint');
  });

  test('--from-key leaves objects under other keys; every kind of KMS object moves, the rest is skipped with a reason', async () => {
    const { r, s } = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', keyB, '--from-key', 'alias/rekey-old');
    assert.equal(r.code, 0, r.stderr);
    // plain/01..06 are under B already: unchanged. other/obj (key C) is not under the --from-key.
    assert.deepEqual(s.objects, { rewrapped: 3, converted: 0, unchanged: 6, skipped: 4, changed: 0, failed: 0 }, JSON.stringify(s));
    assert.deepEqual(s.skippedBy, { 'other-source-key': 1, 'sse-c': 1, 'sse-s3': 2 });
    assert.equal((await head(srv.s3, bucket, 'other/obj')).SSEKMSKeyId, keyC);
  });

  test('HEAD names key B, GET returns the same bytes, and no blob file was rewritten', async () => {
    for (const key of underA) {
      const h = await head(srv.s3, bucket, key);
      assert.equal(h.SSEKMSKeyId, keyB, key);
      assert.equal(h.ServerSideEncryption, key === 'dsse/obj' ? 'aws:kms:dsse' : 'aws:kms', key);
      if (key === 'bk/obj') assert.equal(h.BucketKeyEnabled, true, 'a bucket-key object keeps its bucket key');
      assert.equal(sha(await getBody(srv.s3, { Bucket: bucket, Key: key })), sha(bodies.get(key)!), key);
    }
    const ranged = await getBody(srv.s3, { Bucket: bucket, Key: 'mp/obj', Range: 'bytes=5242800-5242999' });
    assert.deepEqual(ranged, bodies.get('mp/obj')!.subarray(5242800, 5243000), 'a range across the part boundary');
    assert.deepEqual(await blobFiles(), blobsBefore, 'blob files: same names, bytes and mtimes');
    assert.equal(sha(await getBody(srv.s3, { Bucket: bucket, Key: 'sse-c/obj', ...ssec(cust) })), sha(bodies.get('sse-c/obj')!));
  });

  test('the audit log has one ReEncrypt per re-wrapped object, as the user, via S3', async () => {
    const events = (await auditEvents(srv)).filter((e) => e.eventName === 'ReEncrypt' && !e.errorCode);
    const mine = events.filter((e) => e.userIdentity.arn === rekeyer.arn);
    assert.equal(mine.length, events.length, 'every ReEncrypt ran as the invoking user');
    assert.equal(mine.length, underA.length);
    for (const e of mine) {
      assert.equal(e.userIdentity.invokedBy, 's3.amazonaws.com');
      assert.deepEqual(e.resources.map((x) => x.ARN).sort(), [keyA, keyB].sort());
      const ctx = (e.requestParameters?.sourceEncryptionContext ?? {}) as Record<string, string>;
      assert.match(ctx['aws:s3:arn'] ?? '', new RegExp(`^arn:aws:s3:::${bucket}`));
    }
  });

  test('a rerun changes nothing', async () => {
    const before = (await auditEvents(srv)).length;
    const { r, s } = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', 'alias/rekey-new', '--progress', 'bar');
    assert.equal(r.code, 0, r.stderr);
    // other/obj (key C) moves now: no --from-key.
    assert.deepEqual(s.objects, { rewrapped: 1, converted: 0, unchanged: 9, skipped: 3, changed: 0, failed: 0 });
    assert.match(r.stderr, /\r\[#{24}\] 100% {2}13\/13 objects {2}[0-9.]+ MiB {2}[0-9.]+ objects\/s {2}ETA 0:00/, 'the bar, redrawn in place');
    const again = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', 'alias/rekey-new');
    assert.deepEqual(again.s.objects, { rewrapped: 0, converted: 0, unchanged: 10, skipped: 3, changed: 0, failed: 0 });
    assert.match(again.r.stderr, /^coffer: progress: 13\/13 objects {2}[0-9.]+ MiB {2}[0-9.]+ objects\/s {2}ETA 0:00$/m, 'not a terminal: plain lines');
    const reencrypts = (await auditEvents(srv)).slice(before).filter((e) => e.eventName === 'ReEncrypt');
    assert.equal(reencrypts.length, 1, 'objects already under the target key cost no KMS call');
  });

  test('--include-sse-s3 converts SSE-S3 objects to SSE-KMS under the target key, bytes untouched', async () => {
    const before = (await auditEvents(srv)).length;
    const { r, s } = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', 'alias/rekey-new', '--include-sse-s3');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(s.objects, { rewrapped: 0, converted: 2, unchanged: 10, skipped: 1, changed: 0, failed: 0 });
    assert.deepEqual(s.skippedBy, { 'sse-c': 1 });
    for (const key of ['sse-s3/obj', 'plain/default']) {
      const h = await head(srv.s3, bucket, key);
      assert.deepEqual([h.ServerSideEncryption, h.SSEKMSKeyId], ['aws:kms', keyB], key);
      assert.equal(sha(await getBody(srv.s3, { Bucket: bucket, Key: key })), sha(bodies.get(key)!), key);
    }
    assert.deepEqual(await blobFiles(), blobsBefore);
    const encrypts = (await auditEvents(srv)).slice(before).filter((e) => e.eventName === 'Encrypt');
    assert.deepEqual(encrypts.map((e) => [e.userIdentity.arn, e.resources[0]?.ARN, e.errorCode]), [[rekeyer.arn, keyB, undefined], [rekeyer.arn, keyB, undefined]]);
    const again = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', 'alias/rekey-new', '--include-sse-s3');
    assert.deepEqual(again.s.objects, { rewrapped: 0, converted: 0, unchanged: 12, skipped: 1, changed: 0, failed: 0 });
  });

  test('with key A disabled every object still reads: A is no longer needed', async () => {
    await srv.kms.send(new DisableKeyCommand({ KeyId: keyA }));
    try {
      for (const key of underA) assert.equal(sha(await getBody(srv.s3, { Bucket: bucket, Key: key })), sha(bodies.get(key)!), key);
    } finally {
      await srv.kms.send(new EnableKeyCommand({ KeyId: keyA }));
    }
  });
});

describe('refusals', () => {
  const bucket = uniqueBucket('rekey-deny');

  before(async () => {
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const k of ['a', 'b', 'c']) {
      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: patternBytes(1000, 7), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
    }
  });

  test('a user without kms:ReEncryptTo gets failures naming it, and the objects stay under A', async () => {
    const noTo = await users.create('rekey-no-to', { s3: [s3On(bucket)], kms: [kmsOn(['kms:ReEncryptFrom'], keyA), kmsOn('kms:DescribeKey', keyB)] });
    const { r, s } = await rekey(noTo.credentials, '--bucket', bucket, '--to-key', keyB, '--state-file', 'no-to.json');
    assert.equal(r.code, 1, 'failures make the exit code non-zero');
    assert.deepEqual(s.objects, { rewrapped: 0, converted: 0, unchanged: 0, skipped: 0, changed: 0, failed: 3 });
    for (const f of s.failures) {
      assert.equal(f.code, 'AccessDeniedException');
      assert.match(f.message, new RegExp(`${noTo.arn} is not authorized to perform: kms:ReEncryptTo on resource: ${keyB}`));
    }
    for (const k of ['a', 'b', 'c']) assert.equal((await head(srv.s3, bucket, k)).SSEKMSKeyId, keyA);
    const human = await cli(noTo.credentials, '--endpoint', srv.url, '--bucket', bucket, '--to-key', keyB, '--state-file', 'no-to.json', '--progress', 'off');
    assert.equal(human.code, 1);
    assert.match(human.stdout, /failed +3/);
    assert.match(human.stdout, /failed: a: AccessDeniedException: .*kms:ReEncryptTo/);
  });

  test('a user allowed everything but kms:ReEncryptFrom on key A gets failures naming it, refused ReEncrypts in the audit log, and the objects stay under A', async () => {
    const noFrom = await users.create('rekey-no-from', {
      s3: [s3On(bucket)],
      kms: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }, { Effect: 'Deny', Action: 'kms:ReEncryptFrom', Resource: keyA }],
    });
    const before = (await auditEvents(srv)).length;
    const { r, s } = await rekey(noFrom.credentials, '--bucket', bucket, '--to-key', keyB, '--state-file', 'no-from.json');
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(s.objects, { rewrapped: 0, converted: 0, unchanged: 0, skipped: 0, changed: 0, failed: 3 });
    for (const f of s.failures) {
      assert.equal(f.code, 'AccessDeniedException');
      assert.match(f.message, new RegExp(`${noFrom.arn} is not authorized to perform: kms:ReEncryptFrom on resource: ${keyA}`));
    }
    for (const k of ['a', 'b', 'c']) assert.equal((await head(srv.s3, bucket, k)).SSEKMSKeyId, keyA, k);
    const reencrypts = (await auditEvents(srv)).slice(before).filter((e) => e.eventName === 'ReEncrypt');
    assert.equal(reencrypts.length, 3, 'one refused ReEncrypt per object');
    for (const e of reencrypts) {
      assert.equal(e.errorCode, 'AccessDeniedException');
      assert.equal(e.userIdentity.arn, noFrom.arn);
      assert.equal(e.userIdentity.invokedBy, 's3.amazonaws.com');
    }
  });

  test('a user without s3:PutObject on the objects is refused by S3 before any KMS call', async () => {
    const readOnly = await users.create('rekey-read-only', {
      s3: [{ Effect: 'Allow', Action: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetObject', 's3:GetObjectVersion'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
      kms: [kmsOn(['kms:ReEncryptFrom'], keyA), kmsOn(['kms:ReEncryptTo', 'kms:DescribeKey'], keyB)],
    });
    const before = (await auditEvents(srv)).length;
    const { r, s } = await rekey(readOnly.credentials, '--bucket', bucket, '--to-key', keyB, '--state-file', 'read-only.json');
    assert.equal(r.code, 1);
    assert.equal(s.objects.failed, 3);
    assert.match(s.failures[0]!.message, /is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::rekey-deny/);
    assert.equal((await auditEvents(srv)).slice(before).filter((e) => e.eventName === 'ReEncrypt').length, 0);
  });

  test('a user without kms:DescribeKey on the target is stopped by the preflight, before any object, with a hint', async () => {
    const noDescribe = await users.create('rekey-no-describe', { s3: [s3On(bucket)], kms: [kmsOn(['kms:ReEncryptFrom'], keyA), kmsOn(['kms:ReEncryptTo'], keyB)] });
    const before = (await auditEvents(srv)).length;
    for (const toKey of ['alias/rekey-new', 'alias/no-such-key']) {
      const r = await cli(noDescribe.credentials, '--endpoint', srv.url, '--bucket', bucket, '--to-key', toKey, '--state-file', path.join(work, 'no-describe.json'));
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stderr.split('\n')[0], `coffer: error: cannot use the key: AccessDeniedException: User: ${noDescribe.arn} is not authorized to perform: kms:DescribeKey on ${toKey}`);
      assert.match(r.stderr, /coffer: hint: coffer rekey checks --to-key and --from-key first as kms:DescribeKey/);
    }
    assert.equal((await auditEvents(srv)).slice(before).filter((e) => e.eventName === 'ReEncrypt').length, 0);
    for (const k of ['a', 'b', 'c']) assert.equal((await head(srv.s3, bucket, k)).SSEKMSKeyId, keyA);
  });

  test('a missing target key, missing credentials and an unreachable server fail once, with a hint', async () => {
    const missing = await cli(rekeyer.credentials, '--endpoint', srv.url, '--bucket', bucket, '--to-key', 'alias/no-such-key');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /coffer: error: cannot use the key: NotFoundException: .*alias\/no-such-key/);
    assert.match(missing.stderr, /coffer: hint: check --to-key/);
    const anonymous = await cli(undefined, '--endpoint', srv.url, '--bucket', bucket, '--to-key', keyB);
    assert.equal(anonymous.code, 2);
    assert.match(anonymous.stderr, /coffer: error: no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/);
    const down = await cli(rekeyer.credentials, '--endpoint', 'http://127.0.0.1:1', '--bucket', bucket, '--to-key', keyB);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /coffer: error: cannot reach http:\/\/127\.0\.0\.1:1: ECONNREFUSED/);
    assert.match(down.stderr, /coffer: hint: is `coffer server` running there\?/);
    const noBucket = await cli(rekeyer.credentials, '--endpoint', srv.url, '--bucket', 'no-such-bucket-rekey', '--to-key', keyB);
    assert.equal(noBucket.code, 2);
    assert.match(noBucket.stderr, /cannot list s3:\/\/no-such-bucket-rekey: NoSuchBucket/);
  });
});

describe('a killed run', () => {
  const bucket = uniqueBucket('rekey-kill');
  const count = 300;

  before(async () => {
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (let i = 0; i < count; i++) {
      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k/${String(i).padStart(4, '0')}`, Body: `object ${i}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
    }
  });

  test('resumes from its checkpoint and ends with every object under key B', async () => {
    const stateFile = path.join(work, 'killed.json');
    // Through a relay that holds every answer once the first checkpoint exists: however fast
    // the machine, the run cannot finish (and remove its checkpoint) before the kill lands.
    const relay = await holdingRelay(new URL(srv.url), () => existsSync(stateFile));
    const child = spawn(process.execPath, [CLI_MAIN, 'rekey', '--endpoint', relay.url, '--bucket', bucket, '--to-key', keyB, '--state-file', stateFile, '--concurrency', '1', '--progress', 'lines'], {
      env: { PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: rekeyer.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: rekeyer.credentials.secretAccessKey },
      stdio: 'ignore',
    });
    let running = true;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
      running = false;
      resolve(code);
    }));
    // Kill it once the checkpoint shows some progress, well before the end.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await fs.readFile(stateFile, 'utf8').then((t) => JSON.parse(t) as { covered: number }, () => undefined);
      if (state && state.covered >= 1) break;
      assert.ok(running, 'the run was still going when its checkpoint first showed progress');
      assert.ok(Date.now() < deadline, 'the checkpoint showed progress within 30 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    assert.equal(await exited, null, 'killed, not finished');
    const state = JSON.parse(await fs.readFile(stateFile, 'utf8')) as { after: string; covered: number };
    assert.ok(state.covered < count, `killed mid-way (${state.covered} of ${count} checkpointed)`);

    // The checkpoint names the endpoint it ran against: the rerun goes through the (released) relay too.
    relay.release();
    const r = await cli(rekeyer.credentials, '--endpoint', relay.url, '--json', '--bucket', bucket, '--to-key', keyB, '--state-file', stateFile);
    await relay.close();
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    assert.equal(s.resumedAfter, state.after);
    assert.equal(s.coveredEarlier, state.covered);
    assert.equal(s.objects.rewrapped + s.objects.unchanged, count - state.covered, 'the rerun lists only what the checkpoint does not cover');
    for (let i = 0; i < count; i += 37) {
      assert.equal((await head(srv.s3, bucket, `k/${String(i).padStart(4, '0')}`)).SSEKMSKeyId, keyB);
    }
    const final = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', keyB, '--state-file', stateFile);
    assert.deepEqual(final.s.objects, { rewrapped: 0, converted: 0, unchanged: count, skipped: 0, changed: 0, failed: 0 });
  });

  test('^C finishes the re-wraps in flight, saves the checkpoint, prints the summary and exits 130', async () => {
    const stateFile = path.join(work, 'interrupted.json');
    // The CLI talks to the server through a relay that holds every answer once the first
    // checkpoint exists, until the CLI has taken the ^C: however fast the machine, the
    // run cannot finish (exit 0) before the interrupt lands.
    const relay = await holdingRelay(new URL(srv.url), () => existsSync(stateFile));
    const child = spawn(process.execPath, [CLI_MAIN, 'rekey', '--endpoint', relay.url, '--bucket', bucket, '--to-key', keyA, '--state-file', stateFile, '--concurrency', '1', '--json'], {
      env: { PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!(await fs.stat(stateFile).then(() => true, () => false))) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the run checkpointed before it ended\n${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGINT');
    const taken = Date.now() + 30_000;
    while (!stderr.includes('coffer: interrupted')) {
      assert.ok(Date.now() < taken && child.exitCode === null, `the run took the ^C\n${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    relay.release();
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /coffer: interrupted: finishing the re-wraps in flight and saving the checkpoint/);
    const s = JSON.parse(stdout) as Summary;
    assert.equal(s.stopped, 'interrupted');
    assert.equal(s.complete, false);
    const state = JSON.parse(await fs.readFile(stateFile, 'utf8')) as { after: string; covered: number };
    assert.equal(state.covered, s.objects.rewrapped, 'the checkpoint covers exactly what this run did');
    assert.ok(state.covered < count);
    // The checkpoint names the endpoint it ran against: the rest goes through the (released) relay too.
    const rest = await cli({ accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, '--endpoint', relay.url, '--json', '--bucket', bucket, '--to-key', keyA, '--state-file', stateFile);
    await relay.close();
    assert.equal(rest.code, 0, rest.stderr);
    const restSummary = JSON.parse(rest.stdout) as Summary;
    assert.equal(restSummary.resumedAfter, state.after);
    assert.deepEqual(restSummary.objects, { rewrapped: count - state.covered, converted: 0, unchanged: 0, skipped: 0, changed: 0, failed: 0 });
  });
});

/**
 * A TCP relay to `target` that forwards requests freely but, once `hold()` is true, keeps
 * the server's answers (and new connections) back until `release()`.
 */
async function holdingRelay(target: URL, hold: () => boolean): Promise<{ url: string; release(): void; close(): Promise<void> }> {
  let released = false;
  const waiting: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const gate = (go: () => void) => (released || !hold() ? go() : waiting.push(go));
  const server = net.createServer((client) => {
    sockets.add(client);
    client.pause();
    gate(() => {
      const upstream = net.connect(Number(target.port), target.hostname, () => client.resume());
      sockets.add(upstream);
      client.on('data', (c: Buffer) => upstream.write(c));
      // Each chunk of an answer waits at the gate, in order.
      let chain = Promise.resolve();
      upstream.on('data', (c: Buffer) => {
        chain = chain.then(() => new Promise<void>((go) => gate(go))).then(() => void client.write(c));
      });
      upstream.on('end', () => void chain.then(() => client.end()));
      client.on('end', () => upstream.end());
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) a.on('error', () => b.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    release() {
      released = true;
      for (const go of waiting.splice(0)) go();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a versioned bucket', () => {
  const bucket = uniqueBucket('rekey-ver');
  const versionsOf = async (key: string) =>
    (await srv.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions!.map((v) => v.VersionId!);
  const keyOf = async (key: string, versionId: string) =>
    (await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).SSEKMSKeyId;

  before(async () => {
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await srv.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    for (const key of ['doc', 'other']) {
      for (let i = 0; i < 3; i++) {
        await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${key} ${i}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
      }
    }
    await srv.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'other' })); // a delete marker has nothing to re-wrap
  });

  test('--current-only re-wraps the current versions only; by default every version is re-wrapped and readable', async () => {
    const { r, s } = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', keyB, '--current-only', '--state-file', 'ver-current.json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.objects.rewrapped, 1, 'the current "doc"; "other" is behind a delete marker');
    const doc = await versionsOf('doc');
    assert.deepEqual(await Promise.all(doc.map((v) => keyOf('doc', v))), [keyB, keyA, keyA]);

    const all = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', keyB, '--state-file', 'ver-all.json', '--concurrency', '2');
    assert.equal(all.r.code, 0, all.r.stderr);
    assert.deepEqual([all.s.objects.rewrapped, all.s.objects.unchanged, all.s.objects.failed], [5, 1, 0]);
    for (const key of ['doc', 'other']) {
      for (const v of await versionsOf(key)) assert.equal(await keyOf(key, v), keyB, `${key} ${v}`);
    }
    const oldest = (await versionsOf('doc')).at(-1)!;
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: oldest }));
    assert.equal(await got.Body!.transformToString(), 'doc 0');
  });

  test('--max-objects stops inside a key\'s history and the next run resumes at the next version', async () => {
    for (let i = 0; i < 3; i++) {
      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'third', Body: `third ${i}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyC }));
    }
    const args = ['--bucket', bucket, '--prefix', 'third', '--to-key', keyB, '--state-file', 'ver-resume.json'];
    const first = await rekey(rekeyer.credentials, ...args, '--max-objects', '2');
    assert.equal(first.s.stopped, 'max-objects');
    const state = JSON.parse(await fs.readFile(path.join(work, 'ver-resume.json'), 'utf8')) as { format: string; after: string; afterVersionId: string; allVersions: boolean };
    assert.deepEqual([state.format, state.after, state.allVersions], ['coffer-rekey-state/2', 'third', true]);
    const versions = await versionsOf('third');
    assert.equal(state.afterVersionId, versions[1]);
    const rest = await rekey(rekeyer.credentials, ...args);
    assert.equal(rest.r.code, 0, rest.r.stderr);
    assert.deepEqual([first.s.objects.rewrapped, rest.s.objects.rewrapped], [2, 1], 'every version exactly once');
    for (const v of versions) assert.equal(await keyOf('third', v), keyB);
  });
});

describe('a bucket with object lock', () => {
  const bucket = uniqueBucket('rekey-lock');
  const until = new Date(Date.now() + 30 * 86_400_000);
  // The versions of "doc", oldest first: what each is written with.
  // Key A is created in the file's before(): read when the versions are written.
  const underA = () => ({ ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: keyA });
  const versions: { name: string; put: () => Record<string, unknown>; body: string; id?: string }[] = [
    { name: 'compliance', put: () => ({ ...underA(), ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }), body: 'compliance version' },
    { name: 'governance', put: () => ({ ...underA(), ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until }), body: 'governance version' },
    { name: 'hold', put: () => ({ ...underA(), ObjectLockLegalHoldStatus: 'ON' }), body: 'legal hold version' },
    { name: 'sse-s3 compliance', put: () => ({ ServerSideEncryption: 'AES256', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }), body: 'sse-s3 compliance version' },
    { name: 'hold off', put: () => ({ ...underA(), ObjectLockLegalHoldStatus: 'OFF' }), body: 'hold off version' },
    { name: 'sse-s3 unlocked', put: () => ({ ServerSideEncryption: 'AES256' }), body: 'sse-s3 unlocked version' },
  ];
  const byName = (name: string) => versions.find((v) => v.name === name)!;
  const headOf = (name: string) => srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: byName(name).id }));
  const bodyOf = async (name: string) => (await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: byName(name).id }))).Body!.transformToString();

  before(async () => {
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    for (const v of versions) v.id = (await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: v.body, ...v.put() }))).VersionId!;
  });

  test('COMPLIANCE, legal hold and GOVERNANCE versions (SSE-S3 ones too, with --include-sse-s3) are skipped as object-lock; the run completes, exit 0, no checkpoint kept', async () => {
    const { r, s } = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', keyB, '--include-sse-s3', '--state-file', 'lock.json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([s.complete, s.objects.rewrapped, s.objects.converted, s.objects.skipped, s.objects.failed], [true, 1, 1, 4, 0]);
    assert.deepEqual(s.skippedBy, { 'object-lock': 4 });
    assert.equal(existsSync(path.join(work, 'lock.json')), false, 'a locked skip does not hold the checkpoint');
    for (const name of ['compliance', 'governance', 'hold']) {
      const h = await headOf(name);
      assert.deepEqual([name, h.ServerSideEncryption, h.SSEKMSKeyId], [name, 'aws:kms', keyA], 'still under its old key');
      assert.equal(await bodyOf(name), byName(name).body);
    }
    const s3 = await headOf('sse-s3 compliance');
    assert.deepEqual([s3.ServerSideEncryption, s3.SSEKMSKeyId, s3.ObjectLockMode], ['AES256', undefined, 'COMPLIANCE'], 'not converted');
    assert.equal(await bodyOf('sse-s3 compliance'), byName('sse-s3 compliance').body);
    assert.equal((await headOf('hold off')).SSEKMSKeyId, keyB, 'a legal hold OFF does not lock');
    assert.equal((await headOf('sse-s3 unlocked')).SSEKMSKeyId, keyB, 'converted');
    // The text summary counts them and says why, with what GOVERNANCE needs.
    const text = await cli(rekeyer.credentials, '--endpoint', srv.url, '--bucket', bucket, '--to-key', keyB, '--include-sse-s3', '--state-file', 'lock.json', '--progress', 'off');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /skipped\s+4\s.*object-lock: 4/);
    assert.match(text.stdout, /4 versions under object lock were left under their key \(COMPLIANCE or legal hold; GOVERNANCE needs --bypass-governance-retention and s3:BypassGovernanceRetention\)/);
  });

  test('--bypass-governance-retention: refused AccessDenied without s3:BypassGovernanceRetention; re-wraps GOVERNANCE (only) with it', async () => {
    // Everything a re-key needs (the standard key-user KMS grants included), but not the bypass.
    const plain = await users.create('rekey-no-bypass', {
      s3: [
        { Effect: 'Allow', Action: ['s3:ListBucket', 's3:ListBucketVersions'], Resource: `arn:aws:s3:::${bucket}` },
        { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], Resource: `arn:aws:s3:::${bucket}/*` },
      ],
      kms: [kmsOn(['kms:ReEncryptFrom'], keyA), kmsOn(['kms:ReEncryptTo', 'kms:Encrypt'], keyB), kmsOn('kms:DescribeKey')],
    });
    const denied = await rekey(plain.credentials, '--bucket', bucket, '--to-key', keyB, '--bypass-governance-retention', '--state-file', 'lock-denied.json');
    assert.equal(denied.r.code, 1, denied.r.stderr);
    assert.deepEqual(denied.s.failures, [{ key: 'doc', code: 'AccessDenied', message: 'Access Denied because object protected by object lock.' }]);
    assert.deepEqual([denied.s.objects.failed, denied.s.skippedBy['object-lock']], [1, 2]);
    assert.equal((await headOf('governance')).SSEKMSKeyId, keyA);
    // The failure kept its checkpoint, of a run with the bypass: a rerun without it is another
    // re-key (and the other way round), not a resume that would count GOVERNANCE versions done.
    const other = await cli(rekeyer.credentials, '--endpoint', srv.url, '--bucket', bucket, '--to-key', keyB, '--state-file', 'lock-denied.json', '--progress', 'off');
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /belongs to another re-key \(.*GOVERNANCE-retained versions too at /);
    assert.match(other.stderr, /--restart/);

    const { r, s } = await rekey(rekeyer.credentials, '--bucket', bucket, '--to-key', keyB, '--bypass-governance-retention', '--state-file', 'lock-bypass.json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([s.objects.rewrapped, s.objects.failed, s.skippedBy['object-lock']], [1, 0, 2], 'GOVERNANCE re-wrapped; COMPLIANCE and the legal hold still skipped');
    const h = await headOf('governance');
    assert.deepEqual([h.SSEKMSKeyId, h.ObjectLockMode, h.ObjectLockRetainUntilDate?.getTime()], [keyB, 'GOVERNANCE', (await headOf('compliance')).ObjectLockRetainUntilDate?.getTime()]);
    assert.equal(await bodyOf('governance'), 'governance version');
    assert.equal((await headOf('compliance')).SSEKMSKeyId, keyA);
    assert.equal((await headOf('hold')).SSEKMSKeyId, keyA);
    // Still locked: COMPLIANCE and legal holds yield to nobody.
    await assert.rejects(srv.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: byName('compliance').id, BypassGovernanceRetention: true })), { name: 'AccessDenied' });
    await assert.rejects(srv.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: byName('hold').id, BypassGovernanceRetention: true })), { name: 'AccessDenied' });
  });

  test('expired retentions (COMPLIANCE and GOVERNANCE) and a released legal hold are re-wrapped as unlocked versions', async () => {
    const expiring = uniqueBucket('rekey-expired');
    await srv.s3.send(new CreateBucketCommand({ Bucket: expiring, ObjectLockEnabledForBucket: true }));
    const soon = new Date(Date.now() + 86_400_000);
    await srv.s3.send(new PutObjectCommand({ Bucket: expiring, Key: 'c', Body: 'c', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA, ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: soon }));
    await srv.s3.send(new PutObjectCommand({ Bucket: expiring, Key: 'g', Body: 'g', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA, ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: soon }));
    await srv.s3.send(new PutObjectCommand({ Bucket: expiring, Key: 'h', Body: 'h', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA, ObjectLockLegalHoldStatus: 'ON' }));
    await srv.s3.send(new PutObjectLegalHoldCommand({ Bucket: expiring, Key: 'h', LegalHold: { Status: 'OFF' } }));
    clockShift = 2 * 86_400_000;
    try {
      const { r, s } = await rekey(rekeyer.credentials, '--bucket', expiring, '--to-key', keyB, '--state-file', 'lock-expired.json');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([s.objects.rewrapped, s.objects.skipped], [3, 0]);
    } finally {
      clockShift = 0;
    }
    for (const k of ['c', 'g', 'h']) assert.equal((await head(srv.s3, expiring, k)).SSEKMSKeyId, keyB, k);
  });
});
