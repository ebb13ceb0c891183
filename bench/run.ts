// `npm run bench`: starts the real server as a child process for each variant
// (fsync on, --no-fsync), drives it with a raw SigV4 client and the AWS SDK, and
// prints one markdown table with the variants side by side and their ratio.
//
//   npm run bench                      full run (1 GiB streams, 5 GiB memory, 20,000 small ops)
//   npm run bench -- --quick           256 MiB streams, 1 GiB memory, 5,000 small ops
//   npm run bench -- --variant no-fsync
//   npm run bench -- --only s3|kms|sse|authz   only the S3 scenarios, the KMS ones, the SSE section
//                                      (bench/sse.ts: off / SSE-S3 / SSE-KMS side by side), or the
//                                      policy-evaluation micro-benchmark (bench/authz.ts) with the
//                                      small-object rates as a user with policies vs the root (bench/authz-server.ts)
//   npm run bench -- --only metering   small SSE-KMS PUT rate with metering + audit + /metrics on vs all off (bench/metering.ts)
//   npm run bench -- --only blobs      1 MiB and 64 MiB blob PUT/GET MiB/s: the data directory's files vs the
//                                      S3 blob tier on a local Coffer backend (bench/blobs.ts)
//   npm run bench -- --only custody    KMS GenerateDataKey+Decrypt and small SSE-KMS PUTs with root.key, a PKCS#11 token (SoftHSM2)
//                                      and an external KMS (a second Coffer): root-key unwraps during the run (none: material is cached) (bench/custody.ts)
//   npm run bench -- --only versions   GET and PUT on a key with 1 and with 10,000 versions (BENCH_VERSIONS), and
//                                      ListObjectVersions pages per second (bench/versions.ts)
//   npm run bench -- --only cluster    4 KiB PUT/GET and large-object PUT/GET for one node on SQLite and 1, 2 and 3
//                                      nodes on one PostgreSQL + shared blob directory, with ratios (bench/cluster.ts;
//                                      SQLite and one PostgreSQL node in turns, BENCH_CLUSTER_ROUNDS rounds, default 2;
//                                      their large objects interleaved stream by stream, BENCH_CLUSTER_LARGE_ROUNDS (5),
//                                      with a PostgreSQL node of BENCH_CLUSTER_BASELINE=<checkout>/dist/src/cli/main.js
//                                      and SQLite on a shared blob directory (BENCH_CLUSTER_SHARED_SQLITE=1) if asked)
//   npm run bench -- --only builds --baseline <other checkout>/dist/src/cli/main.js
//                                      this build against another, side by side in one run: small
//                                      SSE-S3 and SSE-KMS PUT/GET, KMS pairs, SSE-KMS and SSE-S3 streams, 1 MiB PUTs (bench/builds.ts)
//                                      BENCH_CLUSTER_NODES: the node counts besides 1 (default "2,3"; "" for none)
//   npm run bench -- --only soak       BENCH_SOAK_MINUTES (30) of mixed load on one server: errors by code and
//                                      the server's RSS over time (bench/soak.ts)
//   npm run bench -- --profile put     server under `node --cpu-prof` for one workload (put, get, small, kms,
//                                      mid = 1 MiB PUTs ×8, BENCH_PROFILE_MID_OPS (400)):
//                                      its top self-time functions and their callers
//   npm run bench -- --profile put --sse kms   ... with the bucket default SSE-KMS (or s3, or off:
//                                      a server with COFFER_ENCRYPTION_AT_REST=off)
//   npm run bench -- --peer minio      Coffer beside MinIO (built from source through the Go module proxy once,
//                                      pinned, cached in ~/.cache/coffer-bench or BENCH_PEER_CACHE; needs `go`):
//                                      1 GiB stream, 1 MiB ×8 and 4 KiB ×16 PUT/GET, unencrypted / SSE-S3 / SSE-KMS,
//                                      and KMS GenerateDataKey+Decrypt vs local-kms, the same client for both,
//                                      interleaved rounds (BENCH_PEER_ROUNDS, 3), the ratio Coffer ÷ MinIO per row
//                                      (bench/peer-minio.ts); not part of a plain `npm run bench` nor of CI
//   npm run bench -- --server <other checkout>/dist/src/cli/main.js   benchmark another build
//   node dist/bench/kms-ab.js <A>/dist/src/cli/main.js <B>/dist/src/cli/main.js [rounds] [pairs]
//                                      KMS pairs against two builds, interleaved, with the server's main-thread
//                                      CPU per request beside its total (bench/kms-ab.ts)
//   node dist/bench/small-get-ab.js <s3|kms> <A>/dist/src/cli/main.js <B>/dist/src/cli/main.js [rounds] [objects]
//                                      4 KiB encrypted PUTs, their first GETs and the same GETs again against
//                                      two builds, interleaved, server CPU per phase (bench/small-get-ab.ts)
//   env BENCH_BIG_GIB, BENCH_STREAM_MIB, BENCH_SMALL_OPS override the sizes; BENCH_SSE_ROUNDS the SSE turns (3).
//
// It is a report, not a test: it exits 0 when a target is missed, and marks it.

