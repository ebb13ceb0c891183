// The cluster's account row (iam/store/pg-cluster-account.ts) on a real PostgreSQL, and
// loadRootAccount on it (iam/root-credentials.ts): nodes claiming at once all get one
// account, and exactly one created it; a data directory naming another account, or a
// node without root credentials that did not create the account, is refused before
// anything is written.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type pg from 'pg';
import { PG_ACCOUNT_MIGRATIONS, PgClusterAccount } from '../../../src/iam/store/pg-cluster-account.js';
import { loadRootAccount, RootAccountError } from '../../../src/iam/root-credentials.js';
import { openPgPool } from '../../../src/storage/postgres/pool.js';
import { schemaVersion } from '../../../src/storage/postgres/migrate.js';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';

const ENV = { accessKeyId: 'AKIACLUSTERTEST0001', secretAccessKey: 'cluster-test-secret-0123456789' };

async function withPools<T>(n: number, fn: (pools: pg.Pool[]) => Promise<T>): Promise<T> {
  const url = await (await postgresServer()).freshDatabase();
  const pools = Array.from({ length: n }, () => openPgPool(url, { max: 2 }));
  try {
    return await fn(pools);
  } finally {
    for (const p of pools) await p.end();
  }
}

async function withDirs<T>(n: number, fn: (dirs: string[]) => Promise<T>): Promise<T> {
  const dirs = await Promise.all(Array.from({ length: n }, () => mkdtemp(join(tmpdir(), 'coffer-cluster-account-'))));
  try {
    return await fn(dirs);
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

describePostgres('PgClusterAccount', () => {
  it('three nodes claiming different accounts at once all get one of them, and it stays', async () => {
    await withPools(3, async (pools) => {
      const stores = await Promise.all(pools.map((p) => PgClusterAccount.open(p)));
      assert.equal(await schemaVersion(pools[0]!, 'account'), PG_ACCOUNT_MIGRATIONS.length);
      assert.equal(await stores[0]!.get(), undefined);
      const candidates = ['111111111111', '222222222222', '333333333333'];
      const claims = await Promise.all(stores.map((s, i) => s.claim(candidates[i]!)));
      const got = claims[0]!.accountId;
      assert.ok(candidates.includes(got));
      assert.deepEqual(claims.map((c) => c.accountId), [got, got, got]);
      assert.deepEqual(claims.filter((c) => c.created), [{ accountId: got, created: true }], 'exactly one node created it');
      assert.deepEqual(await stores[1]!.claim('444444444444'), { accountId: got, created: false }, 'a later claim adopts the account');
      assert.equal(await stores[2]!.get(), got);
    });
  });

  it('refuses an account id that is not 12 digits', async () => {
    await withPools(1, async ([pool]) => {
      const s = await PgClusterAccount.open(pool!);
      await assert.rejects(s.claim('12345'), /account_account_id_check/);
      assert.equal(await s.get(), undefined);
    });
  });

  it('loadRootAccount: nodes adopt the account and record it without a secret; another account in a data directory is refused, the file untouched', async () => {
    await withPools(1, async ([pool]) => withDirs(3, async ([a, b, c]) => {
      const cluster = await PgClusterAccount.open(pool!);
      const first = await loadRootAccount(a!, ENV, cluster);
      const second = await loadRootAccount(b!, ENV, cluster);
      assert.equal(second.accountId, first.accountId);
      assert.equal(second.credential.principal.arn, `arn:aws:iam::${first.accountId}:root`);
      assert.equal(first.generated, false);
      assert.deepEqual(JSON.parse(await readFile(join(b!, 'root-credentials.json'), 'utf8')), { version: 1, accountId: first.accountId });

      const other = first.accountId === '999999999999' ? '888888888888' : '999999999999';
      const file = JSON.stringify({ version: 1, accountId: other }) + '\n';
      await writeFile(join(c!, 'root-credentials.json'), file);
      await assert.rejects(loadRootAccount(c!, ENV, cluster), (e: unknown) => {
        assert.ok(e instanceof RootAccountError);
        assert.match(e.message, new RegExp(`names account ${other}, but the cluster's database holds account ${first.accountId}`));
        assert.match(e.hint, new RegExp(`adopts account ${first.accountId}`));
        return true;
      });
      assert.equal(await readFile(join(c!, 'root-credentials.json'), 'utf8'), file);
    }));
  });

  it("loadRootAccount: the first node's data directory account becomes the cluster's; its stored root credentials serve when the environment gives none", async () => {
    await withPools(1, async ([pool]) => withDirs(1, async ([a]) => {
      const cluster = await PgClusterAccount.open(pool!);
      await writeFile(join(a!, 'root-credentials.json'), JSON.stringify({ version: 1, accountId: '246813579024', accessKeyId: ENV.accessKeyId, secretAccessKey: ENV.secretAccessKey }));
      const root = await loadRootAccount(a!, {}, cluster);
      assert.equal(root.accountId, '246813579024');
      assert.equal(root.credential.secretAccessKey, ENV.secretAccessKey);
      assert.equal(await cluster.get(), '246813579024');
    }));
  });

  it('loadRootAccount without root credentials: only the node that creates the account generates them; another is refused and writes nothing, and starts with a copy of the file', async () => {
    await withPools(2, async (pools) => withDirs(3, async ([a, b, c]) => {
      const [one, two] = await Promise.all(pools.map((p) => PgClusterAccount.open(p)));
      // Two nodes at once, neither with credentials: one creates the account, the other is refused.
      const starts = await Promise.allSettled([loadRootAccount(a!, {}, one), loadRootAccount(b!, {}, two)]);
      const won = starts.flatMap((r, i) => (r.status === 'fulfilled' ? [{ root: r.value, dir: [a, b][i]! }] : []));
      const lost = starts.flatMap((r, i) => (r.status === 'rejected' ? [{ err: r.reason as unknown, dir: [a, b][i]! }] : []));
      assert.equal(won.length, 1);
      assert.equal(lost.length, 1);
      const { root, dir } = won[0]!;
      assert.equal(root.generated, true);
      assert.equal(await one!.get(), root.accountId);
      assert.deepEqual(JSON.parse(await readFile(join(dir, 'root-credentials.json'), 'utf8')), { version: 1, accountId: root.accountId, accessKeyId: root.credential.accessKeyId, secretAccessKey: root.credential.secretAccessKey });
      const err = lost[0]!.err;
      assert.ok(err instanceof RootAccountError);
      assert.match(err.message, new RegExp(`^no root credentials for this node: the cluster's account ${root.accountId} was created by another node`));
      assert.match(err.hint, /COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY/);
      assert.ok(!err.message.includes(root.credential.secretAccessKey) && !err.hint.includes(root.credential.secretAccessKey));
      assert.deepEqual(await readdir(lost[0]!.dir), [], 'the refused node wrote nothing');

      await writeFile(join(c!, 'root-credentials.json'), await readFile(join(dir, 'root-credentials.json')));
      const copied = await loadRootAccount(c!, {}, two!);
      assert.deepEqual([copied.accountId, copied.credential.secretAccessKey, copied.generated], [root.accountId, root.credential.secretAccessKey, false]);
    }));
  });

  it('loadRootAccount: a data directory recording an account but no credentials, and none in the environment, is refused before anything is written', async () => {
    await withPools(1, async ([pool]) => withDirs(1, async ([a]) => {
      const cluster = await PgClusterAccount.open(pool!);
      await writeFile(join(a!, 'root-credentials.json'), JSON.stringify({ version: 1, accountId: '135792468013' }));
      await assert.rejects(loadRootAccount(a!, {}, cluster), (e: unknown) => e instanceof RootAccountError && /^no root credentials for this node: .* holds none/.test(e.message));
      assert.equal(await cluster.get(), undefined);
    }));
  });
});
