// The cluster's rotation rows (cluster/rotation-store.ts) on a real PostgreSQL: the switch to
// the new key happens only when every live node (a fresh writer heartbeat) holds it; a node
// with a stale heartbeat does not hold it up; a starting node's read waits for a switch in
// progress and sees it, so no node can start sealing-blind between the check and the switch.
// A rotation is cancelled only in `prepare`, under the row's lock (a cancel waits for a switch
// in progress and is then refused), and only once its record is written; another may begin
// after it. Every change a node waits for is NOTIFYd; a listener whose connection is cut
// opens another and says so.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { PgRotationStore, type ClusterRotationRow } from '../../src/cluster/rotation-store.js';
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

  it('cancels only before the switch: waits for a switch in progress, then refuses; never without its record', async () => {
    // r2 is sealing (the test before): past its switch.
    let recorded: ClusterRotationRow[] = [];
    const record = async (r: ClusterRotationRow) => void recorded.push(r);
    const past = await store.cancel('cancelled', record);
    assert.deepEqual([past.outcome, past.row?.id, past.row?.phase], ['past-switch', 'r2', 'sealing']);
    assert.equal(recorded.length, 0, 'nothing recorded for a refused cancel');
    assert.equal(await store.advance('r2', { phase: 'sealing', barrier: 1 }, { phase: 'completed', barrier: 1, progress: {} }), true);
    assert.equal((await store.cancel('cancelled', record)).outcome, 'none');

    // A switch in progress holds the row: the cancel waits for it, sees the switch and refuses.
    assert.equal(await store.begin('r3', 'key:0000000000000002', 'key:0000000000000004', { target: 'file' }), true);
    const c = await pool.connect();
    let cancelling: Promise<{ outcome: string }>;
    try {
      await c.query('BEGIN');
      await c.query(`SELECT id FROM cluster_rotation WHERE id = 'r3' FOR UPDATE`);
      let outcome: string | undefined;
      cancelling = store.cancel('cancelled', record);
      void cancelling.then((o) => (outcome = o.outcome));
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(outcome, undefined, 'the cancel waits for the switch');
      await c.query(`UPDATE cluster_rotation SET phase = 'sealing', barrier = 1 WHERE id = 'r3'`);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    assert.equal((await cancelling).outcome, 'past-switch');
    assert.equal(recorded.length, 0);
    assert.equal(await store.advance('r3', { phase: 'sealing', barrier: 1 }, { phase: 'completed', barrier: 1, progress: {} }), true);

    // In prepare: a record that fails leaves the rotation as it was.
    assert.equal(await store.begin('r4', 'key:0000000000000004', 'key:0000000000000005', { target: 'file' }), true);
    await assert.rejects(store.cancel('cancelled', async () => { throw new Error('the audit trail is full'); }), /audit trail is full/);
    assert.equal((await store.latest())!.phase, 'prepare');
    // Recorded, then cancelled: no switch any more, and a new rotation may begin.
    const done = await store.cancel('cancelled before the switch', record);
    assert.deepEqual([done.outcome, recorded.map((r) => [r.id, r.phase])], ['cancelled', [['r4', 'prepare']]]);
    const latest = (await store.latest())!;
    assert.deepEqual([latest.id, latest.phase, latest.message], ['r4', 'cancelled', 'cancelled before the switch']);
    await report('r4', 'n-a', true);
    await report('r4', 'n-b', true);
    assert.deepEqual(await store.trySwitch('r4'), { switched: false, blockers: [] });
    assert.equal((await store.byTo('key:0000000000000005'))!.phase, 'cancelled');
    recorded = [];
    assert.equal(await store.begin('r5', 'key:0000000000000004', 'key:0000000000000006', { target: 'file' }), true);
    assert.equal((await store.latest())!.id, 'r5', 'the open rotation comes before the cancelled one');
    assert.equal((await store.cancel('cancelled', record)).outcome, 'cancelled');
  });

  it('notifies every change a node waits for, not a report that changed nothing; a listener cut off listens again', async () => {
    let changes = 0;
    const warnings: string[] = [];
    const listener = store.listen(() => void changes++, { warn: (_o, msg) => void warnings.push(msg) });
    const until = async (what: string, ok: () => boolean | Promise<boolean>) => {
      const t0 = Date.now();
      while (!(await ok())) {
        if (Date.now() - t0 > 10_000) throw new Error(`not within 10 s: ${what}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    try {
      await until('listening', () => listener.listening);
      await until('the change a new listener reports at once', () => changes >= 1);
      const quiet = async () => {
        const n = changes;
        await new Promise((res) => setTimeout(res, 300));
        return changes - n;
      };
      assert.equal(await quiet(), 0);
      // Counted before the begin: its notification may arrive before the begin's answer does.
      let n = changes;
      assert.equal(await store.begin('r6', 'key:0000000000000004', 'key:0000000000000007', { target: 'file' }), true);
      await until('the begin notified', () => changes > n);
      n = changes;
      await report('r6', 'n-a', false, 'cannot open');
      await until('a new report notified', () => changes > n);
      assert.equal(await quiet(), 0);
      await report('r6', 'n-a', false, 'cannot open');
      assert.equal(await quiet(), 0, 'the same report again wakes nobody');
      n = changes;
      await report('r6', 'n-a', true);
      await until('a changed report notified', () => changes > n);
      n = changes;
      await store.setMessage('r6', 'waiting');
      assert.equal(await quiet(), 0, 'the message is for the status only');

      // The listener's connection is cut (PostgreSQL restarted, a proxy dropped it): it listens again, and says a change may have passed.
      const { rows } = await pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'coffer-listen' OR query = 'LISTEN coffer_cluster_rotation'`);
      assert.equal(rows.length, 1, JSON.stringify(rows));
      n = changes;
      await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await until('the listener lost its connection', () => !listener.listening);
      assert.ok(warnings.some((w) => /lost the connection that listens/.test(w)), warnings.join('; '));
      await until('listening again', () => listener.listening);
      await until('the reconnection reported as a change', () => changes > n);
      n = changes;
      assert.equal((await store.cancel('cancelled', async () => {})).outcome, 'cancelled');
      await until('the cancel notified on the new connection', () => changes > n);
    } finally {
      await listener.close();
    }
    assert.equal(listener.listening, false);
  });
});
