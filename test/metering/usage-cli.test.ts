// `coffer usage` as a user runs it: the built CLI in a child process on the data
// directory of a running server (SQLite WAL lets it read beside the server), a table
// by key, principal, bucket or operation with the estimated cost, --json equal to the
// usage route's answer, price overrides from the environment, and the CLI's error and
// hint conventions.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { CLI_MAIN } from '../interop/support.js';
import { keyHours, keyMonths } from './key-hours.js';

let srv: TestServer;
let keyArn: string;
const bucket = uniqueBucket('usage-cli');

function coffer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('COFFER_')));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...clean, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  srv = await startTestServer();
  keyArn = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (let i = 0; i < 3; i++) await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k${i}`, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn }));
  await (await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k0' }))).Body!.transformToString();
  await srv.kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('p') }));
  // The server flushes about once a second; the CLI reads the file, not the server.
  await srv.coffer.meter!.sync();
});

after(async () => {
  await srv?.stop();
});

test('coffer usage prints a table by key with requests, key-months and the estimated cost, beside the running server', async () => {
  const held = () => keyHours(srv.dataDir).filter((x) => x.keyArn === keyArn);
  const heldBefore = held();
  const r = await coffer(['usage', '--data-dir', srv.dataDir]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^KMS usage from \d{4}-.+Z to \d{4}-.+Z$/);
  assert.match(r.stdout, /^KEY\s+REQUESTS\s+ERRORS\s+AVOIDED\s+KEY-MONTHS\s+EST\. COST$/m);
  const keyLine = lines.find((l) => l.startsWith(keyArn));
  assert.ok(keyLine, r.stdout);
  // The one key, for each hour the server's sampler recorded it: one hour (0.00137
  // key-months), or two if the UTC hour turned during the run (read before and after the
  // CLI: the hourly sample may land while it runs).
  const heldAfter = held();
  assert.ok(heldAfter.length === 1 || heldAfter.length === 2, JSON.stringify(heldAfter));
  assert.ok(heldAfter.every((x) => x.units === 1));
  const printed = Number(keyLine.split(/\s+/)[4]);
  assert.ok([heldBefore.length, heldAfter.length].map(keyMonths).includes(printed), `${printed} key-months for ${JSON.stringify(heldAfter)}`);
  const months = printed;
  // CreateKey, 3 GenerateDataKey, 1 Decrypt, 1 Encrypt.
  assert.deepEqual(keyLine.split(/\s+/).slice(1, 5), ['6', '0', '0', String(months)]);
  assert.match(r.stdout, /^requests: 6 \(0 failed\), 6 in the free tier, 0 billable: \$0\.00$/m);
  assert.ok(r.stdout.split('\n').includes(`keys: ${months} key-months: $${months.toFixed(6)}`), r.stdout);
  assert.match(r.stdout, /^bucket keys saved 0 requests: \$0\.00$/m);
  assert.match(r.stdout, /^prices: \$1 per key-month, \$0\.03 per 10,000 requests, 20,000 free requests a month/m);
  assert.equal(r.stderr, '');
});

test('coffer usage --by bucket and --by operation group the same counts differently', async () => {
  const b = await coffer(['usage', '--data-dir', srv.dataDir, '--by', 'bucket', '--since', '2h']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /^BUCKET\s+REQUESTS\s+ERRORS\s+AVOIDED\s+EST\. COST$/m);
  assert.match(b.stdout, new RegExp(`^${bucket}\\s+4\\s+0\\s+0\\s+\\$0\\.00$`, 'm'));
  assert.match(b.stdout, /^\(none\)\s+2\s+0\s+0\s+\$0\.00$/m);
  const o = await coffer(['usage', '--data-dir', srv.dataDir, '--by', 'operation']);
  assert.match(o.stdout, /^GenerateDataKey\s+3\s/m);
  assert.match(o.stdout, /^Decrypt\s+1\s/m);
});

test('coffer usage --json is the usage route\'s report; prices from the environment apply', async () => {
  const until = new Date().toISOString();
  const cli = await coffer(['usage', '--data-dir', srv.dataDir, '--json', '--since', '2026-01-01', '--until', until, '--by', 'principal']);
  assert.equal(cli.code, 0, cli.stderr);
  const route = await adminCall(srv, 'GET', 'usage', { query: { since: '2026-01-01', until, by: 'principal' } });
  assert.deepEqual(JSON.parse(cli.stdout), route.body);
  const priced = await coffer(['usage', '--data-dir', srv.dataDir, '--json'], { COFFER_FREE_REQUESTS_PER_MONTH: '0', COFFER_PRICE_PER_10K_REQUESTS: '10000' });
  const report = JSON.parse(priced.stdout) as { requests: { billable: number; estimatedCost: number } };
  assert.equal(report.requests.billable, 6);
  assert.equal(report.requests.estimatedCost, 6);
});

test('coffer usage errors: a bad --by or --since, a bad price, a directory without usage; each with a hint and exit 2', async () => {
  const by = await coffer(['usage', '--data-dir', srv.dataDir, '--by', 'colour']);
  assert.equal(by.code, 2);
  assert.equal(by.stdout, '');
  assert.equal(by.stderr, 'coffer: error: invalid --by: colour\ncoffer: hint: use one of principal, key, bucket, operation\n');
  const since = await coffer(['usage', '--data-dir', srv.dataDir, '--since', 'last week']);
  assert.equal(since.code, 2);
  assert.match(since.stderr, /^coffer: error: invalid --since: last week\ncoffer: hint: use a duration such as 12h/);
  const price = await coffer(['usage', '--data-dir', srv.dataDir], { COFFER_PRICE_KEY_MONTH: 'free' });
  assert.equal(price.code, 2);
  assert.match(price.stderr, /^coffer: error: invalid COFFER_PRICE_KEY_MONTH: "free"\ncoffer: hint: COFFER_PRICE_KEY_MONTH must be a number/);
  const empty = await mkdtemp(join(tmpdir(), 'coffer-usage-empty-'));
  try {
    const none = await coffer(['usage', '--data-dir', empty]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^coffer: error: no usage recorded in .+ yet\ncoffer: hint: start `coffer server` on this data directory/);
    const missing = await coffer(['usage', '--data-dir', join(empty, 'nope')]);
    assert.match(missing.stderr, /^coffer: error: no data directory at .+nope\ncoffer: hint:/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});
