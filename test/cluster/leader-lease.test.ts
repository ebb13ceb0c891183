// The job leader's lease on a real PostgreSQL: the lease row's rules (one holder; renewals
// only by the holder of that epoch and before expiry; taken over only once expired; released
// at once on a clean stop), and LeaseLeader's promise under a network partition — the old
// leader stops its jobs before the new one starts them. The partition is a TCP proxy in
// front of PostgreSQL that stops forwarding bytes (queries hang, as on a dead link).

import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { PgLeaderLease } from '../../src/cluster/leader-lease.js';
import { LeaseLeader } from '../../src/cluster/lease-leader.js';
import { openPgPool } from '../../src/storage/postgres/pool.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = pino({ level: 'silent' });

/** A TCP proxy to PostgreSQL that can stop forwarding (a partition: connections stay open, nothing arrives). */
async function partitionableProxy(target: URL): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d) => void (cut || upstream.write(d)));
    upstream.on('data', (d) => void (cut || client.write(d)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = new URL(target.href);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.href,
    cut: () => void (cut = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describePostgres('the job leader lease', () => {
  it('one holder; renewed only by its holder of that epoch; taken over once expired; released at once', async () => {
    const pool = openPgPool(await (await postgresServer()).freshDatabase());
    try {
      const lease = await PgLeaderLease.open(pool);
      assert.equal(await lease.current(), undefined);
      // Held for a minute while the statements below run, however slow the machine; then the
      // holder cuts it to 1 ms, and it is over.
      const e1 = await lease.tryAcquire('a', 'node-a', 60_000);
      assert.equal(e1, 1);
      assert.equal(await lease.tryAcquire('b', 'node-b', 300), undefined, 'held: b cannot take it');
      assert.equal(await lease.renew('a', e1, 60_000), true);
      assert.equal(await lease.renew('b', e1, 300), false, 'only the holder renews');
      assert.equal((await lease.current())?.node, 'node-a');
      assert.equal(await lease.renew('a', e1, 1), true);
      await sleep(100);
      assert.equal(await lease.renew('a', e1, 300), false, 'an expired lease is not renewed (another node may be taking it)');
      const e2 = await lease.tryAcquire('b', 'node-b', 60_000);
      assert.equal(e2, 2, 'expired: b takes it, a new epoch');
      assert.equal(await lease.renew('a', e1, 300), false);
      await lease.release('a', e1);
      assert.equal((await lease.current())?.holder, 'b', 'a stale holder cannot release it');
      await lease.release('b', e2!);
      assert.equal(await lease.tryAcquire('a', 'node-a', 300), 3, 'released: taken at once');
    } finally {
      await pool.end();
    }
  });

  it('a stop while the lease is being taken gives it back: the next node takes it at once, not after the lease', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const pool = openPgPool(url, { max: 2 });
    const session = new pg.Client({ connectionString: url });
    await session.connect();
    const lease = await PgLeaderLease.open(pool);
    // A lease far longer than the test: only a release frees it in time.
    const leader = new LeaseLeader({ lease, holder: 'first', node: 'n1', ttlMs: 60_000, log: quiet });
    try {
      // The take waits on the lease table, held by the test, so stop() comes while it is in flight.
      await session.query('BEGIN');
      await session.query('LOCK TABLE cluster_leases IN SHARE ROW EXCLUSIVE MODE');
      leader.start();
      const deadline = Date.now() + 10_000;
      const waits = async () => (await session.query("SELECT 1 FROM pg_locks WHERE relation = 'cluster_leases'::regclass AND NOT granted")).rowCount! > 0;
      while (!(await waits()) && Date.now() < deadline) await sleep(10);
      assert.ok(await waits(), 'the take waits on the lock');
      const stopping = leader.stop();
      await session.query('COMMIT');
      await stopping;
      assert.equal(leader.leading, false);
      const left = await lease.current();
      assert.ok(left === undefined || left.expiresInMs <= 0, `the lease taken under the stop was given back (expires in ${left?.expiresInMs} ms)`);
      assert.ok((await lease.tryAcquire('second', 'n2', 60_000)) !== undefined, 'another node takes it at once');
    } finally {
      await session.end();
      await pool.end();
    }
  });

  it('a leader cut off from PostgreSQL stops its jobs before another node starts them', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const proxy = await partitionableProxy(new URL(url));
    const cutPool = openPgPool(proxy.url, { max: 2 });
    const pool = openPgPool(url, { max: 2 });
    const events: { who: string; what: 'start' | 'stop'; at: number }[] = [];
    const job = (who: string) => ({
      start: () => void events.push({ who, what: 'start', at: performance.now() }),
      stop: () => void events.push({ who, what: 'stop', at: performance.now() }),
    });
    const ttlMs = 2_000;
    const first = new LeaseLeader({ lease: await PgLeaderLease.open(cutPool), holder: 'first', node: 'n1', ttlMs, log: quiet });
    const second = new LeaseLeader({ lease: await PgLeaderLease.open(pool), holder: 'second', node: 'n2', ttlMs, log: quiet });
    first.register('job', job('first'));
    second.register('job', job('second'));
    try {
      first.start();
      await first.tick();
      assert.equal(first.leading, true);
      second.start();
      await sleep(ttlMs);
      assert.equal(second.leading, false, 'the first renews in time: the second waits');
      proxy.cut();
      const t0 = performance.now();
      while (!second.leading && performance.now() - t0 < 10_000) await sleep(20);
      assert.equal(second.leading, true, 'the second leads once the lease ran out');
      assert.equal(first.leading, false, 'and the first no longer thinks it leads');
      const stopFirst = events.find((e) => e.who === 'first' && e.what === 'stop');
      const startSecond = events.find((e) => e.who === 'second' && e.what === 'start');
      assert.ok(stopFirst && startSecond);
      assert.ok(stopFirst.at < startSecond.at, `the first stopped its jobs ${Math.round(startSecond.at - stopFirst.at)} ms before the second started them`);
      assert.ok(startSecond.at - t0 <= ttlMs + ttlMs / 3 + 1_000, `failover took ${Math.round(startSecond.at - t0)} ms`);
    } finally {
      await second.stop();
      await proxy.close();
      await first.stop().catch(() => undefined);
      await cutPool.end().catch(() => undefined);
      await pool.end();
    }
  });
});
