// `coffer migrate` end to end: an embedded server populated through the SDKs (SSE-S3 and
// SSE-KMS objects, inline and file-tier sizes, multipart, a multipart upload in progress,
// a versioned bucket with a delete marker, a bucket policy, tags, a KMS key with an alias
// and a grant, an IAM user with an access key and a policy) is stopped and migrated into a
// real PostgreSQL and a shared blob directory by the real CLI — SIGKILLed mid-way (held on
// a PostgreSQL table lock at a known point) and run again, which finishes and verifies —
// then a node started on the target (COFFER_METADATA + COFFER_BLOBS, the same root key)
// serves every object byte-exact, decrypts with the key, and lets the IAM user in.
// Also: the refusals (a server holding the data directory, a non-empty target, another
// data directory's migration), and that the source is left as it was.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetBucketPolicyCommand, GetObjectCommand,
  GetObjectTaggingCommand, HeadObjectCommand, ListObjectVersionsCommand, PutBucketPolicyCommand, PutBucketVersioningCommand, PutObjectCommand,
  PutObjectTaggingCommand, S3Client, S3ServiceException, UploadPartCommand, ListPartsCommand,
} from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { PgClusterAccount } from '../../src/iam/store/pg-cluster-account.js';
import { PgIamStore } from '../../src/iam/store/pg-iam-store.js';
import { PgKmsStore } from '../../src/kms/store/pg-kms-store.js';
import { PgUsageStore } from '../../src/metering/pg-usage-store.js';
import { PgMetadataStore } from '../../src/storage/postgres/pg-metadata-store.js';
import { openPgPool } from '../../src/storage/postgres/pool.js';
import { CLI_MAIN, filesUnder, patternBytes, startChildServer, waitFor, type ChildServer } from '../interop/support.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer } from '../helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function migrateCli(args: string[], env: Record<string, string>, onSpawn?: (kill: () => void) => void): Promise<Run> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI_MAIN, 'migrate', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
    onSpawn?.(() => proc.kill('SIGKILL'));
  });
}

async function body(s3: S3Client, Bucket: string, Key: string, VersionId?: string): Promise<Buffer> {
  return Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key, VersionId }))).Body!.transformToByteArray());
}

/** SHA-256 of every file under dir (the lock file is checked apart). */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await filesUnder(dir)) {
    if (f === 'coffer.lock') continue;
    out.set(f, createHash('sha256').update(await readFile(join(dir, f))).digest('hex'));
  }
  return out;
}

