// A node on PostgreSQL while the database is down (`pg_ctl stop -m fast`, as an operator or
// a failover would), then back: S3 answers 503 ServiceUnavailable, the KMS 503
// DependencyTimeoutException, IAM 500 ServiceFailure, STS 503 ServiceUnavailable — each
// retryable, none an InternalError; /health/ready names the failed parts; a PUT cut by the
// outage leaves the previous object; once the database is back the same process serves
// again (no restart), and nothing it logged holds the password of the database URL.
// Likewise a shared blob directory (`--blobs file:///…`) that goes away (unmounted) and
// comes back.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSClient, KMSServiceException } from '@aws-sdk/client-kms';
import { IAMClient, IAMServiceException, ListUsersCommand } from '@aws-sdk/client-iam';
import { GetSessionTokenCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { describePostgres, postgresServer, type PgTestServer } from '../helpers/postgres.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { openRequest, patternBytes, ROOT_KEY_ID, ROOT_SECRET, startChildServer, waitFor, type ChildServer } from '../interop/support.js';

const PASSWORD = 'pw-never-in-a-log-7f3a';
const KiB = 1024;

function getJson(url: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http.get(`${url}${path}`, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

const s3Status = (code: string, status: number) => (e: unknown) => e instanceof S3ServiceException && e.name === code && e.$metadata.httpStatusCode === status;

describePostgres('a node on PostgreSQL while the database is down, and after', () => {
  let pgServer: PgTestServer;
  let node: ChildServer;
  let dataDir: string;
  let s3: S3Client;
  let kms: KMSClient;
  let iam: IAMClient;
  let sts: STSClient;
  let keyId = '';
  const v1 = patternBytes(100 * KiB, 1);
  const small = patternBytes(2 * KiB, 2);

  before(async () => {
    pgServer = await postgresServer();
    const url = new URL(await pgServer.freshDatabase());
    url.password = PASSWORD; // the test server trusts local connections: the password is carried, never checked
    dataDir = await mkdtemp(join(tmpdir(), 'coffer-outage-'));
    node = await startChildServer(dataDir, { COFFER_ROOT_KEY: randomBytes(32).toString('base64'), COFFER_METADATA: url.toString(), COFFER_LOG_LEVEL: 'info' });
    const base = { endpoint: node.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 };
    s3 = new S3Client({ ...base, forcePathStyle: true });
    kms = new KMSClient(base);
    iam = new IAMClient(base);
    sts = new STSClient(base);
    await s3.send(new CreateBucketCommand({ Bucket: 'outage' }));
    await s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'doc', Body: v1 }));
    await s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'small', Body: small }));
    keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  });

  after(async () => {
    for (const c of [s3, kms, iam, sts]) c?.destroy();
    await pgServer?.start().catch(() => {}); // the file's other users (none today) find it running
    await node?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers retryable errors while the database is down, and serves again when it is back, in the same process', async () => {
    // A PUT of a new version whose body is still arriving when the database stops.
    const v2 = patternBytes(100 * KiB, 3);
    const req = await openRequest({ method: 'PUT', url: node.url, path: '/outage/doc', headers: { 'content-length': String(v2.length) } });
    const answered = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    req.write(v2.subarray(0, 10 * KiB));

    await pgServer.stop();
    req.end(v2.subarray(10 * KiB));
    assert.equal(await answered, 503, 'the PUT cut by the outage is refused, retryably');

    await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'new', Body: 'x' })), s3Status('ServiceUnavailable', 503), 'S3 PUT');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'outage', Key: 'doc' })), s3Status('ServiceUnavailable', 503), 'S3 GET');
    await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'kms', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId })), s3Status('ServiceUnavailable', 503), 'S3 PUT with SSE-KMS');
    for (const cmd of [new DescribeKeyCommand({ KeyId: keyId }), new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })]) {
      await assert.rejects(kms.send(cmd as DescribeKeyCommand), (e: unknown) => e instanceof KMSServiceException && e.name === 'DependencyTimeoutException' && e.$metadata.httpStatusCode === 503, 'KMS');
    }
    await assert.rejects(iam.send(new ListUsersCommand({})), (e: unknown) => e instanceof IAMServiceException && e.name === 'ServiceFailureException' && e.$metadata.httpStatusCode === 500, 'IAM');
    await assert.rejects(sts.send(new GetSessionTokenCommand({})), (e: unknown) => e instanceof STSServiceException && e.$metadata.httpStatusCode === 503 && /ServiceUnavailable/.test(e.name), 'STS');
    const down = await getJson(node.url, '/health/ready');
    assert.equal(down.status, 503);
    for (const part of ['metadata', 'kms', 'iam']) assert.ok((down.body.failed as string[]).includes(part), `readiness names ${part}`);
    assert.equal((await getJson(node.url, '/health/live')).status, 200, 'alive: a restart would not help');

    await pgServer.start();
    assert.ok(await waitFor(async () => (await getJson(node.url, '/health/ready')).status === 200, 20_000, 200), 'ready again without a restart');
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'outage', Key: 'doc' }))).Body!.transformToByteArray());
    assert.ok(got.equals(v1), 'the PUT cut by the outage left the previous object');
    await s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'doc', Body: v2 }));
    assert.ok(Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'outage', Key: 'doc' }))).Body!.transformToByteArray()).equals(v2));
    assert.ok(Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'outage', Key: 'small' }))).Body!.transformToByteArray()).equals(small));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyId, keyId);
    await iam.send(new ListUsersCommand({}));
    await sts.send(new GetSessionTokenCommand({}));

    const logs = node.stdout() + node.stderr();
    assert.match(logs, /metadata database unavailable/, 'the cause is in the log');
    assert.match(logs, /key store database unavailable/);
    assert.ok(!logs.includes(PASSWORD), 'no log line holds the database password');
    assert.equal(node.proc.exitCode, null, 'the process never stopped');
  });
});

