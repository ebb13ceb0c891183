// `coffer lifecycle run` against a real server child process, and a lifecycle run killed with
// SIGKILL part way: after a restart, the next run finishes the job with no action done twice
// (each key ends with exactly its version and one delete marker). The rule is a past Date, so
// what is due does not depend on the clock; COFFER_LIFECYCLE_INTERVAL_SECONDS=0 keeps the
// timer out. Also the CLI's summary, its --json, and its errors (no configuration, no bucket,
// a principal without s3:PutLifecycleConfiguration).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand, ListObjectVersionsCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { IAMClient, CreateAccessKeyCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET, startChildServer, type ChildServer } from '../interop/support.js';

const ENV = { COFFER_LIFECYCLE_INTERVAL_SECONDS: '0', COFFER_FSYNC: 'off' };
let dataDir: string;
let server: ChildServer;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'coffer-lifecycle-cli-'));
});
after(async () => {
  await server?.kill();
  await rm(dataDir, { recursive: true, force: true });
});

const s3For = (url: string) => new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });

interface CliResult { code: number; stdout: string; stderr: string }
function cli(url: string, args: string[], creds = { AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH ?? '', HOME: dataDir, ...creds };
    execFile(process.execPath, [CLI_MAIN, 'lifecycle', 'run', '--endpoint', url, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

async function versionsOf(s3: S3Client, bucket: string) {
  const out: { key: string; marker: boolean }[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker, VersionIdMarker }));
    out.push(...(r.Versions ?? []).map((v) => ({ key: v.Key!, marker: false })), ...(r.DeleteMarkers ?? []).map((v) => ({ key: v.Key!, marker: true })));
    if (!r.IsTruncated) return out;
    KeyMarker = r.NextKeyMarker;
    VersionIdMarker = r.NextVersionIdMarker;
  }
}

test('a run killed part way is finished after a restart by `coffer lifecycle run`, nothing done twice', async () => {
  server = await startChildServer(dataDir, { ...ENV, COFFER_LOG_LEVEL: 'info' });
  let s3 = s3For(server.url);
  const bucket = 'crashing';
  const n = 400;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k${String(i + j).padStart(4, '0')}`, Body: 'x' }))));
  }
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: bucket, LifecycleConfiguration: { Rules: [{ ID: 'past', Status: 'Enabled', Filter: {}, Expiration: { Date: new Date('2020-01-01T00:00:00Z') } }] },
  }));
  s3.destroy();
  // Start the run, and kill the server once it has logged some of its actions.
  const run = spawn(process.execPath, [CLI_MAIN, 'lifecycle', 'run', '--endpoint', server.url, '--bucket', bucket], {
    env: { PATH: process.env.PATH ?? '', HOME: dataDir, AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET }, stdio: 'ignore',
  });
  const runEnded = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
  const actions = () => (server.stdout().match(/"operation":"S3.CREATE.DELETEMARKER"/g) ?? []).length;
  const deadline = Date.now() + 60_000;
  while (actions() < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const before = actions();
  await server.kill();
  assert.ok(before >= 20 && before < n, `killed after ${before} of ${n} actions`);
  assert.notEqual(await runEnded, 0, 'the CLI reports the lost connection');

  server = await startChildServer(dataDir, ENV);
  const again = await cli(server.url, ['--bucket', bucket, '--json']);
  assert.equal(again.code, 0, again.stderr);
  const summary = JSON.parse(again.stdout) as { markersAdded: number; complete: boolean; failed: number };
  assert.equal(summary.complete, true);
  assert.equal(summary.failed, 0);
  assert.ok(summary.markersAdded > 0 && summary.markersAdded <= n - before, `the rest: ${summary.markersAdded}`);
  s3 = s3For(server.url);
  const v = await versionsOf(s3, bucket);
  s3.destroy();
  assert.equal(v.length, 2 * n, 'each key: its version and one delete marker');
  const markers = new Map<string, number>();
  for (const x of v) if (x.marker) markers.set(x.key, (markers.get(x.key) ?? 0) + 1);
  assert.equal(markers.size, n);
  assert.ok([...markers.values()].every((c) => c === 1));
  // A third run has nothing left to do; the table summary names each action.
  const third = await cli(server.url, ['--bucket', bucket]);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /^lifecycle rules of crashing applied as of \S+ in [\d.]+ s\n/);
  assert.match(third.stdout, /delete markers added\s+0\n/);
});

test('the CLI says what is wrong: no configuration, no bucket, a principal without s3:PutLifecycleConfiguration', async () => {
  if (!server || server.proc.exitCode !== null) server = await startChildServer(dataDir, ENV);
  const s3 = s3For(server.url);
  await s3.send(new CreateBucketCommand({ Bucket: 'no-rules' }));
  s3.destroy();
  const none = await cli(server.url, ['--bucket', 'no-rules']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^coffer: error: cannot run the lifecycle rules of no-rules: NoSuchLifecycleConfiguration: The lifecycle configuration does not exist\ncoffer: hint: put the rules first/);
  const missing = await cli(server.url, ['--bucket', 'no-such-bucket']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /NoSuchBucket/);
  const iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
  await iam.send(new CreateUserCommand({ UserName: 'nobody' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'nobody' }))).AccessKey!;
  iam.destroy();
  const denied = await cli(server.url, ['--bucket', 'no-rules'], { AWS_ACCESS_KEY_ID: k.AccessKeyId!, AWS_SECRET_ACCESS_KEY: k.SecretAccessKey! });
  assert.equal(denied.code, 2);
  assert.match(denied.stderr, /AccessDeniedException/);
  assert.match(denied.stderr, /hint: allow s3:PutLifecycleConfiguration/);
});
