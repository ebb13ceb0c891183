// Review of the held read connection of openPgPool (storage/postgres/pool.ts, LanePool):
// it is a plain autocommit connection (every read takes a new snapshot, none runs inside a
// transaction), a read that fails (an error of its own, or cancelled by the server) fails
// alone and leaves the connection in use for the reads pipelined behind it, and end() lets
// the reads in flight finish instead of failing them.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';
import { openPgPool, readAlone } from '../../../src/storage/postgres/pool.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';

type Row = Record<string, unknown>;
const one = async (pool: pg.Pool, text: string, values: unknown[] = []): Promise<Row> => (await readAlone(pool, { text, values })).rows[0] as Row;

describePostgres('the held read connection (LanePool)', () => {
  it('is autocommit: each read a transaction and a snapshot of its own, seeing what another connection committed just before', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 4 });
    try {
      await pool.query('CREATE TABLE t (n int)');
      const first = await one(pool, 'SELECT pg_backend_pid() AS pid, txid_current() AS x, count(*)::int AS c FROM t');
      for (let i = 1; i <= 3; i++) {
        await pool.query('INSERT INTO t VALUES ($1)', [i]);
        const r = await one(pool, 'SELECT pg_backend_pid() AS pid, txid_current() AS x, count(*)::int AS c, current_setting($1) AS iso FROM t', ['transaction_isolation']);
        assert.equal(r.pid, first.pid, 'the same held connection');
        assert.equal(r.c, i, `read ${i} sees the row committed just before`);
        assert.notEqual(r.x, first.x, 'a transaction of its own');
        assert.equal(r.iso, 'read committed');
      }
    } finally {
      await pool.end();
    }
  });

  it('a read that fails, or that the server cancels, fails alone: the reads pipelined beside it answer, and the connection stays in use', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 4 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const pid = (await one(pool, 'SELECT pg_backend_pid() AS pid')).pid as number;
      const reads = Array.from({ length: 9 }, (_, i) =>
        i === 3 ? readAlone(pool, { text: 'SELECT 1 / $1::int AS v', values: [0] })
        : i === 5 ? readAlone(pool, { text: 'SELECT pg_sleep(5) AS v' })
        : readAlone(pool, { text: 'SELECT $1::int AS v, pg_backend_pid() AS pid', values: [i] }));
      const allSettled = Promise.allSettled(reads);
      // Cancel the sleeping read once it runs.
      for (let t = 0; t < 100; t++) {
        const r = await admin.query("SELECT count(*)::int AS c FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(5)%' AND state = 'active'", [pid]);
        if ((r.rows[0] as { c: number }).c === 1) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      await admin.query('SELECT pg_cancel_backend($1)', [pid]);
      const settled = await allSettled;
      for (const [i, s] of settled.entries()) {
        if (i === 3) assert.equal(s.status === 'rejected' && (s.reason as { code?: string }).code, '22012', 'division by zero fails that read');
        else if (i === 5) assert.equal(s.status === 'rejected' && (s.reason as { code?: string }).code, '57014', 'the cancelled read fails');
        else {
          assert.equal(s.status, 'fulfilled', `read ${i} answered`);
          const row = (s as PromiseFulfilledResult<pg.QueryResult>).value.rows[0] as Row;
          assert.equal(row.v, i);
          assert.equal(row.pid, pid, 'on the held connection');
        }
      }
      assert.equal((await one(pool, 'SELECT pg_backend_pid() AS pid')).pid, pid, 'the held connection is still the one in use');
    } finally {
      await admin.end();
      await pool.end();
    }
  });

  // Found in review: reads waiting for the held connection when end() came (it cleared the
  // connection first) went on to check out a new one, held forever: end() never settled.
  it('end() lets the reads in flight or just sent finish, and settles; a read sent during end() settles too', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 4 });
    // The pool's connections do not keep the process alive (allowExitOnIdle): this does, so a hang is a failure here, not an exit.
    const alive = setInterval(() => {}, 1000);
    try {
      await one(pool, 'SELECT 1 AS v');
      const reads = Array.from({ length: 4 }, (_, i) => readAlone(pool, { text: 'SELECT $1::int AS v, pg_sleep(0.2)', values: [i] }));
      const ended = pool.end();
      const during = readAlone(pool, { text: 'SELECT 1 AS v' });
      const outcome = await Promise.race([
        Promise.allSettled([ended, during, ...reads]).then((s) => s.map((x) => x.status)),
        new Promise<string>((resolve) => setTimeout(() => resolve('end() did not settle within 5 s'), 5000)),
      ]);
      assert.notEqual(outcome, 'end() did not settle within 5 s', String(outcome));
      const [endStatus, , ...readStatus] = outcome as string[];
      assert.equal(endStatus, 'fulfilled', 'end() resolved');
      assert.deepEqual(readStatus, ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], 'the reads sent before end() answered');
      assert.equal(pool.totalCount, 0, 'no connection left open');
    } finally {
      clearInterval(alive);
    }
  });
});