describePostgres('a node whose shared blob directory goes away, and comes back', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster({ nodes: 1 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('answers 503 ServiceUnavailable for blobs over 64 KiB meanwhile, small objects still work, and serves again when it is back', async () => {
    const n = cluster.nodes[0]!;
    const s3 = n.s3();
    const large = patternBytes(200 * KiB, 4);
    // Read by a decrypt worker from its file (over 256 KiB: body-cipher.ts, FILE_DECRYPT_MIN_BYTES), not by the store's read().
    const larger = patternBytes(1024 * KiB + 3, 7);
    await s3.send(new CreateBucketCommand({ Bucket: 'shared' }));
    await s3.send(new PutObjectCommand({ Bucket: 'shared', Key: 'large', Body: large }));
    await s3.send(new PutObjectCommand({ Bucket: 'shared', Key: 'larger', Body: larger }));
    const dir = cluster.blobDir!;
    await rename(dir, `${dir}.away`); // as an unmounted share: the path is not there
    try {
      await assert.rejects(s3.send(new PutObjectCommand({ Bucket: 'shared', Key: 'large', Body: patternBytes(200 * KiB, 5) })), s3Status('ServiceUnavailable', 503), 'PUT');
      await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'shared', Key: 'large' })), s3Status('ServiceUnavailable', 503), 'GET');
      await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'shared', Key: 'larger' })), s3Status('ServiceUnavailable', 503), 'GET of 1 MiB');
      await s3.send(new PutObjectCommand({ Bucket: 'shared', Key: 'small', Body: 'inline' }));
      const down = await getJson(n.url(), '/health/ready');
      assert.equal(down.status, 503);
      assert.deepEqual(down.body.failed, ['blobs']);
    } finally {
      await rename(`${dir}.away`, dir);
    }
    assert.ok(await waitFor(async () => (await getJson(n.url(), '/health/ready')).status === 200, 10_000, 200));
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'shared', Key: 'large' }))).Body!.transformToByteArray());
    assert.ok(got.equals(large), 'the refused PUT left the previous object');
    const gotLarger = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'shared', Key: 'larger' }))).Body!.transformToByteArray());
    assert.ok(gotLarger.equals(larger), 'the 1 MiB object reads back');
    await s3.send(new PutObjectCommand({ Bucket: 'shared', Key: 'large', Body: patternBytes(200 * KiB, 6) }));
    assert.match(n.child()!.stderr() + n.child()!.stdout(), /blob backend unavailable/);
  });
});
