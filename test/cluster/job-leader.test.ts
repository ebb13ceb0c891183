// The job leader on a three-node cluster: exactly one node leads (coffer_cluster_leader on
// /metrics, and the lease row names it); SIGKILL the leader and another node takes over
// within the documented bound (lease + lease/3, plus the new leader's poll) and the jobs
// run there: a KMS key whose deletion date has passed is deleted by the new leader.
//
// The deletion date is moved into the past in the database itself (as if the waiting period
// had run out while the leader was down): no clock or back door in the server.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateKeyCommand, DescribeKeyCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { startCluster, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

const LEASE_SECONDS = 2;
/** docs/CLUSTER.md: the lease runs out at most a lease after its last renewal; the others try every lease/3. */
const FAILOVER_BOUND_MS = LEASE_SECONDS * 1000 + Math.ceil((LEASE_SECONDS * 1000) / 3);

describePostgres('the job leader on a three-node cluster', () => {
  let cluster: TestCluster;
  let db: pg.Client;
  before(async () => {
    cluster = await startCluster({ nodes: 3, env: { COFFER_CLUSTER_LEASE_SECONDS: String(LEASE_SECONDS) } });
    db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const leads = async (n: ClusterNode): Promise<boolean> => {
    const text = await (await fetch(`${n.url()}/metrics`)).text();
    const m = /^coffer_cluster_leader (\d+)$/m.exec(text);
    assert.ok(m, 'coffer_cluster_leader is exported');
    return m[1] === '1';
  };
  const leaders = async () => {
    const live = cluster.nodes.filter((n) => n.running);
    const flags = await Promise.all(live.map(leads));
    return live.filter((_, i) => flags[i]);
  };
  const nodeId = (n: ClusterNode) => readFileSync(join(n.dataDir, 'node-id'), 'utf8').trim();
  const until = async <T>(what: string, get: () => Promise<T | undefined>, ms: number): Promise<{ value: T; took: number }> => {
    const t0 = Date.now();
    for (;;) {
      const value = await get();
      if (value !== undefined) return { value, took: Date.now() - t0 };
      if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('exactly one of three nodes leads, and the lease row names it', async () => {
    const { value: leader } = await until('a leader', async () => {
      const l = await leaders();
      return l.length === 1 ? l[0] : undefined;
    }, 10_000);
    // Several rounds: never two.
    for (let i = 0; i < 6; i++) {
      assert.equal((await leaders()).length, 1, 'exactly one leader');
      await new Promise((r) => setTimeout(r, LEASE_SECONDS * 250));
    }
    const row = (await db.query("SELECT node FROM cluster_leases WHERE name = 'jobs'")).rows[0];
    assert.equal(row.node, nodeId(leader));
  });

  it('SIGKILL the leader: another node leads within the bound, and runs the jobs (a due key deletion)', async () => {
    const [old] = await leaders();
    assert.ok(old);
    const survivor = cluster.nodes.find((n) => n !== old && n.running)!;
    const kms = survivor.kms();
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: KeyMetadata!.KeyId!, PendingWindowInDays: 7 }));

    await old.kill();
    const killedAt = Date.now();
    // The waiting period ran out while the leader was gone.
    await db.query('UPDATE kms_keys SET deletion_date = $1 WHERE key_id = $2', [Date.now() - 1000, KeyMetadata!.KeyId!]);
    const { value: next } = await until('a new leader', async () => {
      const l = await leaders();
      return l.length === 1 ? l[0] : undefined;
    }, 30_000);
    const took = Date.now() - killedAt;
    assert.notEqual(next, old);
    // The bound, plus the poll above and a loaded test machine's scheduling.
    assert.ok(took <= FAILOVER_BOUND_MS + 3_000, `a new leader after ${took} ms (bound ${FAILOVER_BOUND_MS} ms)`);
    await until('the due key is deleted by the new leader', async () => {
      try {
        await kms.send(new DescribeKeyCommand({ KeyId: KeyMetadata!.KeyId! }));
        return undefined;
      } catch (e) {
        return (e as Error).name === 'NotFoundException' ? true : undefined;
      }
    }, 15_000);
    assert.equal((await db.query("SELECT node FROM cluster_leases WHERE name = 'jobs'")).rows[0].node, nodeId(next));
    // The deletion is KMS's own event, in the cluster's trail under the node that did it: the new leader only.
    const { rows } = await db.query<{ node: string; record: string }>("SELECT node, record FROM audit_events WHERE event_name = 'DeleteKey'");
    const deletedBy = rows
      .filter((r) => (JSON.parse(r.record) as { eventType?: string }).eventType === 'AwsServiceEvent' && r.record.includes(KeyMetadata!.KeyId!))
      .map((r) => r.node);
    assert.deepEqual(deletedBy, [nodeId(next)], 'the new leader deleted the key, no other node');

    // The old leader comes back as a follower: still exactly one leader.
    await old.start();
    await new Promise((r) => setTimeout(r, LEASE_SECONDS * 1000));
    const after = await leaders();
    assert.equal(after.length, 1);
    assert.equal(after[0], next, 'leadership stays where it is');
  });

  it('a clean stop hands leadership over at once (the lease is released, not left to expire)', async () => {
    const [leader] = await leaders();
    assert.ok(leader);
    const held = (await db.query("SELECT holder FROM cluster_leases WHERE name = 'jobs'")).rows[0].holder as string;
    await leader.stop();
    const stoppedAt = Date.now();
    const row = (await db.query("SELECT holder, expires_at FROM cluster_leases WHERE name = 'jobs'")).rows[0] as { holder: string; expires_at: string };
    assert.ok(row.holder !== held || Number(row.expires_at) === 0, 'the stopped leader released its lease (or another node already took it)');
    await until('a new leader', async () => {
      const l = await leaders();
      return l.length === 1 ? l[0] : undefined;
    }, 30_000);
    const took = Date.now() - stoppedAt;
    // Released: the next try (every lease/3) takes it, well before the lease would have run out.
    assert.ok(took < LEASE_SECONDS * 1000, `took ${took} ms`);
    await leader.start();
  });
});
