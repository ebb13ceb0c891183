// The PostgreSQL test harness (test/helpers/postgres.ts) itself: without PostgreSQL a
// test file skips on a developer machine and fails in CI; with it, each test gets a
// database of its own and the server is gone once the file's tests end.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';

const MIGRATE_TESTS = fileURLToPath(new URL('./migrate.test.js', import.meta.url));

/** This process's environment for a nested test run (without the marker that makes it report to us). */
function childEnv(over: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env, ...over };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

function runWithout(ci: boolean) {
  const env = childEnv({ COFFER_PG_BIN: '/nonexistent/postgresql/bin' });
  delete env.CI;
  if (ci) env.CI = 'true';
  return spawnSync(process.execPath, ['--test', '--test-reporter=spec', MIGRATE_TESTS], { env, encoding: 'utf8' });
}

it('without PostgreSQL a test file skips with the reason, or fails when CI is set', () => {
  const local = runWithout(false);
  assert.equal(local.status, 0, local.stdout + local.stderr);
  assert.match(local.stdout, /skipped 1/);
  assert.match(local.stdout, /PostgreSQL is not available: \/nonexistent\/postgresql\/bin\/initdb not found/);
  const ci = runWithout(true);
  assert.notEqual(ci.status, 0, ci.stdout);
  assert.match(ci.stdout, /PostgreSQL is required in CI/);
});

describePostgres('the harness', () => {
  it('gives each caller a database of its own on one server', async () => {
    const server = await postgresServer();
    const [a, b] = [await server.freshDatabase(), await server.freshDatabase()];
    assert.notEqual(a, b);
    assert.ok(a.startsWith(`postgres://coffer@127.0.0.1:${server.port}/`));
    const pa = new pg.Pool({ connectionString: a });
    const pb = new pg.Pool({ connectionString: b });
    try {
      await pa.query('CREATE TABLE only_in_a (x INTEGER)');
      assert.equal((await pb.query("SELECT to_regclass('only_in_a') AS t")).rows[0].t, null);
      assert.equal((await pa.query('SHOW fsync')).rows[0].fsync, 'off');
    } finally {
      await Promise.all([pa.end(), pb.end()]);
    }
  });

  it('a test file leaves no server and no folder behind', () => {
    const base = mkdtempSync(join('/tmp', 'coffer-pg-harness-'));
    chmodSync(base, 0o755);
    try {
      const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', MIGRATE_TESTS], { env: childEnv({ COFFER_PG_TMP: base }), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /# pass [1-9]/, 'the file ran its tests on a server of its own');
      assert.match(r.stdout, /# fail 0/);
      assert.deepEqual(readdirSync(base), [], 'the server folder is removed');
      const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
      assert.deepEqual(ps.split('\n').filter((l) => l.includes(base)), [], 'no process of that server is left');
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