describePostgres('coffer migrate: an embedded data directory into PostgreSQL and a shared blob tier', () => {
  const rootKey = randomBytes(32).toString('base64');
  const temp: string[] = [];
  let source = '';
  let url = '';
  let sharedBlobs = '';
  let node: ChildServer | undefined;
  /** What the node must serve: bucket/key[#version] -> bytes. */
  const objects = new Map<string, Buffer>();
  const versions: { v1: string; v2: string; marker: string } = { v1: '', v2: '', marker: '' };
  let keyId = '';
  let ciphertext: Uint8Array = new Uint8Array();
  let alice = { accessKeyId: '', secretAccessKey: '' };
  let aliceArn = '';
  let pendingUpload: { uploadId: string; part1: Buffer; etag1: string } = { uploadId: '', part1: Buffer.alloc(0), etag1: '' };
  let sourceBefore: Map<string, string>;

  const tmp = async (p: string) => {
    const d = await mkdtemp(join(tmpdir(), p));
    temp.push(d);
    return d;
  };

  before(async () => {
    source = await tmp('coffer-migrate-src-');
    const server = await startTestServer({ COFFER_ROOT_KEY: rootKey }, { dataDir: source });
    try {
      const { s3, kms } = server;
      const iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      const user = (await iam.send(new CreateUserCommand({ UserName: 'alice' }))).User!;
      aliceArn = user.Arn!;
      const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'alice' }))).AccessKey!;
      alice = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
      await iam.send(new PutUserPolicyCommand({ UserName: 'alice', PolicyName: 'read-plain', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::plain' }] }) }));
      iam.destroy();

      keyId = (await kms.send(new CreateKeyCommand({ Description: 'migrated key' }))).KeyMetadata!.KeyId!;
      await kms.send(new CreateAliasCommand({ AliasName: 'alias/migrated', TargetKeyId: keyId }));
      await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: aliceArn, Operations: ['Decrypt', 'GenerateDataKey'], Name: 'alice-decrypt' }));
      ciphertext = (await kms.send(new EncryptCommand({ KeyId: 'alias/migrated', Plaintext: Buffer.from('a secret from before') }))).CiphertextBlob!;

      await s3.send(new CreateBucketCommand({ Bucket: 'plain' }));
      const puts: [string, Buffer, Record<string, string>][] = [
        ['small-sse-s3', patternBytes(3 * KiB, 1), { ServerSideEncryption: 'AES256' }],
        ['large-sse-s3', patternBytes(300 * KiB + 7, 2), { ServerSideEncryption: 'AES256' }],
        ['small-kms', patternBytes(2 * KiB, 3), { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }],
        ['large-kms', patternBytes(200 * KiB, 4), { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }],
        ['small-plain', patternBytes(100, 5), {}],
      ];
      for (const [Key, Body, sse] of puts) {
        await s3.send(new PutObjectCommand({ Bucket: 'plain', Key, Body, ...sse }));
        objects.set(`plain/${Key}`, Body);
      }
      await s3.send(new PutObjectTaggingCommand({ Bucket: 'plain', Key: 'small-kms', Tagging: { TagSet: [{ Key: 'team', Value: 'blue' }] } }));
      await s3.send(new PutBucketPolicyCommand({
        Bucket: 'plain',
        Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: aliceArn }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::plain/*' }] }),
      }));

      // A completed multipart upload (SSE-KMS, a file-tier part and a small one) and one still in progress.
      const mp = (await s3.send(new CreateMultipartUploadCommand({ Bucket: 'plain', Key: 'multipart-kms', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }))).UploadId!;
      const p1 = patternBytes(5 * MiB, 6);
      const p2 = patternBytes(10 * KiB, 7);
      const e1 = (await s3.send(new UploadPartCommand({ Bucket: 'plain', Key: 'multipart-kms', UploadId: mp, PartNumber: 1, Body: p1 }))).ETag!;
      const e2 = (await s3.send(new UploadPartCommand({ Bucket: 'plain', Key: 'multipart-kms', UploadId: mp, PartNumber: 2, Body: p2 }))).ETag!;
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'plain', Key: 'multipart-kms', UploadId: mp, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] } }));
      objects.set('plain/multipart-kms', Buffer.concat([p1, p2]));
      const open = (await s3.send(new CreateMultipartUploadCommand({ Bucket: 'plain', Key: 'in-progress', ServerSideEncryption: 'AES256' }))).UploadId!;
      const part1 = patternBytes(5 * MiB + 3, 8);
      const etag1 = (await s3.send(new UploadPartCommand({ Bucket: 'plain', Key: 'in-progress', UploadId: open, PartNumber: 1, Body: part1 }))).ETag!;
      pendingUpload = { uploadId: open, part1, etag1 };

      await s3.send(new CreateBucketCommand({ Bucket: 'versions' }));
      await s3.send(new PutBucketVersioningCommand({ Bucket: 'versions', VersioningConfiguration: { Status: 'Enabled' } }));
      versions.v1 = (await s3.send(new PutObjectCommand({ Bucket: 'versions', Key: 'doc', Body: patternBytes(150 * KiB, 9) }))).VersionId!;
      versions.v2 = (await s3.send(new PutObjectCommand({ Bucket: 'versions', Key: 'doc', Body: patternBytes(10, 10) }))).VersionId!;
      versions.marker = (await s3.send(new DeleteObjectCommand({ Bucket: 'versions', Key: 'doc' }))).VersionId!;
      objects.set(`versions/doc#${versions.v1}`, patternBytes(150 * KiB, 9));
      objects.set(`versions/doc#${versions.v2}`, patternBytes(10, 10));
    } finally {
      await server.stop();
    }
    sourceBefore = await tree(source);
    url = await (await postgresServer()).freshDatabase();
    sharedBlobs = await tmp('coffer-migrate-blobs-');
  });

  after(async () => {
    await node?.stop();
    for (const d of temp) await rm(d, { recursive: true, force: true });
  });

  it('is refused while a server holds the data directory', async () => {
    const dir = await tmp('coffer-migrate-busy-');
    const busy = await startChildServer(dir, { COFFER_ROOT_KEY: randomBytes(32).toString('base64') });
    try {
      const r = await migrateCli(['--data-dir', dir, '--to', url], {});
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /coffer: error: the data directory .* is in use by another coffer server/);
      assert.match(r.stderr, /coffer: hint: stop the server first/);
    } finally {
      await busy.stop();
    }
  });

  it('is refused into a database that already holds data', async () => {
    const used = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(used, { max: 1 });
    try {
      const meta = await PgMetadataStore.open(pool);
      await meta.createBucket({ name: 'someone-elses', region: 'us-east-1', createdAt: new Date().toISOString(), owner: 'x', config: {} });
      await meta.close();
    } finally {
      await pool.end();
    }
    const r = await migrateCli(['--data-dir', source, '--to', used, '--blobs', `file://${sharedBlobs}`], { COFFER_ROOT_KEY: rootKey });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the target database is not empty \(rows in meta_buckets/);
  });

  it('is refused into a database a node already started on (it holds an account of its own)', async () => {
    const used = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(used, { max: 1 });
    try {
      await (await PgClusterAccount.open(pool)).claim('123456789012');
    } finally {
      await pool.end();
    }
    const r = await migrateCli(['--data-dir', source, '--to', used, '--blobs', `file://${sharedBlobs}`], { COFFER_ROOT_KEY: rootKey });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the target database is not empty \(rows in account\)/);
  });

  it('says so when the database cannot be reached, password masked', async () => {
    const r = await migrateCli(['--data-dir', source, '--to', 'postgres://coffer:hidden-pw@127.0.0.1:1/none', '--blobs', `file://${sharedBlobs}`], { COFFER_ROOT_KEY: rootKey });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^coffer: error: the PostgreSQL database postgres:\/\/coffer:\*\*\*\*@127\.0\.0\.1:1\/none cannot be reached \(connect ECONNREFUSED/m);
    assert.match(r.stderr, /^coffer: hint: .*resumes/m);
    assert.ok(!r.stderr.includes('hidden-pw'));
  });

  it('is refused with another root key than the one that sealed the data directory', async () => {
    const r = await migrateCli(['--data-dir', source, '--to', url, '--blobs', `file://${sharedBlobs}`], { COFFER_ROOT_KEY: randomBytes(32).toString('base64') });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /was sealed under root key key:[0-9a-f]{16}, but the configured root key is key:/);
  });

  it('SIGKILLed mid-way and run again: completes, verified, nothing duplicated or lost, the source untouched', async () => {
    // The tables exist before the run (as a node's first start makes them), so the test can
    // hold kms_keys: the run copies the metadata and the blob files, then waits on the lock.
    const pool = openPgPool(url, { max: 2, applicationName: 'migrate-test' });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      for (const open of [PgMetadataStore.open, PgKmsStore.open, PgIamStore.open, PgUsageStore.open]) await (await open(pool)).close();
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE kms_keys IN SHARE MODE');
      const args = ['--data-dir', source, '--to', url, '--blobs', `file://${sharedBlobs}`, '--batch-rows', '2'];
      let kill = () => {};
      const first = migrateCli(args, { COFFER_ROOT_KEY: rootKey }, (k) => (kill = k));
      const blocked = await waitFor(async () => {
        const blobs = await pool.query("SELECT finished FROM migrate_progress WHERE step = 'blobs'").catch(() => ({ rows: [] as { finished: boolean }[] }));
        const waiting = await pool.query("SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'kms_keys'");
        return blobs.rows[0]?.finished === true && (waiting.rows[0] as { n: number }).n > 0;
      }, 30_000, 50);
      assert.ok(blocked, 'the first run reached the KMS tables and waits on the lock');
      kill();
      const r1 = await first;
      assert.equal(r1.signal, 'SIGKILL');
      await holder.query('ROLLBACK');
      const mid = await pool.query('SELECT finished_at FROM migrate_source');
      assert.equal(mid.rows[0].finished_at, null, 'the killed run did not finish');
      assert.equal((await pool.query('SELECT count(*)::int AS n FROM kms_keys')).rows[0].n, 0);
      const account = (JSON.parse(await readFile(join(source, 'root-credentials.json'), 'utf8')) as { accountId: string }).accountId;
      assert.deepEqual((await pool.query('SELECT account_id FROM account')).rows, [{ account_id: account }], "the cluster's account is the data directory's from the start");
      assert.ok((await pool.query('SELECT count(*)::int AS n FROM meta_objects')).rows[0].n > 0, 'the metadata was copied before the kill');

      const r2 = await migrateCli(args, { COFFER_ROOT_KEY: rootKey });
      assert.equal(r2.code, 0, r2.stderr + r2.stdout);
      assert.match(r2.stdout, /^finished the migration /);
      assert.match(r2.stdout, /verification: every count and checksum matches/);
      assert.doesNotMatch(r2.stdout, /DIFFER/);
      const row = (what: RegExp) => {
        const line = r2.stdout.split('\n').find((l) => what.test(l));
        assert.ok(line, `a verification row for ${what}`);
        const m = /\s(\d+)\s+(\d+)\s+(.+)$/.exec(line)!;
        return { source: Number(m[1]), target: Number(m[2]), content: m[3]!.trim() };
      };
      for (const [what, n] of [
        [/key_materials -> kms_key_materials/, 1], [/aliases -> kms_aliases/, 1], [/grants -> kms_grants/, 1], [/access_keys -> iam_access_keys/, 1],
        [/object_versions -> meta_object_versions/, 2], [/ parts -> meta_parts/, 1], [/ uploads -> meta_uploads/, 1], [/blob files over 64 KiB/, 5],
      ] as const) {
        assert.deepEqual(row(what), { source: n, target: n, content: 'sha256 ok' }, String(what));
      }
      assert.ok(row(/ objects -> meta_objects/).source >= 7);
      assert.deepEqual(row(/root-credentials\.json account -> account/), { source: 1, target: 1, content: `${account} ok` });
      assert.match(r2.stdout, new RegExp(`the account, ${account}, is in the database: every node adopts it`));
      assert.ok(row(/requests -> usage_requests/).source > 0, 'KMS usage counts travel too');
      assert.match(r2.stdout, /every node needs root key key:[0-9a-f]{16} \(the configured key: checked/);
      assert.match(r2.stderr, /coffer: progress: \d+\/\d+ rows and blobs/);

      // Again: nothing left to copy; --verify alone checks the same.
      const r3 = await migrateCli(args, { COFFER_ROOT_KEY: rootKey });
      assert.equal(r3.code, 0, r3.stderr);
      assert.match(r3.stdout, /^already migrated /);
      const r4 = await migrateCli([...args, '--verify'], {});
      assert.equal(r4.code, 0, r4.stderr);
      assert.match(r4.stdout, /^verified /);

      // A target migrated by a release from before the account moved into the database has
      // no account row: --verify names the command that sets it, rather than a bare mismatch.
      await pool.query('DELETE FROM account');
      const r5 = await migrateCli([...args, '--verify'], {});
      assert.equal(r5.code, 1, r5.stderr);
      assert.match(r5.stdout, /root-credentials\.json account -> account\s+1\s+0\s+MISSING/);
      assert.match(r5.stderr, /^coffer: error: the target database holds no account: .* was migrated into it by a release from before the account moved into PostgreSQL$/m);
      const hint = r5.stderr.split('\n').find((l) => l.startsWith('coffer: hint: run the migration again without --verify'));
      assert.ok(hint, r5.stderr);
      assert.ok(hint.includes(`(\`coffer migrate --data-dir ${source} --to postgres://`) && hint.includes(` --blobs file://${sharedBlobs}\`, the URL with its password)`), hint);
      assert.ok(hint.includes(`sets the account (${account})`), hint);
      assert.doesNotMatch(r5.stderr, /does not match the source/, 'nothing else differs');
      const r6 = await migrateCli(args, { COFFER_ROOT_KEY: rootKey });
      assert.equal(r6.code, 0, r6.stderr);
      assert.match(r6.stdout, /^already migrated /);
      assert.deepEqual((await pool.query('SELECT account_id FROM account')).rows, [{ account_id: account }], 'the run without --verify set the account');
      assert.equal((await migrateCli([...args, '--verify'], {})).code, 0);
    } finally {
      await holder.end().catch(() => {});
      await pool.end();
    }
    assert.deepEqual(await tree(source), sourceBefore, 'the data directory is byte for byte what it was, no file added or removed');
    assert.equal((await readdir(source)).includes('coffer.lock'), false, 'the lock is released');
  });

  it('is refused into a database that holds the migration of another data directory', async () => {
    const other = await tmp('coffer-migrate-other-');
    const key = randomBytes(32).toString('base64');
    const s = await startTestServer({ COFFER_ROOT_KEY: key }, { dataDir: other });
    await s.stop();
    const r = await migrateCli(['--data-dir', other, '--to', url, '--blobs', `file://${sharedBlobs}`], { COFFER_ROOT_KEY: key });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /holds a migration of another data directory/);
  });

  it('a node on the target serves every object byte-exact, decrypts with the key, and lets the IAM user in', async () => {
    const nodeDir = await tmp('coffer-migrate-node-');
    for (const f of ['root-credentials.json', 'custody.json']) await copyFile(join(source, f), join(nodeDir, f));
    node = await startChildServer(nodeDir, { COFFER_ROOT_KEY: rootKey, COFFER_METADATA: url, COFFER_BLOBS: `file://${sharedBlobs}` });
    const s3 = new S3Client({ endpoint: node.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    const kms = new KMSClient({ endpoint: node.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    const asAlice = new S3Client({ endpoint: node.url, region: 'us-east-1', forcePathStyle: true, credentials: alice });
    const busy = await migrateCli(['--data-dir', source, '--to', url, '--blobs', `file://${sharedBlobs}`, '--verify'], {});
    assert.equal(busy.code, 2, busy.stderr);
    assert.match(busy.stderr, /coffer: error: Coffer nodes are connected to the target database/);
    const kmsAlice = new KMSClient({ endpoint: node.url, region: 'us-east-1', credentials: alice });
    try {
      for (const [name, bytes] of objects) {
        const [path, version] = name.split('#');
        const [bucket, key] = [path!.slice(0, path!.indexOf('/')), path!.slice(path!.indexOf('/') + 1)];
        assert.ok((await body(s3, bucket, key, version)).equals(bytes), `${name} byte-exact`);
      }
      await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'versions', Key: 'doc' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404, 'the delete marker is current');
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions' }));
      assert.deepEqual(listed.DeleteMarkers?.map((m) => m.VersionId), [versions.marker]);
      assert.deepEqual(listed.Versions?.map((v) => v.VersionId), [versions.v2, versions.v1]);
      // A new version orders after every migrated one (the version sequence moved past them).
      const v3 = (await s3.send(new PutObjectCommand({ Bucket: 'versions', Key: 'doc', Body: 'v3' }))).VersionId!;
      const v4 = (await s3.send(new PutObjectCommand({ Bucket: 'versions', Key: 'doc', Body: 'v4' }))).VersionId!;
      const relisted = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions' }));
      assert.deepEqual(relisted.Versions?.map((v) => v.VersionId), [v4, v3, versions.v2, versions.v1], 'newest first, the new versions before the migrated ones');
      await s3.send(new DeleteObjectCommand({ Bucket: 'versions', Key: 'doc', VersionId: v4 }));
      assert.equal((await body(s3, 'versions', 'doc')).toString(), 'v3', 'removing the current version makes the next newest current');

      assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: 'plain', Key: 'small-kms' }))).TagSet, [{ Key: 'team', Value: 'blue' }]);
      assert.match((await s3.send(new GetBucketPolicyCommand({ Bucket: 'plain' }))).Policy!, /s3:GetObject/);

      // The upload in progress goes on where it stopped.
      const parts = await s3.send(new ListPartsCommand({ Bucket: 'plain', Key: 'in-progress', UploadId: pendingUpload.uploadId }));
      assert.deepEqual(parts.Parts?.map((p) => p.ETag), [pendingUpload.etag1]);
      const part2 = patternBytes(1000, 11);
      const etag2 = (await s3.send(new UploadPartCommand({ Bucket: 'plain', Key: 'in-progress', UploadId: pendingUpload.uploadId, PartNumber: 2, Body: part2 }))).ETag!;
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'plain', Key: 'in-progress', UploadId: pendingUpload.uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: pendingUpload.etag1 }, { PartNumber: 2, ETag: etag2 }] } }));
      assert.ok((await body(s3, 'plain', 'in-progress')).equals(Buffer.concat([pendingUpload.part1, part2])));

      // The KMS key: its alias, its grant, its material (a ciphertext from before decrypts).
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/migrated' }))).KeyMetadata!.KeyId, keyId);
      assert.equal((await kms.send(new ListGrantsCommand({ KeyId: keyId }))).Grants?.length, 1);
      assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }))).Plaintext!).toString(), 'a secret from before');
      await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: aliceArn, Operations: ['Encrypt'], Name: 'after-migration' }));

      // The IAM user signs in with the access key made before: the bucket policy and the grant let her in.
      assert.ok((await body(asAlice, 'plain', 'small-sse-s3')).equals(objects.get('plain/small-sse-s3')!));
      assert.equal(Buffer.from((await kmsAlice.send(new DecryptCommand({ CiphertextBlob: ciphertext }))).Plaintext!).toString(), 'a secret from before');
      await assert.rejects(asAlice.send(new PutObjectCommand({ Bucket: 'plain', Key: 'nope', Body: 'x' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 403);
    } finally {
      for (const c of [s3, kms, asAlice, kmsAlice]) c.destroy();
    }
  });

  it('into an S3-compatible blob tier: verified, and a node on it serves the file-tier objects', async () => {
    const backend = await startTestServer();
    let onS3: ChildServer | undefined;
    try {
      await backend.s3.send(new CreateBucketCommand({ Bucket: 'tier' }));
      const blobs = `s3://tier/migrated/?endpoint=${encodeURIComponent(backend.url)}&forcePathStyle=true&partSizeMiB=5`;
      const creds = { COFFER_BLOB_S3_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_BLOB_S3_SECRET_ACCESS_KEY: ROOT_SECRET };
      const db = await (await postgresServer()).freshDatabase();
      const r = await migrateCli(['--data-dir', source, '--to', db, '--blobs', blobs], { COFFER_ROOT_KEY: rootKey, ...creds });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /blob files over 64 KiB .*\s5\s+5\s+sha256 ok/);
      assert.match(r.stdout, /verification: every count and checksum matches/);
      const nodeDir = await tmp('coffer-migrate-s3node-');
      // No root-credentials.json: the node adopts the migrated account from the database (its root credentials are the environment's).
      await copyFile(join(source, 'custody.json'), join(nodeDir, 'custody.json'));
      onS3 = await startChildServer(nodeDir, { COFFER_ROOT_KEY: rootKey, COFFER_METADATA: db, COFFER_BLOBS: blobs, ...creds });
      const s3 = new S3Client({ endpoint: onS3.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      const sts = new STSClient({ endpoint: onS3.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      try {
        for (const name of ['plain/large-kms', 'plain/multipart-kms', 'plain/large-sse-s3']) {
          const [bucket, key] = name.split('/') as [string, string];
          assert.ok((await body(s3, bucket, key)).equals(objects.get(name)!), `${name} byte-exact from the S3 tier`);
        }
        const account = (JSON.parse(await readFile(join(source, 'root-credentials.json'), 'utf8')) as { accountId: string }).accountId;
        assert.equal((await sts.send(new GetCallerIdentityCommand({}))).Account, account, "the node has the migrated data directory's account");
        assert.equal((JSON.parse(await readFile(join(nodeDir, 'root-credentials.json'), 'utf8')) as { accountId: string }).accountId, account, 'and records it in its data directory');
      } finally {
        s3.destroy();
        sts.destroy();
      }
    } finally {
      await onS3?.stop();
      await backend.stop();
    }
  });
});
