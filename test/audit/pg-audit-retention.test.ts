// The cluster's trail read in order and pruned (src/audit/pg-audit-trail.ts, pg-prune.ts,
// pg-delivery.ts) on a real PostgreSQL: the delivery horizon never passes an INSERT still in
// flight (whose seq is below one already committed) and holds no insert up; a delivery round
// writes one object per range, keyed by the range, and confirms it only after the PUT; a
// failed PUT leaves the range pending and the next round writes the very same object;
// pruning deletes the oldest rows past the retention and nothing after the delivered
// position, and `coffer audit query --metadata` pages through what is left.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { pino } from 'pino';
import { PgAuditStore } from '../../src/audit/pg-audit-store.js';
import { PgAuditDelivery } from '../../src/audit/pg-delivery.js';
import { PgAuditPruner } from '../../src/audit/pg-prune.js';
import { PG_TRAIL_SQL } from '../../src/audit/pg-audit-trail.js';
import { openPgPool } from '../../src/storage/postgres/pool.js';
import { auditEvent } from './audit-store.contract.js';
import { describePostgres, planOf, postgresServer } from '../helpers/postgres.js';
import { runCoffer, type CliResult } from '../helpers/cli.js';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;

async function fresh(): Promise<{ url: string; store: PgAuditStore; db: pg.Pool; close(): Promise<void> }> {
  const url = await (await postgresServer()).freshDatabase();
  const store = await PgAuditStore.open(openPgPool(url, { max: 4 }), { node: 'solo', region: 'us-east-1', closePool: true });
  const db = new pg.Pool({ connectionString: url, max: 3 });
  return { url, store, db, close: async () => { await store.close(); await db.end(); } };
}

/** The requestIDs of the rows, in seq order. */
async function trailIds(db: pg.Pool): Promise<string[]> {
  const { rows } = await db.query<{ record: string }>('SELECT record FROM audit_events ORDER BY seq');
  return rows.map((r) => (JSON.parse(r.record) as { requestID: string }).requestID);
}

/** The compiled CLI with no COFFER_ variable set (the database is named by --metadata). */
function coffer(...args: string[]): Promise<CliResult> {
  return runCoffer({ PATH: process.env.PATH }, ...args);
}

