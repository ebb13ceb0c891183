// The delivery position's two stores through one contract (delivery-position.contract.ts),
// and what each keeps on disk or in the database — the formats of before the interface:
// delivery.json as docs/spec/audit-log.md gives it (an interrupted write leaves the previous
// one; a damaged one is refused, not taken for "none"), and the columns of audit_delivery.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { DELIVERY_STATE, FileDeliveryPosition, type FileDeliveryState } from '../../src/audit/file-delivery-position.js';
import { PG_AUDIT_MIGRATIONS } from '../../src/audit/pg-audit-store.js';
import { PgDeliveryPosition, type DeliveryPosition } from '../../src/audit/pg-delivery-position.js';
import { migrate } from '../../src/storage/postgres/migrate.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { runDeliveryPositionContract } from './delivery-position.contract.js';

const FILE_POSITIONS: readonly [FileDeliveryState, FileDeliveryState, FileDeliveryState] = [
  { v: 2, ino: '1234', start: 0, offset: 310, eventID: '5f0c2c1e-0000-4000-8000-000000000001' },
  { v: 2, ino: '1234', start: 310, offset: 622, eventID: '5f0c2c1e-0000-4000-8000-000000000002' },
  { v: 2, ino: '1299', start: 0, offset: 305, eventID: '5f0c2c1e-0000-4000-8000-000000000003' },
];

runDeliveryPositionContract('file (delivery.json)', {
  positions: FILE_POSITIONS,
  async make() {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-delivery-position-'));
    return { store: new FileDeliveryPosition(dir), reopen: async () => new FileDeliveryPosition(dir), close: () => rm(dir, { recursive: true, force: true }) };
  },
});

describePostgres('the PostgreSQL delivery position', () => {
  runDeliveryPositionContract<DeliveryPosition>('PostgreSQL (audit_delivery)', {
    positions: [{ delivered: 0 }, { delivered: 0, pending: { to: 17, stamp: 1_765_000_000_000 } }, { delivered: 17 }],
    async make() {
      const pool = new pg.Pool({ connectionString: await (await postgresServer()).freshDatabase() });
      await migrate(pool, 'audit', PG_AUDIT_MIGRATIONS, 'audit database');
      const others: pg.Pool[] = [];
      return {
        store: new PgDeliveryPosition(pool, 'trail-bucket/logs'),
        // Another node's store: its own pool on the same database.
        async reopen() {
          const p = new pg.Pool({ connectionString: (pool.options as { connectionString: string }).connectionString });
          others.push(p);
          return new PgDeliveryPosition(p, 'trail-bucket/logs');
        },
        async close() {
          for (const p of [pool, ...others]) await p.end();
        },
      };
    },
  });

  it('keeps the audit_delivery columns as before, one row per destination', async () => {
    const pool = new pg.Pool({ connectionString: await (await postgresServer()).freshDatabase() });
    try {
      await migrate(pool, 'audit', PG_AUDIT_MIGRATIONS, 'audit database');
      const logs = new PgDeliveryPosition(pool, 'trail-bucket/logs');
      const other = new PgDeliveryPosition(pool, 'other-bucket');
      assert.ok(await logs.replace(undefined, { delivered: 0 }));
      assert.ok(await logs.replace({ delivered: 0 }, { delivered: 0, pending: { to: 9, stamp: 1234 } }));
      assert.ok(await other.replace(undefined, { delivered: 3 }));
      const { rows } = await pool.query('SELECT destination, delivered_seq::int AS d, pending_to::int AS t, pending_stamp::int AS s FROM audit_delivery ORDER BY destination');
      assert.deepEqual(rows, [{ destination: 'other-bucket', d: 3, t: null, s: null }, { destination: 'trail-bucket/logs', d: 0, t: 9, s: 1234 }]);
      // A range that does not move forward is refused by the table itself (pending_to > delivered_seq).
      await assert.rejects(logs.replace({ delivered: 0, pending: { to: 9, stamp: 1234 } }, { delivered: 9, pending: { to: 9, stamp: 1 } }), /check constraint/);
      assert.deepEqual(await logs.get(), { delivered: 0, pending: { to: 9, stamp: 1234 } });
    } finally {
      await pool.end();
    }
  });
});

describe('the file delivery position', () => {
  it('writes delivery.json as before; an interrupted write leaves the previous one; a damaged one is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-delivery-position-'));
    try {
      const s = new FileDeliveryPosition(dir);
      assert.ok(await s.replace(undefined, FILE_POSITIONS[0]));
      assert.equal(await readFile(join(dir, DELIVERY_STATE), 'utf8'), '{"v":2,"ino":"1234","start":0,"offset":310,"eventID":"5f0c2c1e-0000-4000-8000-000000000001"}\n');
      // A crash in the middle of the next write leaves a torn temporary file beside it.
      await writeFile(join(dir, `${DELIVERY_STATE}.tmp`), '{"v":2,"ino":"12');
      assert.deepEqual(await new FileDeliveryPosition(dir).get(), FILE_POSITIONS[0]);
      assert.ok(await s.replace(FILE_POSITIONS[0], FILE_POSITIONS[1]));
      // Version 1 is read (and replaced like any other).
      await writeFile(join(dir, DELIVERY_STATE), '{"v":1,"ino":"77","offset":12}\n');
      assert.deepEqual(await s.get(), { v: 1, ino: '77', offset: 12 });
      assert.ok(await s.replace({ v: 1, ino: '77', offset: 12 }, FILE_POSITIONS[2]));
      await writeFile(join(dir, DELIVERY_STATE), '{"v":2,"ino":"1234"');
      await assert.rejects(s.get(), /delivery\.json is not a delivery state of version 1 or 2/);
      await assert.rejects(s.replace(undefined, FILE_POSITIONS[0]), /not a delivery state/, 'a damaged position is not "none"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
