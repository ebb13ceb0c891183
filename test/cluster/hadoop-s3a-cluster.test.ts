// Hadoop S3A against a three-node cluster (test/helpers/cluster.ts): the interop suite's
// SSE-KMS scenarios (test/interop/hadoop-s3a.test.ts) — the seed's property names, the
// current names with a key ARN and an alias, the default key, a per-bucket key, an
// encryption context a user's policy requires, DSSE-KMS, and a principal without
// kms:Decrypt — unchanged, in one JVM, with fs.s3a.endpoint set to the cluster's
// round-robin proxy: S3A's connections land on different nodes, so a multipart upload's
// parts, its completion, the rename's copy and the reads are served by whichever node each
// connection reached. The core-site.xml files are `coffer hadoop config`'s own rendering
// (renderSnippet; the command itself reads one data directory's SQLite stores, not the
// cluster's database) or the suite's templates. Afterwards: the objects through the SDK on
// each node, and the cluster's audit trail names the calls S3A made, from more than one node.
//
// Java 17, Maven and PostgreSQL must be installed.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { buildRunner, jvmEnv, requireJavaAndMaven, runScenarios, writeScenarioFile, type Run, type ScenarioSpec } from '../interop/hadoop-s3a-harness.js';
import { fillTemplate } from '../hadoop/s3a-conf.js';
import { renderSnippet } from '../../src/hadoop/config-snippet.js';
import { patternBytes, sha256hex } from '../interop/support.js';
import type { CloudTrailEvent } from '../../src/audit/event.js';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const ROOT: Credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const bucketOf = (name: string) => `s3a-cl-${name}-${randomBytes(3).toString('hex')}`;

