// The node's PostgreSQL pool (storage/postgres/pool.ts) when a connection breaks while it is
// checked out — a transaction between two statements when PostgreSQL crashes or restarts.
// Before, the client's 'error' event had no listener then and ended the process (seen in
// test/cluster/postgres-crash.test.ts: the node died when PostgreSQL crashed mid-burst).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import pg from 'pg';
import { openPgPool, readAlone } from '../../../src/storage/postgres/pool.js';
import { isDatabaseUnavailable } from '../../../src/storage/postgres/unavailable.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';

describePostgres('the PostgreSQL pool', () => {
  it('a checked-out connection that the server ends does not end the process; the pool replaces it', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 2 });
    const killer = new pg.Client({ connectionString: url });
    await killer.connect();
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    // The test runner would report an uncaught error as this test's failure anyway; keep it to say what it was.
    process.on('uncaughtException', onUncaught);
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await killer.query('SELECT pg_terminate_backend($1)', [pid]);
      await sleep(300);
      assert.deepEqual(uncaught, [], 'no uncaught error');
      await assert.rejects(client.query('SELECT 1'), (e: unknown) => e instanceof Error, 'the broken connection fails its next query');
      client.release();
      assert.equal((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1, 'the pool serves the next query on a new connection');
    } finally {
      process.off('uncaughtException', onUncaught);
      await killer.end();
      await pool.end();
    }
  });

  it('reads alone share one held connection, pipelined, instead of a checkout each', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 10 });
    try {
      const pids = await Promise.all(Array.from({ length: 16 }, () =>
        readAlone(pool, { text: 'SELECT pg_backend_pid() AS pid, pg_sleep(0.01)' }).then((r) => (r.rows[0] as { pid: number }).pid)));
      assert.equal(new Set(pids).size, 1, '16 reads at once, one backend');
      assert.equal(pool.totalCount, 1, 'one connection opened');
      assert.equal((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1, 'a checkout still gets a connection of its own');
    } finally {
      await pool.end(); // lets the held connection go: does not wait for it forever
    }
  });

  it('a held connection the server ends is replaced: a read fails as unavailable at most once, the next one succeeds', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 4 });
    const killer = new pg.Client({ connectionString: url });
    await killer.connect();
    try {
      const pid = ((await readAlone(pool, { text: 'SELECT pg_backend_pid() AS pid' })).rows[0] as { pid: number }).pid;
      await killer.query('SELECT pg_terminate_backend($1)', [pid]);
      await sleep(300);
      const next = await readAlone(pool, { text: 'SELECT pg_backend_pid() AS pid' }).then(
        (r) => (r.rows[0] as { pid: number }).pid,
        (e: unknown) => { assert.ok(isDatabaseUnavailable(e), `unavailable, not ${String(e)}`); return undefined; });
      const after = ((await readAlone(pool, { text: 'SELECT pg_backend_pid() AS pid' })).rows[0] as { pid: number }).pid;
      assert.notEqual(after, pid, 'a new connection');
      if (next !== undefined) assert.equal(next, after);
    } finally {
      await killer.end();
      await pool.end();
    }
  });

  it('a connection failure is marked database unavailable', async () => {
    const pool = openPgPool('postgres://nobody@127.0.0.1:1/none', { max: 1 });
    try {
      await assert.rejects(pool.query('SELECT 1'), (e: unknown) => isDatabaseUnavailable(e));
    } finally {
      await pool.end();
    }
  });
});
