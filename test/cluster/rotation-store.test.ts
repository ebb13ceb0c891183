// The cluster's rotation rows (cluster/rotation-store.ts) on a real PostgreSQL: the switch to
// the new key happens only when every live node (a fresh writer heartbeat) holds it; a node
// with a stale heartbeat does not hold it up; a starting node's read waits for a switch in
// progress and sees it, so no node can start sealing-blind between the check and the switch.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { PgRotationStore } from '../../src/cluster/rotation-store.js';
import { PgMetadataStore } from '../../src/storage/postgres/pg-metadata-store.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';

describePostgres('the cluster rotation rows', () => {
  let pool: pg.Pool;
  let store: PgRotationStore;
  const metas: PgMetadataStore[] = [];
  /** A node: its writer registered (and heartbeating) as a server's metadata store does. */
  const node = async (name: string) => {
    const m = await PgMetadataStore.open(pool, { writer: { node: name, instance: `${name}-i` }, heartbeatMs: 1000 });
    metas.push(m);
    return m;
  };
  const report = (id: string, name: string, holdsNew: boolean, problem = '') => store.report(id, { node: name, instance: `${name}-i`, holdsNew, problem, ackedBarrier: 0, finished: false });

  before(async () => {
    pool = new pg.Pool({ connectionString: await (await postgresServer()).freshDatabase() });
    await node('n-a');
    await node('n-b');
    store = await PgRotationStore.open(pool);
  });
  after(async () => {
    for (const m of metas) await m.close();
    await pool?.end();
  });

  it('switches only once every live node holds the new key; one rotation at a time', async () => {
    assert.equal(await store.begin('r1', 'key:0000000000000001', 'key:0000000000000002', { target: 'file' }), true);
    assert.equal(await store.begin('r2', 'key:0000000000000001', 'key:0000000000000003', { target: 'file' }), false);
    await report('r1', 'n-a', true);
    let t = await store.trySwitch('r1');
    assert.equal(t.switched, false);
    assert.deepEqual(t.blockers.map((b) => b.node), ['n-b'], 'a live node that has not reported blocks');
    await report('r1', 'n-b', false, 'cannot open the new root key');
    t = await store.trySwitch('r1');
    assert.deepEqual(t.blockers.map((b) => [b.node, b.problem]), [['n-b', 'cannot open the new root key']]);
    assert.equal((await store.latest())!.phase, 'prepare');
    // A node that started meanwhile blocks too, before it has said anything.
    await node('n-c');
    await report('r1', 'n-b', true);
    assert.deepEqual((await store.trySwitch('r1')).blockers.map((b) => b.node), ['n-c']);
    // n-c dies: its heartbeat goes stale (older than 4 of its periods), and it no longer counts.
    await pool.query(`UPDATE meta_blob_writers SET heartbeat_at = heartbeat_at - 60000 WHERE node = 'n-c'`);
    t = await store.trySwitch('r1');
    assert.equal(t.switched, true);
    const r = (await store.latest())!;
    assert.deepEqual([r.phase, r.barrier], ['sealing', 1]);
    // A dead node that never reported is not part of it at all.
    assert.deepEqual((await store.nodes('r1')).map((n) => [n.node, n.live, n.holdsNew]), [['n-a', true, true], ['n-b', true, true]]);
    // A move from a phase it is no longer in does nothing.
    assert.equal(await store.advance('r1', { phase: 'prepare', barrier: 0 }, { phase: 'completed', barrier: 0, progress: {} }), false);
    assert.equal(await store.advance('r1', { phase: 'sealing', barrier: 1 }, { phase: 'completed', barrier: 1, progress: {} }), true);
    assert.equal(await store.begin('r2', 'key:0000000000000002', 'key:0000000000000003', { target: 'file' }), true);
  });

  it('a starting node reading the rotation waits for a switch in progress and sees it', async () => {
    await report('r2', 'n-a', true);
    await report('r2', 'n-b', true);
    // The switch's transaction holds the row (as trySwitch does between its check and its commit).
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`SELECT id FROM cluster_rotation WHERE id = 'r2' FOR UPDATE`);
      let read: string | undefined;
      const joining = store.joinRead().then((r) => (read = r?.phase));
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(read, undefined, 'the read waits for the switch');
      await c.query(`UPDATE cluster_rotation SET phase = 'sealing', barrier = 1 WHERE id = 'r2'`);
      await c.query('COMMIT');
      await joining;
      assert.equal(read, 'sealing');
    } finally {
      c.release();
    }
  });
});
