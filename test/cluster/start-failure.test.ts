// A server on PostgreSQL whose start fails late — after it joined the cluster's root-key
// rotation and began listening for its changes (cluster/pg-channel-listener.ts), took the job
// leader's lease and opened its pools — closes everything it opened before the error reaches
// the caller: no connection of its own is left in PostgreSQL (pg_stat_activity), the lease is
// not held, and the data directory's lock is free, so the same start succeeds once the cause
// is gone. The late failure is a real one: the port is taken by another listener.

import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { startCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';

describePostgres('a server start that fails after it joined the cluster', () => {
  it('closes its LISTEN connection, its pools and the lease before failing; the next start succeeds', async () => {
    const databaseUrl = await (await postgresServer()).freshDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-start-failure-'));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const config = loadConfig({ port, address: '127.0.0.1', dataDir, fsync: false }, {
      COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_METADATA: databaseUrl, COFFER_CLUSTER_LEASE_SECONDS: '2',
    });
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const others = async () => (await db.query<{ application_name: string }>(
      'SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY 1',
    )).rows.map((r) => r.application_name);
    try {
      await assert.rejects(startCoffer(config, pino({ level: 'silent' })), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      // The server closed its connections before rejecting; PostgreSQL drops a closed one from
      // pg_stat_activity a moment later. A leaked one (the listener opens itself again) never goes.
      const deadline = Date.now() + 5_000;
      let left = await others();
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        left = await others();
      }
      assert.deepEqual(left, [], 'no connection of the failed server is left (coffer-listen: the rotation listener; coffer: its pools)');
      const lease = await db.query("SELECT 1 FROM cluster_leases WHERE name = 'jobs' AND expires_at > (extract(epoch from clock_timestamp()) * 1000)");
      assert.equal(lease.rowCount, 0, 'the job leader\'s lease was given up');

      // Once the port is free, the same start succeeds (the lock, the database and the data directory are usable).
      await new Promise<void>((resolve) => taken.close(() => resolve()));
      const coffer = await startCoffer(config, pino({ level: 'silent' }));
      assert.equal(coffer.port, port);
      await coffer.close();
    } finally {
      taken.close();
      await db.end();
    }
  });
});
