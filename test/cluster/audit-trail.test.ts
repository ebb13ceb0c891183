// One audit trail for a three-node cluster (test/helpers/cluster.ts, docs/CLUSTER.md
// "Audit"): KMS, IAM and S3-with-SSE-KMS calls made through different nodes are, in the
// order they were answered, one trail that `coffer audit query --metadata` (the compiled
// CLI, straight against the database) and the console's events route (on any node) both
// return, each node's rows naming it; and a node SIGKILLed the moment its last answer
// arrived has every acknowledged record in PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type TestCluster } from '../helpers/cluster.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { adminCall } from '../helpers/admin.js';
import { runCoffer, type CliResult } from '../helpers/cli.js';
import type { CloudTrailEvent } from '../../src/audit/event.js';

/** The compiled CLI with no COFFER_ variable set (the database is named by --metadata). */
function coffer(...args: string[]): Promise<CliResult> {
  return runCoffer({ PATH: process.env.PATH }, ...args);
}

describePostgres('a three-node cluster: one audit trail', () => {
  let cluster: TestCluster;
  let db: pg.Pool;
  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 2 });
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const iamOn = (i: number) => new IAMClient({ endpoint: cluster.nodes[i]!.url(), region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });

  it('KMS, IAM and SSE-KMS S3 calls through three nodes are one ordered trail for the CLI and the console of every node', async () => {
    const [n0, n1, n2] = cluster.nodes;
    /** requestIDs of the audited calls, in the order they were answered, and the node that answered each. */
    const answered: { id: string; node: number; event: string }[] = [];
    const keyId = (await n0!.kms().send(new CreateKeyCommand({ Description: 'cluster audit' }))).KeyMetadata!.KeyId!;
    const created = await n0!.kms().send(new CreateKeyCommand({ Description: 'second' }));
    answered.push({ id: created.$metadata.requestId!, node: 0, event: 'CreateKey' });
    const iam = iamOn(1);
    try {
      const user = await iam.send(new CreateUserCommand({ UserName: 'audited-across-nodes' }));
      answered.push({ id: user.$metadata.requestId!, node: 1, event: 'CreateUser' });
    } finally {
      iam.destroy();
    }
    const enc = await n2!.kms().send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    answered.push({ id: enc.$metadata.requestId!, node: 2, event: 'Encrypt' });
    await n1!.s3().send(new CreateBucketCommand({ Bucket: 'audited' }));
    // S3 on node 1 asks KMS for a data key (GenerateDataKey), S3 on node 0 for its plaintext (Decrypt).
    const put = await n1!.s3().send(new PutObjectCommand({ Bucket: 'audited', Key: 'o', Body: 'sealed', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    answered.push({ id: put.$metadata.requestId!, node: 1, event: 'GenerateDataKey' });
    const get = await n0!.s3().send(new GetObjectCommand({ Bucket: 'audited', Key: 'o' }));
    assert.equal(await get.Body!.transformToString(), 'sealed');
    answered.push({ id: get.$metadata.requestId!, node: 0, event: 'Decrypt' });
    const disable = await n2!.kms().send(new DisableKeyCommand({ KeyId: keyId }));
    answered.push({ id: disable.$metadata.requestId!, node: 2, event: 'DisableKey' });

    const expected = answered.map((a) => `${a.event}@${a.id}`).reverse(); // newest first
    const ours = (events: CloudTrailEvent[]) => events.filter((e) => answered.some((a) => a.id === e.requestID)).map((e) => `${e.eventName}@${e.requestID}`);

    // The CLI, straight against the database (no node involved): every node's events, oldest first.
    const cli = await coffer('audit', 'query', '--metadata', cluster.databaseUrl, '--json');
    assert.equal(cli.code, 0, cli.stderr);
    const cliEvents = cli.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CloudTrailEvent);
    assert.deepEqual(ours(cliEvents).reverse(), expected, 'the CLI prints one trail in the order the calls were answered');

    // The console's route on each node answers the same trail, newest first, and pages through it.
    for (const node of cluster.nodes) {
      const r = await adminCall({ url: node.url() }, 'GET', 'audit/events', { query: { limit: '1000' } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(ours(r.body.events as CloudTrailEvent[]), expected, `node ${node.index}'s console`);
    }
    const paged: CloudTrailEvent[] = [];
    let token: string | undefined;
    let hop = 0;
    do {
      // Each page from the next node: the token of one node pages on another.
      const node = cluster.nodes[hop++ % 3]!;
      const r = await adminCall({ url: node.url() }, 'GET', 'audit/events', { query: { limit: '2', ...(token ? { nextToken: token } : {}) } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      paged.push(...(r.body.events as CloudTrailEvent[]));
      token = r.body.nextToken as string | undefined;
    } while (token);
    assert.deepEqual(ours(paged), expected, 'pages of two events, each from another node, make the same trail');
    assert.equal(new Set(paged.map((e) => e.eventID)).size, paged.length, 'no event twice');

    // Each row names the node that wrote it: three nodes, and the calls of one node share its name.
    const { rows } = await db.query<{ node: string; record: string }>('SELECT node, record FROM audit_events');
    const nodeOf = new Map(rows.map((r) => [(JSON.parse(r.record) as CloudTrailEvent).requestID, r.node]));
    const names = [0, 1, 2].map((i) => new Set(answered.filter((a) => a.node === i).map((a) => nodeOf.get(a.id))));
    for (const s of names) assert.equal(s.size, 1);
    assert.equal(new Set(names.map((s) => [...s][0])).size, 3, 'three nodes, three names');
    // `coffer audit tail --metadata` prints the newest events of the whole cluster, oldest first.
    const tail = await coffer('audit', 'tail', '-n', '3', '--metadata', cluster.databaseUrl, '--json');
    assert.equal(tail.code, 0, tail.stderr);
    const tailed = tail.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CloudTrailEvent);
    assert.deepEqual(tailed.map((e) => e.eventID), cliEvents.slice(-3).map((e) => e.eventID));
    // A database no node has run on has no trail: said so, with a hint.
    const empty = await coffer('audit', 'query', '--metadata', await (await postgresServer()).freshDatabase());
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /coffer: error: the database of --metadata holds no audit trail\ncoffer: hint: start a coffer server/);
    // The filters work on the merged trail too.
    const decrypts = await coffer('audit', 'query', '--metadata', cluster.databaseUrl, '--event', 'Decrypt', '--json');
    assert.deepEqual(decrypts.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as CloudTrailEvent).requestID), [get.$metadata.requestId]);
  });

  it('every acknowledged KMS change of a node SIGKILLed right after its last answer is in PostgreSQL', async () => {
    const node = cluster.nodes[1]!;
    const kms = node.kms();
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'killed' }))).KeyMetadata!.KeyId!;
    const acknowledged: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await kms.send(i % 2 === 0 ? new DisableKeyCommand({ KeyId: keyId }) : new EnableKeyCommand({ KeyId: keyId }));
      acknowledged.push(r.$metadata.requestId!);
    }
    // Concurrent calls share one INSERT (group commit); the last answers are the ones a lazy writer loses.
    const concurrent = await Promise.all(Array.from({ length: 8 }, () => kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('p') }))));
    acknowledged.push(...concurrent.map((r) => r.$metadata.requestId!));
    const last = await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    acknowledged.push(last.$metadata.requestId!);
    await node.kill();
    const { rows } = await db.query<{ id: string }>("SELECT record::json->>'requestID' AS id FROM audit_events");
    const stored = new Set(rows.map((r) => r.id));
    const missing = acknowledged.filter((id) => !stored.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged calls have no record`);
    await node.start();
  });
});
