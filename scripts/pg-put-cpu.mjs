// CPU per object-metadata PUT on PostgreSQL, for builds taken in turns: PgMetadataStore.putObject
// of new keys into one bucket, 16 in flight, on one throwaway PostgreSQL with its durability
// defaults (bench/pg-server.ts); per PUT, this process's CPU and the CPU of the PostgreSQL
// backends serving the store's pool (/proc, Linux). CPU per operation, not a rate, so other
// load on the machine moves it little. The builds' stores run in this one process, each on a
// fresh database, in alternating order per round; medians over the rounds.
//
//   npm run build --silent && node scripts/pg-put-cpu.mjs dist <other checkout>/dist
//   env N (PUTs per round, 3000), ROUNDS (3); INLINE=1: each PUT also writes its 4 KiB body
//   through the build's TieredBlobStore over the store (the inline tier, as a server's small
//   PUT: the blob's commit, then the record's); OVERWRITE=1: the measured PUTs replace keys
//   written just before (not counted) instead of writing new ones; SETTINGS: server settings
//   to compare, variants separated by ';' (an empty one: the defaults), each `name=value ...`
//   set on its fresh database (ALTER DATABASE … SET), e.g. SETTINGS=';commit_delay=20 commit_siblings=5':
//   every build runs under each variant in turns; `server` adds the CPU of the whole PostgreSQL
//   (WAL writer and the rest, not only the store's backends)
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
const dists = process.argv.slice(2).map((d) => resolve(d));
if (dists.length === 0) {
  console.error('pg-put-cpu: error: name at least one build\'s dist directory');
  process.exit(2);
}
const { startPostgres } = await import(`${dists[0]}/bench/pg-server.js`);
const pgs = await startPostgres();
const OVERWRITE = process.env.OVERWRITE === '1';
const N = Number(process.env.N ?? 3000), ROUNDS = Number(process.env.ROUNDS ?? 3), INFLIGHT = 16;
const CLK = 100; // USER_HZ
const cpuOf = (pids) => pids.reduce((t, p) => { try { const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' '); return t + (Number(f[11]) + Number(f[12])) / CLK; } catch { return t; } }, 0);
const variants = (process.env.SETTINGS ?? '').split(';').map((v) => v.trim());
for (const v of variants) for (const g of v.split(/\s+/).filter(Boolean)) {
  if (!/^[a-z_]+=[\w.]+$/.test(g) || /^(fsync|synchronous_commit|full_page_writes|wal_sync_method)=/.test(g)) throw new Error(`SETTINGS: "${g}" is not a setting to try`);
}
const runs = dists.flatMap((d) => variants.map((v) => ({ d, v, name: v ? `${d} [${v}]` : d })));
const results = Object.fromEntries(runs.map((x) => [x.name, []]));
let db = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const { d, v, name } of (r % 2 === 0 ? runs : [...runs].reverse())) {
    const { PgMetadataStore } = await import(`${d}/src/storage/postgres/pg-metadata-store.js`);
    const { openPgPool } = await import(`${d}/src/storage/postgres/pool.js`);
        const url = await pgs.freshDatabase();
    if (v) {
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      for (const g of v.split(/\s+/).filter(Boolean)) await admin.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET ${g.replace('=', ' = ')}`);
      await admin.end();
    }
    const pool = openPgPool(url, { max: INFLIGHT });
    const store = await PgMetadataStore.open(pool, { closePool: true, heartbeatMs: 0 });
    await store.createBucket({ name: 'b', region: 'us-east-1', createdAt: 'x', owner: 'o', config: {} });
    // Warm every connection, learn its backend pid.
    const clients = await Promise.all(Array.from({ length: INFLIGHT }, () => pool.connect()));
    const pids = await Promise.all(clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p));
    if (v) console.log(`  (${v}: the store's connections have commit_delay ${(await clients[0].query("SELECT current_setting('commit_delay') AS s")).rows[0].s}, commit_siblings ${(await clients[0].query("SELECT current_setting('commit_siblings') AS s")).rows[0].s})`);
    clients.forEach((c) => c.release());
    const INLINE = process.env.INLINE === '1';
    const tiered = INLINE ? (await import(`${d}/src/storage/tiered-blob-store.js`)).TieredBlobStore.over({ close: async () => {} }, store) : undefined;
    const body = randomBytes(4096);
    const put = async (i) => {
      if (!INLINE) return store.putObject(rec(i));
      const w = await tiered.create();
      await w.write(body);
      await w.commit();
      const r = rec(i);
      r.parts[0].blobId = w.blobId;
      return store.putObject(r);
    };
    const rec = (i) => ({ bucket: 'b', key: `k/${r}/${String(i).padStart(6, '0')}`, size: 4096, etag: `"${randomBytes(16).toString('hex')}"`, lastModified: 'x',
      headers: {}, userMetadata: {}, tags: [], parts: [{ blobId: randomBytes(16).toString('hex'), size: 4096, partNumber: 0, etag: '"e"' }], sys: {}, owner: 'o', storageClass: 'STANDARD', versionId: 'null' });
    for (let i = 0; i < 200; i++) await put(1e6 + i); // warm-up
    if (OVERWRITE) { let k = 0; await Promise.all(Array.from({ length: INFLIGHT }, async () => { while (k < N) await put(k++); })); } // the keys, not counted
    const pg0 = cpuOf(pids), all0 = pgs.cpuSeconds(), me0 = process.cpuUsage(), t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: INFLIGHT }, async () => { while (next < N) await put(next++); }));
    const wall = performance.now() - t0, me = process.cpuUsage(me0), pgc = cpuOf(pids) - pg0, all = pgs.cpuSeconds() - all0;
    results[name].push({ wall, node: (me.user + me.system) / 1000 / N, pg: pgc * 1000 / N, server: all * 1000 / N, rate: N / wall * 1000 });
    console.log(`${name} round ${r}: ${(N / wall * 1000).toFixed(0)} PUT/s, node ${((me.user + me.system) / 1000 / N).toFixed(3)} ms/PUT, backends ${(pgc * 1000 / N).toFixed(3)} ms/PUT, server ${(all * 1000 / N).toFixed(3)} ms/PUT, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    await store.close();
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
for (const { name } of runs) console.log(`${name}: median node ${med(results[name].map((x) => x.node)).toFixed(3)} ms/PUT, backends ${med(results[name].map((x) => x.pg)).toFixed(3)} ms/PUT, server ${med(results[name].map((x) => x.server)).toFixed(3)} ms/PUT, ${med(results[name].map((x) => x.rate)).toFixed(0)} PUT/s`);
await pgs.stop();
process.exit(0);
