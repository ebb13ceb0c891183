// `coffer audit query` and `coffer audit tail` (the compiled CLI, as a child process) on a
// data directory whose log has rotated: the filters of the console's route (--principal,
// --key, --bucket, --event, --error, --since, --until), paging with --limit and
// --next-token (the token on stderr), --json, and errors with hints.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, GenerateRandomCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { auditEvents, kmsOn, refusal, s3On, userFactory, type TestUser } from '../helpers/sse-principals.js';
import { CLI_MAIN, waitFor } from '../interop/support.js';
import type { CloudTrailEvent } from '../../src/audit/audit-log.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let alice: TestUser;
let bucket: string;
let keyArn: string;
let mid: Date;
let all: CloudTrailEvent[];

interface CliResult { code: number; stdout: string; stderr: string }

function coffer(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, ...args, '--data-dir', srv.dataDir], { env: { PATH: process.env.PATH }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

async function json(...args: string[]): Promise<{ events: CloudTrailEvent[]; token?: string }> {
  const r = await coffer('audit', ...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CloudTrailEvent);
  return { events, token: /^coffer: next page: --next-token (\S+)$/m.exec(r.stderr)?.[1] };
}

const ids = (es: CloudTrailEvent[]): string[] => es.map((e) => e.eventID);

before(async () => {
  srv = await startTestServer({ COFFER_AUDIT_MAX_FILE_BYTES: '4096', COFFER_AUDIT_MAX_FILES: '100' });
  users = userFactory(srv);
  bucket = uniqueBucket('cli-audit');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  keyArn = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  alice = await users.create('alice', { use: [s3On(bucket), kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], keyArn)] });
  for (let i = 0; i < 10; i++) await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await alice.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a.txt', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn }));
  await refusal(alice.kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('x') })));
  mid = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000);
  await new Promise((r) => setTimeout(r, mid.getTime() - Date.now() + 20));
  for (let i = 0; i < 10; i++) await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
  await alice.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'b.txt', Body: 'y', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, BucketKeyEnabled: false }));
  all = await auditEvents(srv);
});

after(async () => {
  users.destroy();
  await srv.stop();
});

test('the log has rotated into several files', async () => {
  assert.ok((await readdir(join(srv.dataDir, 'audit'))).length >= 4);
});

test('query without --limit: every match, oldest first, across the files', async () => {
  assert.deepEqual(ids((await json('query')).events), ids(all));
  const table = await coffer('audit', 'query', '--event', 'GenerateDataKey');
  assert.match(table.stdout.split('\n')[0]!, /^TIME\s+EVENT\s+PRINCIPAL\s+KEY\s+VIA\s+RESULT$/);
  assert.equal(table.stdout.trimEnd().split('\n').length - 1, all.filter((e) => e.eventName === 'GenerateDataKey').length);
});

test('--bucket, --error, --until, --since, --principal, --key and combinations', async () => {
  const inBucket = all.filter((e) => String((e.requestParameters?.encryptionContext as Record<string, string> | undefined)?.['aws:s3:arn']).startsWith(`arn:aws:s3:::${bucket}/`));
  assert.ok(inBucket.length >= 2);
  assert.deepEqual(ids((await json('query', '--bucket', bucket)).events), ids(inBucket));
  const failures = all.filter((e) => e.errorCode);
  assert.ok(failures.length >= 1);
  assert.deepEqual(ids((await json('query', '--error', 'any')).events), ids(failures));
  assert.deepEqual(ids((await json('query', '--error', 'AccessDeniedException', '--principal', 'alice')).events), ids(failures.filter((e) => e.userIdentity.userName === 'alice')));
  assert.deepEqual(ids((await json('query', '--error', 'none')).events), ids(all.filter((e) => !e.errorCode)));
  const early = all.filter((e) => Date.parse(e.eventTime) < mid.getTime());
  assert.ok(early.length > 0 && early.length < all.length);
  assert.deepEqual(ids((await json('query', '--until', new Date(mid.getTime() - 1).toISOString())).events), ids(early));
  assert.deepEqual(ids((await json('query', '--since', mid.toISOString(), '--key', keyArn.replace(/^.*key\//, ''), '--bucket', bucket)).events),
    ids(inBucket.filter((e) => Date.parse(e.eventTime) >= mid.getTime())));
});

test('--limit pages newest first; each page prints oldest first and the next token on stderr', async () => {
  const pages: CloudTrailEvent[][] = [];
  let token: string | undefined;
  do {
    const r = await json('query', '--event', 'GenerateRandom', '--limit', '3', ...(token ? ['--next-token', token] : []));
    pages.push(r.events);
    token = r.token;
  } while (token);
  assert.ok(pages.length >= 7, `${pages.length} pages`);
  const expected = all.filter((e) => e.eventName === 'GenerateRandom');
  assert.deepEqual(ids(pages.reverse().flat()), ids(expected), 'the pages together, no duplicates and no gaps');
});

test('tail -n reads across rotated files', async () => {
  assert.deepEqual(ids((await json('tail', '-n', '25')).events), ids(all.slice(-25)));
});

test('bad options exit 2 with the option and a hint', async () => {
  for (const [args, message, hint] of [
    [['--limit', '0'], /^coffer: error: invalid --limit: 0$/m, /1 to 1000/],
    [['--until', 'later'], /^coffer: error: invalid --until: later$/m, /15m/],
    [['--bucket', 's3://x'], /^coffer: error: invalid --bucket: s3:\/\/x$/m, /bucket name/],
    [['--limit', '2', '--next-token', 'nonsense'], /^coffer: error: invalid --next-token: nonsense$/m, /previous page/],
    [['--next-token', 'abc'], /^coffer: error: --next-token needs --limit$/m, /--limit/],
  ] as const) {
    const r = await coffer('audit', 'query', ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, message);
    assert.match(r.stderr, new RegExp(`^coffer: hint: .*${hint.source}`, 'm'));
  }
});

test('tail -f prints each new event once, in order, across rotations', async () => {
  const child = spawn(process.execPath, [CLI_MAIN, 'audit', 'tail', '-f', '-n', '1', '--json', '--data-dir', srv.dataDir], { env: { PATH: process.env.PATH } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const seen = () => out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as CloudTrailEvent).requestID);
  try {
    await srv.coffer.audit.flush();
    const newest = (await auditEvents(srv)).at(-1)!.requestID;
    // The newest event is printed first, then the CLI watches.
    assert.ok(await waitFor(async () => seen().length === 1, 10_000), 'tail prints the newest event');
    const ids: string[] = [newest];
    for (let i = 0; i < 15; i++) {
      ids.push((await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }))).$metadata.requestId!);
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.ok(await waitFor(async () => seen().length >= ids.length, 5000), `saw ${seen().length} of ${ids.length}`);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen(), ids);
  } finally {
    child.kill();
  }
});
