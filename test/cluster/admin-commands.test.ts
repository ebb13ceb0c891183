// The admin commands on a deployment whose state is in PostgreSQL (--metadata or
// COFFER_METADATA), against a real node on a real database: `coffer usage` reports the
// database's counts, `coffer rekey` re-wraps through the node, `coffer audit` reads the
// cluster's one trail from the database; `coffer check`, `backup` and `restore`
// refuse and say what to use instead (pg_dump, pg_restore, pg_amcheck and the blob tier's
// tools), with the URL's password masked — rather than working on a data directory that
// holds nothing of the cluster's state.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET, startChildServer, waitFor, type ChildServer } from '../interop/support.js';

const PASSWORD = 'admin-pw-5c1d';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function coffer(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

describePostgres('admin commands on a PostgreSQL deployment', () => {
  let url = '';
  let dataDir = '';
  let work = '';
  let node: ChildServer;
  let s3: S3Client;
  let kms: KMSClient;
  let keyA = '';

  before(async () => {
    const u = new URL(await (await postgresServer()).freshDatabase());
    u.password = PASSWORD;
    url = u.toString();
    dataDir = await mkdtemp(join(tmpdir(), 'coffer-pgadmin-'));
    work = await mkdtemp(join(tmpdir(), 'coffer-pgadmin-work-'));
    node = await startChildServer(dataDir, { COFFER_ROOT_KEY: randomBytes(32).toString('base64'), COFFER_METADATA: url });
    const base = { endpoint: node.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } };
    s3 = new S3Client({ ...base, forcePathStyle: true });
    kms = new KMSClient(base);
    keyA = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.send(new EncryptCommand({ KeyId: keyA, Plaintext: Buffer.from('counted') }));
    await s3.send(new CreateBucketCommand({ Bucket: 'admin' }));
    await s3.send(new PutObjectCommand({ Bucket: 'admin', Key: 'sealed', Body: 'x'.repeat(1000), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyA }));
  });

  after(async () => {
    s3?.destroy();
    kms?.destroy();
    await node?.stop();
    for (const d of [dataDir, work]) await rm(d, { recursive: true, force: true });
  });

  for (const [command, args, instead] of [
    ['check', [], /pg_amcheck/],
    ['backup', ['--to', 'BACKUP'], /pg_dump/],
    ['restore', ['--from', 'BACKUP', '--data-dir', 'RESTORED'], /pg_restore/],
  ] as const) {
    it(`coffer ${command} refuses, naming the database (password masked) and what to use instead`, async () => {
      const fill = (a: readonly string[]) => a.map((x) => (x === 'BACKUP' ? join(work, 'backup') : x === 'RESTORED' ? join(work, 'restored') : x));
      for (const [how, extra, env] of [
        ['--metadata', ['--metadata', url], {}],
        ['COFFER_METADATA', [], { COFFER_METADATA: url }],
      ] as const) {
        const r = await coffer([command, ...fill(args), ...(command === 'restore' ? [] : ['--data-dir', dataDir]), ...extra], env);
        assert.equal(r.code, 2, `${how}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`^coffer: error: coffer ${command} works on an embedded data directory's SQLite files; this deployment's state is in PostgreSQL \\(postgres://coffer:\\*\\*\\*\\*@`, 'm'), how);
        assert.match(r.stderr, /^coffer: hint: .*/m);
        assert.match(r.stderr, instead, how);
        assert.ok(!r.stderr.includes(PASSWORD) && !r.stdout.includes(PASSWORD), 'the password is never shown');
      }
      assert.deepEqual(await readdir(work), [], 'nothing was written');
    });
  }

  it('coffer usage --metadata reports the KMS requests every node flushed into the database', async () => {
    let report: { requests: { total: number } } | undefined;
    const counted = await waitFor(async () => {
      const r = await coffer(['usage', '--metadata', url, '--json', '--data-dir', join(work, 'nowhere')]);
      assert.equal(r.code, 0, r.stderr);
      report = JSON.parse(r.stdout) as { requests: { total: number } };
      return report.requests.total >= 2;
    }, 20_000, 500);
    assert.ok(counted, `the Encrypt and the SSE-KMS GenerateDataKey are counted: ${JSON.stringify(report)}`);
    const table = await coffer(['usage', '--by', 'operation'], { COFFER_METADATA: url });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Encrypt\s+1\s/m);
  });

  it('coffer audit reads the cluster\'s trail from the database', async () => {
    const r = await coffer(['audit', 'query', '--metadata', url, '--event', 'CreateKey']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /CreateKey/);
  });

  it('coffer rekey re-wraps through the node (any backend); --metadata is refused with what to use instead', async () => {
    const keyB = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const creds = { AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET };
    const state = join(work, 'rekey-state.json');
    const refused = await coffer(['rekey', '--metadata', url, '--bucket', 'admin', '--to-key', keyB, '--endpoint', node.url], creds);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /coffer: error: coffer rekey does not open the database/);
    assert.match(refused.stderr, /coffer: hint: drop --metadata and give --endpoint the URL of any node/);
    const r = await coffer(['rekey', '--bucket', 'admin', '--to-key', keyB, '--endpoint', node.url, '--state-file', state, '--json', '--progress', 'off'], creds);
    assert.equal(r.code, 0, r.stderr);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'admin', Key: 'sealed' }));
    assert.match(head.SSEKMSKeyId!, new RegExp(`${keyB}$`), 'the object is now under key B');
    await rm(state, { force: true });
  });
});
