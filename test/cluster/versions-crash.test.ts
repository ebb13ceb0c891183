// Versions and delete markers under kill -9 in a cluster (test/helpers/cluster.ts): two nodes
// on one PostgreSQL and one shared blob directory; ten clients, half on each node, write
// versions, delete markers and deletes by version id while node 0 is SIGKILLed at random
// moments, five times. After each restart of node 0, test/helpers/versions-under-kills.ts
// checks the history through it against what the clients were told (the blob-file count is
// not checked: the shared directory's garbage is collected by whichever node gets to it).
//
// Each key has a bucket of its own in the first test; the second puts all ten writers on one
// bucket, which answered 500 InternalError while every write updated the bucket's one
// meta_bucket_usage row (a hot row under SERIALIZABLE; the retries ran out) — the counts are
// now kept in per-connection slots (metadata migration 3).

import { after, before, it, type TestContext } from 'node:test';
import { CreateBucketCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { startCluster, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { VERSION_KEYS, versionsUnderKills, type KillTarget } from '../helpers/versions-under-kills.js';

describePostgres('versions and delete markers under kill -9 (two nodes, PostgreSQL)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster({ nodes: 2 });
    const s3 = cluster.nodes[1]!.s3();
    for (const bucket of ['versions-crash-one', ...VERSION_KEYS.map((k) => `versions-crash-${k}`)]) {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Node 0 is the victim; writer slots alternate between the nodes; checks read through node 0. */
  function target(): KillTarget {
    const [victim, survivor] = cluster.nodes as [ClusterNode, ClusterNode];
    // One client per node and per start (a node's clients are destroyed when it is killed).
    let clients = [victim.s3(), survivor.s3()];
    // The victim's earlier lives, whose logs its kill would otherwise take along.
    const killed: string[] = [];
    return {
      writer: (slot) => (slot % 2 === 0 ? (victim.running ? clients[0] : undefined) : clients[1]),
      async kill() {
        const child = victim.child();
        await victim.kill();
        killed.push(`${child?.stdout() ?? ''}${child?.stderr() ?? ''}`);
      },
      async restart() {
        await victim.start();
        clients = [victim.s3(), clients[1]!];
      },
      reader: () => ({ s3: clients[0]!, url: victim.url() }),
      logs: () => [
        ...killed.map((l, i) => `--- node 0, life ${i + 1} (killed):\n${l}`),
        ...cluster.nodes.map((n) => `--- node ${n.index}:\n${n.child() ? n.child()!.stdout() + n.child()!.stderr() : '(down)'}`),
      ].join('\n'),
    };
  }

  it('keeps every acknowledged version and marker, invents none, and lists what GET by id reads, across kills of one node', (t: TestContext) =>
    versionsUnderKills(t, target(), (key) => `versions-crash-${key}`, 5));

  it('ten concurrent writers on one bucket are all answered (no 500 from the bucket usage row)', (t: TestContext) => versionsUnderKills(t, target(), 'versions-crash-one', 1));
});