describePostgres('the cluster trail: delivery horizon, delivery rounds, retention', () => {
  it('the horizon waits for an INSERT in flight whose seq is below a committed one, then covers both', async () => {
    const t = await fresh();
    const open = await t.db.connect();
    try {
      await t.store.record(auditEvent('before'));
      // Another node's INSERT, drawn its seq and not yet committed.
      await open.query('BEGIN');
      await open.query("INSERT INTO audit_events (event_id, node, event_time, event_name, record) VALUES (gen_random_uuid(), 'other', 0, 'Decrypt', '{\"requestID\":\"in-flight\"}')");
      // This node's INSERT commits after it, with a higher seq.
      await t.store.record(auditEvent('after'));
      let horizon: number | undefined;
      const pending = t.store.trail.horizon().then((h) => (horizon = h));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(horizon, undefined, 'no horizon while a lower seq may still commit (reading up to the highest seq would skip it for good)');
      // The wait locks nothing: this node's inserts go on meanwhile.
      const t0 = performance.now();
      await t.store.record(auditEvent('meanwhile'));
      assert.ok(performance.now() - t0 < 2000, 'an insert while the horizon waits is not held up');
      assert.equal(horizon, undefined);
      await open.query('COMMIT');
      await pending;
      const rows = await t.store.trail.rows(0, horizon!, 100, 1 << 20);
      // 'meanwhile' was drawn after the horizon's sequence read: the next round's.
      assert.deepEqual(rows.map((r) => (JSON.parse(r.record) as { requestID: string }).requestID), ['before', 'in-flight', 'after']);
      assert.equal((await t.store.trail.rows(horizon!, await t.store.trail.horizon(), 100, 1 << 20)).length, 1);
    } finally {
      open.release();
      await t.close();
    }
  });

  it('delivery: objects keyed by their first seq, confirmed after the PUT; a failed PUT leaves the range pending and the next round writes the same object', async () => {
    const t = await fresh();
    try {
      for (let i = 0; i < 5; i++) await t.store.record(auditEvent(`d${i}`));
      const puts: { key: string; body: Buffer }[] = [];
      let fail = true;
      let now = Date.parse('2026-12-06T10:20:30Z');
      const delivery = new PgAuditDelivery({
        trail: t.store.trail, bucket: 'trail', prefix: 'p', accountId: '123456789012', region: 'us-east-1', intervalSeconds: 3600, log, now: () => now,
        put: async (_bucket, key, body) => {
          puts.push({ key, body });
          if (fail) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
        },
      });
      assert.equal(await delivery.deliver(), 0, 'the PUT failed: nothing confirmed');
      const { rows: [pos] } = await t.db.query('SELECT delivered_seq::int AS d, pending_to::int AS p FROM audit_delivery');
      assert.deepEqual(pos, { d: 0, p: 5 });
      // Meanwhile more events, and a later clock: the retry still writes exactly the pending range, under its first key.
      for (let i = 5; i < 25; i++) await t.store.record(auditEvent(`d${i}`)); // seqs past 9 and 19: ordered as numbers, not text
      now += 3600_000;
      fail = false;
      assert.equal(await delivery.deliver(), 25);
      assert.equal(puts.length, 3);
      assert.equal(puts[0]!.key, 'p/AWSLogs/123456789012/CloudTrail/us-east-1/2026/12/06/123456789012_CloudTrail_us-east-1_20261206T1020Z_0000000000000001.json.gz');
      assert.equal(puts[1]!.key, puts[0]!.key, 'the retry overwrites the same object');
      assert.ok(puts[1]!.body.equals(puts[0]!.body), 'with the same body');
      assert.match(puts[2]!.key, /_20261206T1120Z_0000000000000006\.json\.gz$/);
      const records = (b: Buffer) => (JSON.parse(gunzipSync(b).toString('utf8')) as { Records: { requestID: string }[] }).Records.map((r) => r.requestID);
      assert.deepEqual([...records(puts[1]!.body), ...records(puts[2]!.body)], Array.from({ length: 25 }, (_, i) => `d${i}`));
      const { rows: [after] } = await t.db.query('SELECT delivered_seq::int AS d, pending_to AS p FROM audit_delivery');
      assert.deepEqual(after, { d: 25, p: null });
      assert.equal(await delivery.deliver(), 0, 'nothing new: no object');
      assert.equal(puts.length, 3);
    } finally {
      await t.close();
    }
  });

  it('pruning deletes the oldest rows past the retention, keeps newer and undelivered ones; the CLI pages through the rest', async () => {
    const t = await fresh();
    try {
      for (let i = 0; i < 30; i++) await t.store.record(auditEvent(`e${String(i).padStart(2, '0')}`));
      const now = Date.now();
      // e00–e19 are 40 days old, e20–e29 recent.
      await t.db.query('UPDATE audit_events SET event_time = $1 WHERE seq <= 20', [now - 40 * DAY]);
      const all = await trailIds(t.db);

      // Delivery on, nothing delivered yet: nothing goes.
      const pruner = (dest?: string) => new PgAuditPruner({ trail: t.store.trail, retentionDays: 30, deliveryDestination: dest, log, now: () => now });
      assert.equal(await pruner('trail').prune(), 0);
      // Delivered up to e09: e00–e09 go; e10–e19, old but not delivered, stay.
      await t.db.query("INSERT INTO audit_delivery (destination, delivered_seq) VALUES ('trail', 10)");
      assert.equal(await pruner('trail').prune(), 10);
      assert.deepEqual(await trailIds(t.db), all.slice(10));
      // Delivery off: every row past the retention goes, the recent ones stay.
      assert.equal(await pruner().prune(), 10);
      assert.deepEqual(await trailIds(t.db), all.slice(20));
      // A row stamped old after a recent one (a node's clock behind) waits: only the oldest stretch goes.
      await t.db.query('UPDATE audit_events SET event_time = $1 WHERE seq IN (21, 23)', [now - 40 * DAY]);
      assert.equal(await pruner().prune(), 1);
      assert.deepEqual(await trailIds(t.db), all.slice(21));

      // The CLI pages newest first through what is left, 4 at a time, each event once.
      const seen: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 10; page++) {
        const r = await coffer('audit', 'query', '--metadata', t.url, '--json', '--limit', '4', ...(token ? ['--next-token', token] : []));
        assert.equal(r.code, 0, r.stderr);
        const ids = r.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { requestID: string }).requestID);
        seen.unshift(...ids);
        token = /--next-token (\S+)/.exec(r.stderr)?.[1];
        if (!token) break;
      }
      assert.deepEqual(seen, all.slice(21));
    } finally {
      await t.close();
    }
  });

  it('delivery and pruning read audit_events by its primary key, in its order, never the whole table', async () => {
    const t = await fresh();
    try {
      for (const [stmt, values] of [['rows', [5, 100, 1000]], ['pruneBatch', [Date.now(), 100, 1000]]] as const) {
        const plan = await planOf(t.db, PG_TRAIL_SQL[stmt], [...values]);
        assert.match(plan, /Index (Only )?Scan using audit_events_pkey /, `${stmt}:\n${plan}`);
        assert.doesNotMatch(plan, /Sort|Seq Scan/, `${stmt}:\n${plan}`);
      }
    } finally {
      await t.close();
    }
  });

  it('a page token taken before pruning still pages: the deleted rows are simply not there', async () => {
    const t = await fresh();
    try {
      for (let i = 0; i < 10; i++) await t.store.record(auditEvent(`q${i}`));
      const first = await t.store.query({ limit: 3 });
      assert.deepEqual(first.events.map((e) => e.requestID), ['q9', 'q8', 'q7']);
      await t.db.query('UPDATE audit_events SET event_time = 0 WHERE seq <= 5');
      assert.equal(await new PgAuditPruner({ trail: t.store.trail, retentionDays: 1, log }).prune(), 5);
      const second = await t.store.query({ limit: 3, nextToken: first.nextToken });
      assert.deepEqual(second.events.map((e) => e.requestID), ['q6', 'q5']);
      assert.equal(second.nextToken, undefined);
    } finally {
      await t.close();
    }
  });
});
