// One account for the whole cluster (docs/CLUSTER.md, "The account"): three nodes on one
// PostgreSQL, each with a data directory of its own, answer with one account id — STS
// GetCallerIdentity, a KMS key's ARN created on one node and described on another — and a
// key policy naming `arn:aws:iam::<account>:root` written through one node admits the
// account's IAM users on another. A node whose data directory names another account
// refuses to start and says which account the cluster has; one naming the same account
// starts. Root credentials are never in the database: the node that creates the account
// may generate them (kept in its data directory, printed once); a node joining without
// any from the environment or its data directory is refused rather than inventing some.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSServiceException } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type TestCluster } from '../helpers/cluster.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { startChildServer } from '../interop/support.js';

const root = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

describePostgres('a three-node cluster has one account', () => {
  let cluster: TestCluster;
  const temp: string[] = [];
  const clients: { destroy(): void }[] = [];
  const client = <C extends { destroy(): void }>(c: C): C => {
    clients.push(c);
    return c;
  };
  const sts = (url: string, credentials = root) => client(new STSClient({ endpoint: url, region: 'us-east-1', credentials, maxAttempts: 1 }));
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'coffer-account-'));
    temp.push(d);
    return d;
  };
  /** A node's env as the cluster gives it (same database, blob tier and root key). */
  const nodeEnv = () => ({ COFFER_ROOT_KEY: cluster.rootKey, COFFER_METADATA: cluster.databaseUrl, COFFER_BLOBS: cluster.blobs });

  before(async () => {
    cluster = await startCluster({ nodes: 3 });
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
    for (const d of temp) await rm(d, { recursive: true, force: true });
  });

  /** The error a start that must be refused fails with; a node that starts anyway is stopped and the test fails. */
  const refusedStart = async (dir: string, env: Record<string, string>): Promise<string> => {
    let node;
    try {
      node = await startChildServer(dir, env);
    } catch (e) {
      return (e as Error).message;
    }
    await node.stop();
    assert.fail(`the node on ${dir} started`);
  };

  const accountOf = async (url: string) => (await sts(url).send(new GetCallerIdentityCommand({}))).Account!;

  it('GetCallerIdentity names the same account on every node, the one in the database and in each data directory', async () => {
    const accounts = await Promise.all(cluster.nodes.map((n) => accountOf(n.url())));
    assert.match(accounts[0]!, /^\d{12}$/);
    assert.deepEqual(accounts, [accounts[0], accounts[0], accounts[0]]);
    const pool = new pg.Pool({ connectionString: cluster.databaseUrl, max: 1 });
    try {
      const r = await pool.query<{ account_id: string }>('SELECT account_id FROM account');
      assert.deepEqual(r.rows.map((x) => x.account_id), [accounts[0]]);
    } finally {
      await pool.end();
    }
    for (const n of cluster.nodes) {
      const file = JSON.parse(await readFile(join(n.dataDir, 'root-credentials.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(file.accountId, accounts[0], `node ${n.index} records the cluster's account`);
      assert.equal(file.secretAccessKey, undefined, 'no secret is written when the credentials come from the environment');
    }
  });

  it('a key created on one node has the same ARN described on another', async () => {
    const account = await accountOf(cluster.nodes[0]!.url());
    const created = (await cluster.nodes[0]!.kms().send(new CreateKeyCommand({}))).KeyMetadata!;
    assert.equal(created.Arn, `arn:aws:kms:us-east-1:${account}:key/${created.KeyId}`);
    for (const n of cluster.nodes.slice(1)) {
      const described = (await n.kms().send(new DescribeKeyCommand({ KeyId: created.KeyId }))).KeyMetadata!;
      assert.equal(described.Arn, created.Arn, `node ${n.index}`);
      assert.equal(described.AWSAccountId, account);
    }
  });

  it("a key policy naming the account's root, written through one node, admits the account's IAM users on another", async () => {
    const [a, b] = cluster.nodes;
    const account = await accountOf(a!.url());
    const iam = client(new IAMClient({ endpoint: a!.url(), region: 'us-east-1', credentials: root, maxAttempts: 1 }));
    await iam.send(new CreateUserCommand({ UserName: 'bob' }));
    await iam.send(new PutUserPolicyCommand({ UserName: 'bob', PolicyName: 'encrypt', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' }] }) }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'bob' }))).AccessKey!;
    const bob = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
    const Policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'Enable IAM policies', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }],
    });
    const keyId = (await a!.kms().send(new CreateKeyCommand({ Policy }))).KeyMetadata!.KeyId!;

    assert.equal((await sts(b!.url(), bob).send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:iam::${account}:user/bob`);
    const onB = b!.kms({ credentials: bob });
    const out = await onB.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('hello') }));
    assert.ok(out.CiphertextBlob && out.CiphertextBlob.length > 0);
    // The key policy is what admits bob: a key whose policy names no one refuses him on any node.
    const closed = (await a!.kms().send(new CreateKeyCommand({ Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:user/nobody` }, Action: 'kms:*', Resource: '*' }] }), BypassPolicyLockoutSafetyCheck: true }))).KeyMetadata!.KeyId!;
    await assert.rejects(onB.send(new EncryptCommand({ KeyId: closed, Plaintext: Buffer.from('hello') })), (e: unknown) => e instanceof KMSServiceException && e.name === 'AccessDeniedException');
  });

  it('a node whose root-credentials.json names another account refuses to start and names the cluster account', async () => {
    const account = await accountOf(cluster.nodes[0]!.url());
    const other = account === '111111111111' ? '222222222222' : '111111111111';
    const dir = await tmp();
    await writeFile(join(dir, 'root-credentials.json'), JSON.stringify({ version: 1, accountId: other }) + '\n', { mode: 0o600 });
    const refusal = await refusedStart(dir, nodeEnv());
    assert.match(refusal, new RegExp(`coffer: error: .*root-credentials\\.json names account ${other}, but the cluster's database holds account ${account}`));
    assert.match(refusal, new RegExp(`coffer: hint: .*account ${account}`));
    assert.equal(JSON.parse(await readFile(join(dir, 'root-credentials.json'), 'utf8')).accountId, other, 'the file is left as it was');
  });

  it("a node whose root-credentials.json names the cluster's account starts", async () => {
    const account = await accountOf(cluster.nodes[0]!.url());
    const dir = await tmp();
    await writeFile(join(dir, 'root-credentials.json'), JSON.stringify({ version: 1, accountId: account }) + '\n', { mode: 0o600 });
    const node = await startChildServer(dir, nodeEnv());
    try {
      assert.equal(await accountOf(node.url), account);
    } finally {
      await node.stop();
    }
  });

  it("a node without root credentials (none in the environment, none in its data directory) joining the cluster refuses to start, saying where to get them", async () => {
    const dir = await tmp();
    await mkdir(dir, { recursive: true });
    const refusal = await refusedStart(dir, { ...nodeEnv(), COFFER_ROOT_ACCESS_KEY_ID: '', COFFER_ROOT_SECRET_ACCESS_KEY: '' });
    assert.match(refusal, /coffer: error: no root credentials for this node: the cluster's account \d{12} was created by another node/);
    assert.match(refusal, /coffer: hint: .*COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY/);
    assert.deepEqual(await readdir(dir).then((f) => f.filter((n) => n === 'root-credentials.json')), [], 'nothing is written for a refused node');
  });

  it('the first node on a new database, without root credentials, generates them as an embedded server does; a second node runs with a copy of its file', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const [first, second] = [await tmp(), await tmp()];
    const env = { ...nodeEnv(), COFFER_METADATA: url, COFFER_ROOT_ACCESS_KEY_ID: '', COFFER_ROOT_SECRET_ACCESS_KEY: '' };
    const a = await startChildServer(first, env);
    let b;
    try {
      const m = /AWS_ACCESS_KEY_ID=(\S+)\n\s*AWS_SECRET_ACCESS_KEY=(\S+)/.exec(a.stdout());
      assert.ok(m, 'the generated credentials are printed once');
      const generated = { accessKeyId: m[1]!, secretAccessKey: m[2]! };
      await writeFile(join(second, 'root-credentials.json'), await readFile(join(first, 'root-credentials.json')), { mode: 0o600 });
      b = await startChildServer(second, env);
      assert.doesNotMatch(b.stdout(), /AWS_SECRET_ACCESS_KEY/);
      const ids = await Promise.all([a.url, b.url].map(async (u) => (await sts(u, generated).send(new GetCallerIdentityCommand({}))).Account));
      assert.equal(ids[0], ids[1]);
      assert.notEqual(ids[0], await accountOf(cluster.nodes[0]!.url()), 'another database, another account');
    } finally {
      await b?.stop();
      await a.stop();
    }
  });
});