import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { GiB, MiB } from './body.js';
import { topSelfTime } from './cpu-profile.js';
import { benchAuthz } from './authz.js';
import { ROOT_VARIANT, USER_VARIANT, benchAuthzServer } from './authz-server.js';
import { RawKmsClient, benchKms, pairOp } from './kms.js';
import { benchBlobs, DATA_DIR_VARIANT, S3_VARIANT } from './blobs.js';
import { readStatus } from './memory.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { runOps } from './measure.js';
import { loadLine, machineLine, table, fmtSize, type Row } from './report.js';
import { benchSse, prepareBucket, sseEnv, type SseMode } from './sse.js';
import { benchMetering } from './metering.js';
import { BASELINE, THIS_BUILD, benchBuilds } from './builds.js';
import { benchSoak } from './soak.js';
import { benchCustody } from './custody.js';
import { FEW, MANY, benchVersions } from './versions.js';
import { CLUSTER_NOTE, benchCluster } from './cluster.js';
import { peakMemory, parallelStreams, sdkDefaultPut, singleStream, smallObjects, type Ctx, type Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer, type ServerOptions, type ServerProcess } from './server-process.js';
import { checkAgainstSmithy } from './sigv4.js';
import { benchPeerMinio } from './peer-minio.js';

const VARIANTS = [
  { name: 'fsync', fsync: true },
  { name: 'no-fsync', fsync: false },
] as const;

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const BUCKET = 'bench';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench: error: ${name} must be a positive number, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

function sizes(quick: boolean): Sizes {
  return {
    stream: Math.round(envNumber('BENCH_STREAM_MIB', quick ? 256 : 1024) * MiB),
    big: Math.round(envNumber('BENCH_BIG_GIB', quick ? 1 : 5) * GiB),
    smallOps: Math.round(envNumber('BENCH_SMALL_OPS', quick ? 5_000 : 20_000)),
    smallSize: 4 * 1024,
    smallConcurrency: 16,
    parallelStreams: 4,
  };
}

const running = new Set<ServerProcess>();
let serverMain: string | undefined;
process.once('SIGINT', () => {
  process.stderr.write('bench: interrupted, stopping the server(s)\n');
  Promise.allSettled([...running].map((s) => s.stop())).finally(() => process.exit(130));
});

/** Starts a server child (this build's or --server's), tracked so SIGINT stops it. */
async function start(opts: ServerOptions): Promise<ServerProcess> {
  const server = await startServer({ main: serverMain, ...opts });
  running.add(server);
  return {
    ...server,
    async stop() {
      await server.stop();
      running.delete(server);
    },
  };
}

async function withServer<T>(fsync: boolean, nodeFlags: string[], body: (server: ServerProcess, client: RawS3Client) => Promise<T>, sse?: SseMode): Promise<T> {
  const server = await start({ fsync, nodeFlags, env: sse === undefined ? undefined : sseEnv(sse) });
  const client = new RawS3Client(server.url, CREDS);
  try {
    if (sse === undefined) await client.createBucket(BUCKET);
    else await prepareBucket(client, server.url, BUCKET, sse);
    return await body(server, client);
  } finally {
    client.close();
    await server.stop();
  }
}

async function runVariant(variant: (typeof VARIANTS)[number], sz: Sizes): Promise<Row[]> {
  process.stderr.write(`bench: variant ${variant.name}\n`);
  return withServer(variant.fsync, [], async (server, client) => {
    const ctx: Ctx = { url: server.url, pid: server.pid, variant: variant.name, sizes: sz, client, bucket: BUCKET };
    const idleRss = readStatus(server.pid).rss;
    const rows: Row[] = [];
    const steps: [string, () => Promise<Row[]>][] = [
      ['single stream', () => singleStream(ctx)],
      ['parallel streams', () => parallelStreams(ctx)],
      ['SDK default PUT', () => sdkDefaultPut(ctx)],
      ['small objects', () => smallObjects(ctx)],
      ['peak memory', () => peakMemory(ctx, idleRss)],
    ];
    for (const [name, step] of steps) {
      process.stderr.write(`bench:   ${name}\n`);
      const got = await step();
      for (const r of got) process.stderr.write(`bench:     ${r.scenario}: ${r.result}\n`);
      rows.push(...got);
    }
    return rows;
  });
}