describePostgres('Hadoop S3A against a three-node cluster through its round-robin proxy', () => {
  let cluster: TestCluster;
  let endpoint: string;
  let work: string;
  let runResult: Run;
  const keys: Record<string, string> = {};
  const scenarios: ScenarioSpec[] = [];
  let noDecryptArn = '';

  before(async () => {
    await requireJavaAndMaven();
    const classpath = buildRunner(); // Maven runs while the cluster starts
    cluster = await startCluster({ nodes: 3 });
    endpoint = await cluster.proxy();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-s3a-cluster-'));
    const [n0, n1, n2] = cluster.nodes;

    // Keys on node 0, an alias on node 1, users on node 2: every node sees them all.
    const kms0 = n0!.kms();
    const newKey = async (d: string) => (await kms0.send(new CreateKeyCommand({ Description: d }))).KeyMetadata!.Arn!;
    for (const k of ['seed', 'current', 'aliased', 'global', 'perBucket', 'context', 'dsse', 'denied']) keys[k] = await newKey(`hadoop s3a on a cluster: ${k}`);
    await n1!.kms().send(new CreateAliasCommand({ AliasName: 'alias/hadoop-s3a-cluster', TargetKeyId: keys.aliased }));
    const iam = new IAMClient({ endpoint: n2!.url(), region: 'us-east-1', credentials: ROOT, maxAttempts: 1 });
    const user = async (name: string, statements: object[]): Promise<Credentials & { arn: string }> => {
      const arn = (await iam.send(new CreateUserCommand({ UserName: name }))).User!.Arn!;
      await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }));
      const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
      return { arn, accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
    };
    const contextUser = await user('hadoop-context', [
      { Effect: 'Allow', Action: 's3:*', Resource: '*' },
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keys.context, Condition: { StringEquals: { 'kms:EncryptionContext:project': 'hadoop' } } },
    ]);
    const noDecrypt = await user('hadoop-no-decrypt', [
      { Effect: 'Allow', Action: 's3:*', Resource: '*' },
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:DescribeKey'], Resource: keys.denied },
    ]);
    noDecryptArn = noDecrypt.arn;
    iam.destroy();

    const files: string[] = [];
    const add = async (s: ScenarioSpec, site: string | { template: string; values: Record<string, string>; credentials?: Credentials }) => {
      const out = path.join(work, `${s.name}.core-site.xml`);
      if (typeof site === 'string') await fs.writeFile(out, site);
      else {
        const c = site.credentials ?? ROOT;
        await fillTemplate(site.template, { ENDPOINT: endpoint, REGION: 'us-east-1', BUCKET: s.bucket, ACCESS_KEY: c.accessKeyId, SECRET_KEY: c.secretAccessKey, ...site.values }, out);
      }
      scenarios.push(s);
      files.push(await writeScenarioFile(work, s, out));
    };
    const snippet = (bucket: string, o: { key?: string; legacyNames?: boolean; algorithm?: 'SSE-KMS' | 'DSSE-KMS'; credentials?: Credentials }) => renderSnippet({
      endpoint, region: 'us-east-1', bucket, perBucket: false, legacyNames: o.legacyNames ?? false, algorithm: o.algorithm ?? 'SSE-KMS',
      ...(o.key ? { key: { value: o.key, description: 'the test key' } } : {}),
      defaultKeyMeaning: 'aws/s3', credentials: { ...(o.credentials ?? ROOT), principal: 'the test principal' },
    });
    let b = bucketOf('seed');
    await add({ name: 'seed-properties', bucket: b, sse: 'aws:kms', kmsKeyId: keys.seed! }, snippet(b, { key: keys.seed, legacyNames: true }));
    b = bucketOf('arn');
    await add({ name: 'current-names-arn', bucket: b, sse: 'aws:kms', kmsKeyId: keys.current! }, snippet(b, { key: keys.current }));
    b = bucketOf('alias');
    await add({ name: 'current-names-alias', bucket: b, sse: 'aws:kms', kmsKeyId: keys.aliased! }, snippet(b, { key: 'alias/hadoop-s3a-cluster' }));
    b = bucketOf('default');
    await add({ name: 'default-key', bucket: b, sse: 'aws:kms', kmsKeyId: `prefix:arn:aws:kms:us-east-1:` }, snippet(b, {}));
    b = bucketOf('perbucket');
    await add({ name: 'per-bucket-key', bucket: b, sse: 'aws:kms', kmsKeyId: keys.perBucket! }, { template: 'per-bucket-key.xml', values: { KEY: keys.global!, OTHER_KEY: keys.perBucket! } });
    b = bucketOf('context');
    await add({ name: 'encryption-context', bucket: b, sse: 'aws:kms', kmsKeyId: keys.context! }, { template: 'encryption-context.xml', values: { KEY: keys.context! }, credentials: contextUser });
    b = bucketOf('dsse');
    await add({ name: 'dsse-kms', bucket: b, sse: 'aws:kms:dsse', kmsKeyId: keys.dsse! }, snippet(b, { key: keys.dsse, algorithm: 'DSSE-KMS' }));
    b = bucketOf('denied');
    const existing = ['written-by-root-small.bin', 'written-by-root-large.bin'];
    await add({ name: 'no-kms-decrypt', bucket: b, mode: 'denied', sse: 'aws:kms', kmsKeyId: keys.denied!, deniedExisting: existing, deniedExpect: 'http-403' }, snippet(b, { key: keys.denied, credentials: noDecrypt }));

    const s3 = n1!.s3();
    for (const s of scenarios) await s3.send(new CreateBucketCommand({ Bucket: s.bucket }));
    for (const [file, size] of [[existing[0]!, 1000], [existing[1]!, 300_000]] as const) {
      await n0!.s3().send(new PutObjectCommand({ Bucket: b, Key: `no-kms-decrypt/${file}`, Body: patternBytes(size, size), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keys.denied }));
    }
    runResult = await runScenarios(await classpath, files, jvmEnv(work, endpoint));
    process.stderr.write(runResult.stderr.split('\n').filter((l) => l.startsWith('[s3a]') && / in \d+ ms$/.test(l)).join('\n') + '\n');
  });

  after(async () => {
    await cluster?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('every SSE-KMS scenario passes unchanged, and the runner exits 0', () => {
    const failed = scenarios.map((s) => runResult.results.get(s.name)).filter((r) => !r?.ok);
    assert.deepEqual(failed.map((r) => r && `${r.scenario}: ${r.error}`), [], `stderr:\n${runResult.stderr.slice(-4000)}`);
    assert.deepEqual([...runResult.results.keys()].sort(), scenarios.map((s) => s.name).sort());
    assert.equal(runResult.code, 0);
    for (const name of ['seed-properties', 'current-names-arn', 'current-names-alias', 'per-bucket-key', 'encryption-context', 'dsse-kms']) {
      const expected = { 'seed-properties': keys.seed, 'current-names-arn': keys.current, 'current-names-alias': keys.aliased, 'per-bucket-key': keys.perBucket, 'encryption-context': keys.context, 'dsse-kms': keys.dsse }[name];
      assert.deepEqual(runResult.results.get(name)!.kmsKeyIds, [expected], name);
    }
    const denied = runResult.results.get('no-kms-decrypt')!;
    assert.equal(denied.notes.length, 4, `three reads and a rename denied: ${JSON.stringify(denied.notes)}`);
    for (const note of denied.notes) assert.ok(note.includes(`User: ${noDecryptArn} is not authorized to perform: kms:Decrypt on resource: ${keys.denied}`), note);
  });

  it('what S3A kept reads back through the SDK on every node, with the key S3A saw', async () => {
    let i = 0;
    for (const s of scenarios.filter((x) => x.mode !== 'denied')) {
      const r = runResult.results.get(s.name)!;
      const kept = Object.entries(r.kept);
      assert.equal(kept.length, 3, s.name);
      for (const [uri, sha] of kept) {
        const u = new URL(uri);
        const Key = decodeURIComponent(u.pathname.slice(1));
        const s3 = cluster.nodes[i++ % 3]!.s3();
        const head = await s3.send(new HeadObjectCommand({ Bucket: u.host, Key }));
        assert.equal(head.ServerSideEncryption, s.sse, `${s.name} ${Key}`);
        assert.equal(head.SSEKMSKeyId, r.kmsKeyIds[0], `${s.name} ${Key}`);
        const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: u.host, Key }))).Body!.transformToByteArray());
        assert.equal(sha256hex(body), sha, `${s.name} ${Key}`);
      }
    }
  });

  it("the cluster's audit trail holds S3A's KMS use from more than one node, with the encryption context S3A sent", async () => {
    const db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 1 });
    try {
      const { rows } = await db.query<{ node: string; record: string }>("SELECT node, record FROM audit_events WHERE event_name IN ('GenerateDataKey', 'Decrypt') ORDER BY seq");
      const events = rows.map((r) => ({ node: r.node, e: JSON.parse(r.record) as CloudTrailEvent }));
      const onKey = (arn: string) => events.filter((x) => x.e.resources.some((r) => r.ARN === arn) && !x.e.errorCode);
      const used = onKey(keys.current!);
      assert.ok(used.some((x) => x.e.eventName === 'GenerateDataKey') && used.some((x) => x.e.eventName === 'Decrypt'), 'writes and reads used the key');
      const nodes = new Set(events.filter((x) => scenarios.some((s) => JSON.stringify(x.e.requestParameters).includes(s.bucket))).map((x) => x.node));
      assert.ok(nodes.size >= 2, `S3A's requests reached ${nodes.size} node(s) through the proxy`);
      const context = onKey(keys.context!).filter((x) => x.e.eventName === 'GenerateDataKey');
      assert.ok(context.length > 0);
      for (const x of context) assert.equal((x.e.requestParameters?.encryptionContext as Record<string, string>).project, 'hadoop');
      assert.ok(events.some((x) => x.e.eventName === 'Decrypt' && x.e.errorCode && x.e.userIdentity.arn === noDecryptArn), 'the refused Decrypts are recorded');
    } finally {
      await db.end();
    }
  });
});
