// `coffer hadoop config` and `coffer hadoop check` on a cluster (--metadata postgres://…):
// they read the buckets, keys and users from the database the nodes run on, not from a
// data directory (whose SQLite files on a node hold none of them). A wrong root key is
// refused; --user, which would create an access key in the database behind the nodes'
// audit trail, is refused with how to do it through a node.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { ROOT_KEY_ID, ROOT_SECRET, startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { coffer } from '../hadoop/s3a-conf.js';
import { XMLParser } from 'fast-xml-parser';

describePostgres('coffer hadoop on a cluster (--metadata)', () => {
  let cluster: TestCluster;
  let iam: IAMClient;
  let work: string;
  let keyArn: string;
  let user: { accessKeyId: string; secretAccessKey: string };
  let env: Record<string, string>;

  before(async () => {
    cluster = await startCluster({ nodes: 1 });
    const node = cluster.nodes[0]!;
    work = await mkdtemp(join(tmpdir(), 'coffer-hadoop-cluster-'));
    await node.s3().send(new CreateBucketCommand({ Bucket: 'lake' }));
    keyArn = (await node.kms().send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    iam = new IAMClient({ endpoint: node.url(), region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });
    await iam.send(new CreateUserCommand({ UserName: 'etl' }));
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:*', 'kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' }] };
    await iam.send(new PutUserPolicyCommand({ UserName: 'etl', PolicyName: 'lake', PolicyDocument: JSON.stringify(policy) }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'etl' }))).AccessKey!;
    user = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    // What an operator's shell holds: the root key the nodes run with; no data directory.
    env = { COFFER_ROOT_KEY: cluster.rootKey, COFFER_DATA_DIR: join(work, 'no-data-dir') };
  });
  after(async () => {
    iam?.destroy();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('config reads the bucket, the key and the access key from the database: no doubts, the user\'s key written', async () => {
    const r = await coffer(['hadoop', 'config', '--metadata', cluster.databaseUrl, '--bucket', 'lake', '--key', keyArn, '--access-key-id', user.accessKeyId, '--endpoint', cluster.nodes[0]!.url()],
      { ...env, AWS_SECRET_ACCESS_KEY: user.secretAccessKey });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!/warning/.test(r.stderr), `no doubts about this one: ${r.stderr}`);
    const doc = new XMLParser({ isArray: (n) => n === 'property', parseTagValue: false }).parse(r.stdout, true) as { configuration: { property: { name: string; value: string }[] } };
    const p = Object.fromEntries(doc.configuration.property.map((x) => [x.name, x.value]));
    assert.equal(p['fs.s3a.access.key'], user.accessKeyId);
    assert.equal(p['fs.s3a.encryption.key'], keyArn);
    await writeFile(join(work, 'core-site.xml'), r.stdout);

    // The same through COFFER_METADATA, and `hadoop check` of the file it wrote.
    const check = await coffer(['hadoop', 'check', join(work, 'core-site.xml'), '--bucket', 'lake'], { ...env, COFFER_METADATA: cluster.databaseUrl });
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  it('without --metadata the same command reads an empty data directory and doubts everything (what it did on a cluster before)', async () => {
    const r = await coffer(['hadoop', 'config', '--data-dir', cluster.nodes[0]!.dataDir, '--bucket', 'lake', '--key', keyArn, '--no-credentials', '--endpoint', cluster.nodes[0]!.url()], { COFFER_ROOT_KEY: cluster.rootKey });
    assert.match(r.stderr, /bucket lake does not exist yet/);
  });

  it('missing bucket and unknown key are warnings, as on a data directory', async () => {
    const r = await coffer(['hadoop', 'config', '--metadata', cluster.databaseUrl, '--bucket', 'no-such-lake', '--key', 'alias/nope', '--no-credentials', '--endpoint', cluster.nodes[0]!.url()], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /coffer: warning: bucket no-such-lake does not exist yet/);
    assert.match(r.stderr, /coffer: warning: key alias\/nope does not resolve in this Coffer/);
  });

  it('refuses a root key other than the nodes\'', async () => {
    const r = await coffer(['hadoop', 'config', '--metadata', cluster.databaseUrl, '--bucket', 'lake', '--no-credentials'], { ...env, COFFER_ROOT_KEY: randomBytes(32).toString('base64') });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not open with the configured root key/);
    assert.match(r.stderr, /hint: give the root key the nodes run with/);
  });

  it('refuses --user, saying how to make the access key through a node', async () => {
    const r = await coffer(['hadoop', 'config', '--metadata', cluster.databaseUrl, '--bucket', 'lake', '--user', 'etl'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--user creates an access key/);
    assert.match(r.stderr, /hint: create it with `aws iam create-access-key --user-name etl/);
  });

  it('a database without a Coffer account says to start a node first', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const r = await coffer(['hadoop', 'config', '--metadata', url, '--bucket', 'lake', '--no-credentials'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /holds no Coffer account yet/);
  });
});
