// Runs the AuditStore contract against PgAuditStore on a real PostgreSQL
// (test/helpers/postgres.ts), two stores on one database included (two nodes), and pins
// what only the database store has: pages that a row committed late by another node's
// transaction (with a lower seq) does not shift, a batch retried after its commit stored
// once, and fail-closed with recovery when the table cannot be written.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { PgAuditStore } from '../../src/audit/pg-audit-store.js';
import type { AuditStore } from '../../src/audit/audit-store.js';
import { AuditUnavailableError } from '../../src/audit/sink.js';
import { openPgPool } from '../../src/storage/postgres/pool.js';
import { auditEvent, runAuditStoreContract } from './audit-store.contract.js';
import { describePostgres, pgStores, postgresServer } from '../helpers/postgres.js';

let nodes = 0;
const stores = pgStores<AuditStore>((pool) => PgAuditStore.open(pool, { node: `n${++nodes}`, region: 'us-east-1', closePool: true }));

const ids = (page: { events: { requestID: string }[] }) => page.events.map((e) => e.requestID);

async function fresh(): Promise<{ url: string; store: PgAuditStore; db: pg.Pool }> {
  const url = await (await postgresServer()).freshDatabase();
  const store = await PgAuditStore.open(openPgPool(url, { max: 4 }), { node: 'solo', region: 'us-east-1', closePool: true });
  return { url, store, db: new pg.Pool({ connectionString: url, max: 2 }) };
}

describePostgres('PgAuditStore', () => {
  runAuditStoreContract('PgAuditStore', stores.make, { reopen: stores.reopen, twin: stores.twin });

  it('rows name their node and keep the CloudTrail record byte for byte; seq orders them', async () => {
    const { store, db } = await fresh();
    try {
      await store.record(auditEvent('x1'));
      await store.record(auditEvent('x2', { errorCode: 'AccessDeniedException', errorMessage: 'no' }));
      const { rows } = await db.query<{ node: string; event_name: string; error_code: string | null; record: string }>('SELECT node, event_name, error_code, record FROM audit_events ORDER BY seq');
      assert.deepEqual(rows.map((r) => [r.node, r.event_name, r.error_code]), [['solo', 'Decrypt', null], ['solo', 'Decrypt', 'AccessDeniedException']]);
      const [page] = [(await store.query({ limit: 2 })).events];
      assert.equal(rows[1]!.record, JSON.stringify(page![0]));
    } finally {
      await store.close();
      await db.end();
    }
  });

  it('group commit: events recorded together share one INSERT (one transaction), and each resolves only once it is committed', async () => {
    const { store, db } = await fresh();
    try {
      const settled: string[] = [];
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.record(auditEvent(`g${i}`)).then(() => settled.push(`g${i}`))));
      const { rows } = await db.query<{ batches: number; n: number }>('SELECT count(DISTINCT xid::text)::int AS batches, count(*)::int AS n FROM audit_events');
      assert.equal(rows[0]!.n, 100);
      // The first record starts an INSERT at once; the 99 recorded while it runs go out in the next.
      assert.ok(rows[0]!.batches <= 3, `100 concurrent records took ${rows[0]!.batches} INSERTs`);
      assert.equal(settled.length, 100);
      assert.deepEqual(ids(await store.query({ limit: 3 })), ['g99', 'g98', 'g97'], 'a batch keeps the order the events were recorded in');
    } finally {
      await store.close();
      await db.end();
    }
  });

  it('a row committed after the first page by a transaction that took its seq earlier is not on the later pages', async () => {
    const { store, db } = await fresh();
    const slow = await db.connect();
    try {
      await store.record(auditEvent('old1'));
      await store.record(auditEvent('old2'));
      // Another node's INSERT in flight: its seq is taken now, its commit comes later.
      await slow.query('BEGIN');
      await slow.query("INSERT INTO audit_events (event_id, node, event_time, event_name, record) VALUES (gen_random_uuid(), 'other', 0, 'Decrypt', $1)", [JSON.stringify({ ...JSON.parse('{}'), requestID: 'in-flight', eventName: 'Decrypt', eventTime: '2026-01-01T00:00:00Z', userIdentity: { accountId: '1' }, resources: [] })]);
      await store.record(auditEvent('new1'));
      await store.record(auditEvent('new2'));
      const first = await store.query({ limit: 2 });
      assert.deepEqual(ids(first), ['new2', 'new1']);
      await slow.query('COMMIT');
      const second = await store.query({ limit: 2, nextToken: first.nextToken });
      assert.deepEqual(ids(second), ['old2', 'old1'], 'the late row (seq between old2 and new1) stays off the pages of a query begun before it committed');
      assert.deepEqual(ids(await store.query({ limit: 10 })), ['new2', 'new1', 'in-flight', 'old2', 'old1'], 'a new query sees it, in seq order');
    } finally {
      slow.release();
      await store.close();
      await db.end();
    }
  });

  it('a token of the file log, a forged snapshot or other filters is a ValidationException', async () => {
    const { store, db } = await fresh();
    try {
      for (let i = 0; i < 3; i++) await store.record(auditEvent(`t${i}`));
      const first = await store.query({ limit: 1 });
      const fileToken = Buffer.from(JSON.stringify({ v: 1, i: '12', o: 0, e: 'x', q: 'abc' })).toString('base64url');
      const token = JSON.parse(Buffer.from(first.nextToken!, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...token, x: "1:2:'); DROP TABLE audit_events; --" })).toString('base64url');
      for (const t of [fileToken, forged]) await assert.rejects(store.query({ limit: 1, nextToken: t }), /ValidationException|Invalid nextToken/);
      await assert.rejects(store.query({ limit: 1, eventName: 'Encrypt', nextToken: first.nextToken }), /other filters/);
      assert.equal((await db.query('SELECT count(*)::int AS n FROM audit_events')).rows[0].n, 3);
    } finally {
      await store.close();
      await db.end();
    }
  });

  it('fails closed while the table cannot be written, then writes the held events once and accepts requests again', async () => {
    const { store, db } = await fresh();
    try {
      await store.record(auditEvent('before'));
      await db.query('ALTER TABLE audit_events RENAME TO audit_events_away');
      await assert.rejects(store.record(auditEvent('during')), AuditUnavailableError);
      assert.throws(() => store.checkWritable(), AuditUnavailableError);
      await assert.rejects(store.record(auditEvent('held')), AuditUnavailableError);
      await db.query('ALTER TABLE audit_events_away RENAME TO audit_events');
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          store.checkWritable();
          break;
        } catch {
          if (Date.now() > deadline) throw new Error('the store did not recover');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await store.record(auditEvent('after'));
      assert.deepEqual(ids(await store.query({ limit: 10 })), ['after', 'held', 'during', 'before']);
    } finally {
      await store.close();
      await db.end();
    }
  });
});