type ProfileKind = 'put' | 'get' | 'small' | 'kms' | 'mid';
const PROFILE_KINDS: ProfileKind[] = ['put', 'get', 'small', 'kms', 'mid'];

/** Drives one workload against a server started under `node --cpu-prof`; returns what it did. */
async function profiledWorkload(kind: ProfileKind, client: RawS3Client, sz: Sizes, url: URL): Promise<string> {
  const timed = async (what: string, run: () => Promise<unknown>) => {
    const t = performance.now();
    await run();
    process.stderr.write(`bench: ${what} in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  };
  if (kind === 'kms') {
    const kms = new RawKmsClient(url, 32);
    try {
      const keyId = ((await kms.call('CreateKey', { Description: 'bench: profile' })).KeyMetadata as { Arn: string }).Arn;
      const n = sz.smallOps;
      await timed(`${n} GenerateDataKey+Decrypt pairs`, () => runOps(n, 32, pairOp(kms.call, keyId)));
      return `${n} GenerateDataKey+Decrypt pairs over HTTP, 32 in flight`;
    } finally {
      kms.close();
    }
  }
  if (kind === 'small') {
    const body = randomBytes(sz.smallSize);
    const hash = payloadHash(body);
    const n = sz.smallOps;
    await timed(`${n} small PUTs`, () => runOps(n, sz.smallConcurrency, (i) => client.putSmall(BUCKET, `small/${i}`, body, hash)));
    await timed(`${n} small GETs`, () => runOps(n, sz.smallConcurrency, (i) => client.get(BUCKET, `small/${i}`, sz.smallSize).then(() => undefined)));
    return `${n} PUTs then ${n} GETs of ${fmtSize(sz.smallSize)}, ${sz.smallConcurrency} in flight`;
  }
  if (kind === 'mid') {
    const n = Math.max(64, Math.round(Number(process.env.BENCH_PROFILE_MID_OPS) || 400));
    await timed(`${n} PUTs of 1 MiB`, () => runOps(n, 8, (i) => client.putStream(BUCKET, `mid/${i}`, MiB)));
    return `${n} PUTs of 1 MiB, 8 in flight`;
  }
  await timed(`PUT ${fmtSize(sz.stream)}`, () => client.putStream(BUCKET, 'prof', sz.stream));
  if (kind === 'put') return `PUT of ${fmtSize(sz.stream)}`;
  await timed(`GET ${fmtSize(sz.stream)}`, () => client.get(BUCKET, 'prof', sz.stream));
  return `PUT then GET of ${fmtSize(sz.stream)}`;
}

function threadOf(file: string): number {
  return Number(file.split('.').at(-3) ?? 0);
}

async function profile(kind: ProfileKind, variant: (typeof VARIANTS)[number], sz: Sizes, keep?: string, sse?: SseMode): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-prof-'));
  try {
    const did = await withServer(variant.fsync, ['--cpu-prof', '--cpu-prof-dir', dir], (server, client) => profiledWorkload(kind, client, sz, server.url), sse);
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread, the others workers.
    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort((a, b) => threadOf(a) - threadOf(b));
    if (files.length === 0) throw new Error('the server wrote no .cpuprofile (did it exit cleanly on SIGTERM?)');
    console.log(machineLine());
    const sseNote = sse === undefined ? '' : `, bucket ${sse === 'kms' ? 'default SSE-KMS' : sse === 's3' ? 'SSE-S3' : 'unencrypted (COFFER_ENCRYPTION_AT_REST=off)'}`;
    for (const [i, name] of files.entries()) {
      const file = join(dir, name);
      if (keep) await copyFile(file, i === 0 ? keep : `${keep}.thread${threadOf(name)}`);
      const { totalMs, top } = await topSelfTime(file, i === 0 ? 15 : 6);
      const thread = threadOf(name) === 0 ? 'main thread' : `worker thread ${threadOf(name)}`;
      console.log(`\nServer CPU profile, ${thread} (${variant.name}${sseNote}), ${did}; ${(totalMs / 1000).toFixed(1)} s sampled over the thread's life\n`);
      console.log('| self time | share | function | location | mostly called from |\n|---|---|---|---|---|');
      for (const t of top) console.log(`| ${t.ms.toFixed(0)} ms | ${(t.share * 100).toFixed(1)}% | ${t.name} | ${t.where} | ${t.caller} |`);
    }
    if (keep) console.log(`\nprofiles saved to ${keep} (main thread) and ${keep}.thread<N> (workers)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      variant: { type: 'string' },
      profile: { type: 'string' },
      'profile-out': { type: 'string' },
      server: { type: 'string' },
      only: { type: 'string' },
      sse: { type: 'string' },
      baseline: { type: 'string' },
      peer: { type: 'string' },
    },
  });
  serverMain = values.server === undefined ? undefined : resolve(values.server);
  const sz = sizes(values.quick ?? false);
  const variants = VARIANTS.filter((v) => values.variant === undefined || v.name === values.variant);
  if (variants.length === 0) {
    process.stderr.write(`bench: error: unknown variant ${JSON.stringify(values.variant)}\nbench: hint: use one of ${VARIANTS.map((v) => v.name).join(', ')}\n`);
    process.exit(2);
  }
  if (values.only !== undefined && !['s3', 'kms', 'sse', 'authz', 'metering', 'builds', 'soak', 'custody', 'blobs', 'versions', 'cluster'].includes(values.only)) {
    process.stderr.write(`bench: error: unknown --only ${JSON.stringify(values.only)}\nbench: hint: use one of s3, kms, sse, authz, metering, builds, soak, custody, blobs, versions, cluster\n`);
    process.exit(2);
  }
  if ((values.only === 'builds') !== (values.baseline !== undefined)) {
    process.stderr.write('bench: error: --only builds and --baseline go together\nbench: hint: npm run bench -- --only builds --baseline <other checkout>/dist/src/cli/main.js (build that checkout first)\n');
    process.exit(2);
  }
  const SSE_MODES: SseMode[] = ['off', 's3', 'kms'];
  const sse = SSE_MODES.find((m) => m === values.sse);
  if (values.sse !== undefined && sse === undefined) {
    process.stderr.write(`bench: error: unknown --sse ${JSON.stringify(values.sse)}\nbench: hint: use one of ${SSE_MODES.join(', ')} (with --profile)\n`);
    process.exit(2);
  }
  await checkAgainstSmithy(CREDS);

  if (values.peer !== undefined) {
    if (values.peer !== 'minio') {
      process.stderr.write(`bench: error: unknown --peer ${JSON.stringify(values.peer)}\nbench: hint: use --peer minio\n`);
      process.exit(2);
    }
    const loadBefore = loadLine('before the run');
    const started = performance.now();
    const peerRows = await benchPeerMinio({ sizes: sz, quick: values.quick ?? false, start });
    console.log(machineLine());
    console.log(`Run: ${values.quick ? 'quick' : 'full'}; Coffer and MinIO side by side, fsync on (Coffer) and MinIO's defaults; took ${((performance.now() - started) / 60_000).toFixed(1)} min\n`);
    console.log(`${loadBefore}\n${loadLine('after the run')}\n`);
    console.log(table(peerRows));
    return;
  }

  if (values.profile !== undefined) {
    const kind = PROFILE_KINDS.find((k) => k === values.profile);
    if (kind === undefined) {
      process.stderr.write(`bench: error: unknown profile ${JSON.stringify(values.profile)}\nbench: hint: use --profile with one of ${PROFILE_KINDS.join(', ')}\n`);
      process.exit(2);
    }
    await profile(kind, variants[0]!, sz, values['profile-out'], sse);
    return;
  }

  const loadBefore = loadLine('before the run');
  const started = performance.now();
  const rows: Row[] = [];
  // The build comparison (it needs a second build), the soak (30 minutes) and the cluster (it needs PostgreSQL) run only when asked for.
  const only = (part: string) => (values.only === undefined && part !== 'builds' && part !== 'soak' && part !== 'cluster') || values.only === part;
  if (only('s3')) for (const v of variants) rows.push(...(await runVariant(v, sz)));
  const kmsRows: Row[] = only('kms') ? await benchKms({ quick: values.quick ?? false }) : [];
  // With --variant no-fsync the SSE servers run without fsync too; by default with it (the server default).
  const sseRows: Row[] = only('sse') ? await benchSse({ sizes: sz, fsync: variants[0]!.fsync, start }) : [];
  const authzRows: Row[] = only('authz') ? benchAuthz({ quick: values.quick ?? false }) : [];
  const authzServerRows: Row[] = only('authz') ? await benchAuthzServer({ sizes: sz, fsync: variants[0]!.fsync, start }) : [];
  const meteringRows: Row[] = only('metering') ? await benchMetering({ sizes: sz, fsync: variants[0]!.fsync, start }) : [];
  const buildRows: Row[] = only('builds') ? await benchBuilds({ sizes: sz, fsync: variants[0]!.fsync, baseline: resolve(values.baseline!), start }) : [];
  const soakRows: Row[] = only('soak') ? await benchSoak({ fsync: variants[0]!.fsync, start }) : [];
  const custodyRows: Row[] = only('custody') ? await benchCustody({ quick: values.quick ?? false, smallOps: sz.smallOps }) : [];
  const blobRows: Row[] = only('blobs') ? await benchBlobs({ quick: values.quick ?? false }) : [];
  const versionRows: Row[] = only('versions') ? await benchVersions({ sizes: sz, fsync: variants[0]!.fsync, start }) : [];
  const clusterRows: Row[] = only('cluster') ? await benchCluster({
        sizes: sz, start, rounds: Math.round(envNumber('BENCH_CLUSTER_ROUNDS', 2)), nodes: clusterNodes(),
        largeRounds: Math.round(envNumber('BENCH_CLUSTER_LARGE_ROUNDS', 5)),
        baselines: (process.env.BENCH_CLUSTER_BASELINE ?? '').split(',').filter((p) => p !== '').map((p) => resolve(p)),
        sharedSqlite: process.env.BENCH_CLUSTER_SHARED_SQLITE === '1',
      }) : [];
  const minutes = (performance.now() - started) / 60_000;

  console.log(machineLine());
  console.log(
    `Run: ${values.quick ? 'quick' : 'full'}; streams ${fmtSize(sz.stream)}, memory scenario ${fmtSize(sz.big)}, ${sz.smallOps.toLocaleString('en-US')} small ops; ` +
      `server is a child process (its CPU and RSS are reported), client shares the cores; took ${minutes.toFixed(1)} min\n`,
  );
  console.log(`${loadBefore}\n${loadLine('after the run')}\n`);
  if (rows.length) console.log(table(rows, ['fsync', 'no-fsync']));
  if (kmsRows.length) console.log('\n' + table(kmsRows, ['http', 'in-process']));
  if (sseRows.length) console.log('\n' + table(sseRows));
  if (authzRows.length) console.log('\n' + table(authzRows));
  if (authzServerRows.length) console.log('\n' + table(authzServerRows, [ROOT_VARIANT, USER_VARIANT]));
  if (meteringRows.length) console.log('\n' + table(meteringRows));
  if (buildRows.length) console.log(`\nBuilds: ${THIS_BUILD} ÷ ${BASELINE} (${resolve(values.baseline!)})\n\n` + table(buildRows));
  if (soakRows.length) console.log('\n' + table(soakRows));
  if (custodyRows.length) console.log('\n' + table(custodyRows));
  if (blobRows.length) console.log('\n' + table(blobRows, [DATA_DIR_VARIANT, S3_VARIANT]));
  if (versionRows.length) console.log('\n' + table(versionRows, [FEW, MANY]));
  if (clusterRows.length) console.log('\n' + table(clusterRows) + '\n\n' + CLUSTER_NOTE);
  const missed = [...rows, ...kmsRows, ...sseRows, ...authzRows, ...authzServerRows, ...meteringRows, ...buildRows, ...soakRows, ...custodyRows, ...blobRows, ...versionRows, ...clusterRows].filter((r) => r.met === false).length;
  console.log(`\n${missed === 0 ? 'All targets met.' : `${missed} target(s) missed (marked **NO**).`} MB = 10^6 bytes; peak RSS is the larger of 50 ms samples of VmRSS and VmHWM reset per scenario.`);
}

main().catch((e) => {
  process.stderr.write(`bench: error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});

/** BENCH_CLUSTER_NODES: "2,3" by default; "" runs one node only (SQLite and PostgreSQL in turns). */
function clusterNodes(): number[] {
  const text = process.env.BENCH_CLUSTER_NODES ?? '2,3';
  return [1, ...text.split(',').filter((t) => t.trim() !== '').map((t) => Number(t))];
}
