// Delivery of the cluster's audit trail to a bucket by the job leader (docs/CLUSTER.md,
// "Audit"; src/audit/pg-delivery.ts) on a two-node cluster of real server processes on one
// real PostgreSQL: KMS calls answered by both nodes all arrive in the bucket, each record
// exactly once, in seq order across the delivered objects; and with a large backlog the
// leader is SIGKILLed in the middle of delivering it — the other node takes the lease and
// goes on from the stored position, and the bucket still holds every record exactly once;
// the next leader prunes the delivered rows past COFFER_AUDIT_RETENTION_DAYS. The leader
// alone exports coffer_audit_delivery_lag_seconds.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand, GenerateRandomCommand } from '@aws-sdk/client-kms';
import { startCluster, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

const BUCKET = 'trail';
const PREFIX = 'coffer';
const DESTINATION = `${BUCKET}/${PREFIX}`;

describePostgres('audit delivery on a two-node cluster', () => {
  let cluster: TestCluster;
  let db: pg.Pool;
  before(async () => {
    cluster = await startCluster({
      nodes: 2,
      env: { COFFER_CLUSTER_LEASE_SECONDS: '2', COFFER_AUDIT_BUCKET: DESTINATION, COFFER_AUDIT_DELIVERY_SECONDS: '1', COFFER_AUDIT_RETENTION_DAYS: '30' },
    });
    db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 3 });
    await cluster.nodes[0]!.s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const until = async <T>(what: string, get: () => Promise<T | undefined>, ms: number): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      const value = await get();
      if (value !== undefined) return value;
      if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const position = async () => (await db.query<{ d: string; p: string | null }>('SELECT delivered_seq::text AS d, pending_to::text AS p FROM audit_delivery WHERE destination = $1', [DESTINATION])).rows[0];
  const maxSeq = async () => Number((await db.query<{ m: string | null }>('SELECT max(seq)::text AS m FROM audit_events')).rows[0]!.m ?? 0);
  /** Waits until everything in the table is delivered (the position at max(seq), nothing pending). */
  const allDelivered = (ms: number) => until('every row delivered', async () => {
    const [pos, max] = [await position(), await maxSeq()];
    return pos && pos.p === null && Number(pos.d) === max ? max : undefined;
  }, ms);
  /** The records in the bucket, object by object in key order of their first seq (the key's unique part). */
  const delivered = async (node: ClusterNode): Promise<{ key: string; ids: string[] }[]> => {
    const s3 = node.s3();
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/AWSLogs/`, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token);
    const unique = (k: string) => /_(\d{16})\.json\.gz$/.exec(k)![1]!;
    keys.sort((a, b) => unique(a).localeCompare(unique(b)));
    const out: { key: string; ids: string[] }[] = [];
    for (const key of keys) {
      assert.match(key, new RegExp(`^${PREFIX}/AWSLogs/${cluster.accountId}/CloudTrail/us-east-1/\\d{4}/\\d{2}/\\d{2}/${cluster.accountId}_CloudTrail_us-east-1_\\d{8}T\\d{4}Z_\\d{16}\\.json\\.gz$`));
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
      out.push({ key, ids: (JSON.parse(gunzipSync(body).toString('utf8')) as { Records: { eventID: string }[] }).Records.map((r) => r.eventID) });
    }
    return out;
  };
  /** Every row's eventID in seq order. */
  const trail = async () => (await db.query<{ id: string }>('SELECT event_id::text AS id FROM audit_events ORDER BY seq')).rows.map((r) => r.id);
  /** A session that holds meta_objects locked against writes while `during` runs (an object PUT waits at its commit). */
  const gate = {
    async hold<T>(during: () => Promise<T>): Promise<T> {
      const session = await db.connect();
      try {
        await session.query('BEGIN');
        await session.query('LOCK TABLE meta_objects IN SHARE ROW EXCLUSIVE MODE');
        return await during();
      } finally {
        await session.query('COMMIT').catch(() => undefined);
        session.release();
      }
    },
  };
  /** A write of meta_objects waits on the gate's lock. */
  const putWaits = async () => (await db.query("SELECT 1 FROM pg_locks WHERE relation = 'meta_objects'::regclass AND NOT granted")).rowCount! > 0;
  const nodeId = (n: ClusterNode) => readFileSync(join(n.dataDir, 'node-id'), 'utf8').trim();
  const leader = async () => {
    const { rows } = await db.query<{ node: string }>("SELECT node FROM cluster_leases WHERE name = 'jobs' AND expires_at > (extract(epoch from clock_timestamp()) * 1000)");
    return cluster.nodes.find((n) => n.running && rows[0]?.node === nodeId(n));
  };

  it('records answered by both nodes arrive in the bucket exactly once, in seq order across the objects', async () => {
    const [n0, n1] = cluster.nodes;
    const keyId = (await n0!.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    for (let i = 0; i < 10; i++) {
      const node = i % 2 === 0 ? n0! : n1!;
      await node.kms().send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
      await node.kms().send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
    }
    await allDelivered(20_000);
    const objects = await delivered(n1!);
    const ids = objects.flatMap((o) => o.ids);
    assert.deepEqual(ids, await trail(), 'every row once, in seq order');
    const { rows } = await db.query<{ n: number }>('SELECT count(DISTINCT node)::int AS n FROM audit_events');
    assert.equal(rows[0]!.n, 2, 'the trail holds both nodes\' records');
    // coffer_audit_delivery_lag_seconds: exported by the leader (0: all delivered), not by the other node.
    const lead = await until('a leader', leader, 10_000);
    const lagOf = async (n: ClusterNode) => /^coffer_audit_delivery_lag_seconds\{destination="trail\/coffer"\} (\S+)$/m.exec(await (await fetch(`${n.url()}/metrics`)).text())?.[1];
    assert.equal(await lagOf(lead), '0');
    assert.equal(await lagOf(cluster.nodes.find((n) => n !== lead)!), undefined);
  });

  it('SIGKILL the leader in the middle of delivering a backlog: the other node goes on from the stored position, nothing lost or doubled', async () => {
    const start = Number((await position())!.d);
    // The leader is caught in the middle by construction, not by a poll's timing: the object it
    // PUTs (through its own S3 API) commits into meta_objects, which a test session holds
    // locked against writes (reads go on) from before the backlog exists. Once the leader has
    // chosen the backlog's first range (recorded as pending) and its PUT waits on that lock, it
    // is killed; then the lock goes.
    let end = 0;
    const killedAt = await gate.hold(async () => {
      // A backlog of three objects' worth (10,000 records each), stored as a node stores them.
      const sample = (await db.query<{ record: string }>('SELECT record FROM audit_events ORDER BY seq DESC LIMIT 1')).rows[0]!.record;
      const eventID = (JSON.parse(sample) as { eventID: string }).eventID;
      const BACKLOG = 25_000;
      // One INSERT: a round sees all of it or none.
      const ids = Array.from({ length: BACKLOG }, () => randomUUID());
      await db.query(
        `INSERT INTO audit_events (event_id, node, event_time, event_name, record)
         SELECT id, 'backlog', $2, 'Encrypt', replace($3, $4, id::text) FROM unnest($1::uuid[]) WITH ORDINALITY AS e(id, i) ORDER BY i`,
        [ids, Date.now(), sample, eventID],
      );
      end = await maxSeq();
      const at = await until('the leader chose a range of the backlog and its PUT waits', async () => {
        const pos = (await position())!;
        return pos.p !== null && (await putWaits()) ? { d: Number(pos.d), p: pos.p } : undefined;
      }, 30_000);
      const old = await leader();
      assert.ok(old, 'a leader');
      await old.kill();
      return { ...at, old };
    });
    const old = killedAt.old;
    assert.equal(killedAt.d, start, 'killed with the first range of the backlog pending');
    assert.ok(Number(killedAt.p) < end, 'and more of it left');
    const survivor = cluster.nodes.find((n) => n.running)!;
    await until('the other node leads', async () => ((await leader()) === survivor ? true : undefined), 15_000);
    await allDelivered(60_000);

    const objects = await delivered(survivor);
    const ids = objects.flatMap((o) => o.ids);
    assert.deepEqual(ids, await trail(), 'every row once, in seq order, across the leader change');
    // The backlog alone makes three objects (10,000 records at most each), whichever leader wrote them.
    assert.equal(objects.filter((o) => o.ids.length === 10_000).length, 2, `killed at ${JSON.stringify({ d: killedAt.d, p: killedAt.p })}`);
    await old.start();
  });

  it('retention: the next leader deletes the delivered rows older than COFFER_AUDIT_RETENTION_DAYS at its start, keeps the rest', async () => {
    await allDelivered(30_000);
    const before = await trail();
    // The first 100 rows are 40 days old (as if the cluster had run that long).
    await db.query('UPDATE audit_events SET event_time = $1 WHERE seq <= 100', [Date.now() - 40 * 86_400_000]);
    const current = await until('a leader', leader, 15_000);
    await current.stop(); // a clean stop hands the lease over at once; the other node's jobs start, pruning first
    await until('the old rows pruned', async () => ((await trail()).length === before.length - 100 ? true : undefined), 20_000);
    assert.deepEqual(await trail(), before.slice(100), 'the 100 oldest gone, every newer row kept');
    await current.start();
  });
});
