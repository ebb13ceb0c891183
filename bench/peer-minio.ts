// `npm run bench -- --peer minio`: Coffer beside MinIO on the same machine, the same
// client for both (bench/raw-client.ts: keep-alive node:http, SigV4, UNSIGNED-PAYLOAD for
// streamed bodies, the real SHA-256 for 4 KiB ones), rounds interleaved so other load on
// the machine falls on both alike, and the ratio Coffer ÷ MinIO per row.
//
//   Coffer   two server children, fsync on (the default): one with
//            COFFER_ENCRYPTION_AT_REST=off for the unencrypted rows, one with the
//            defaults holding an SSE-S3 bucket and an SSE-KMS bucket (customer key,
//            bucket keys off: one GenerateDataKey per object)
//   MinIO    built from source (bench/peer-binaries.ts, pinned), single drive, its
//            defaults for durability, a static KMS key (MINIO_KMS_SECRET_KEY); three
//            buckets: no default encryption, SSE-S3 default, SSE-KMS default (the static key)
//   KMS      Coffer's KMS (fsync on, audit durable) vs local-kms (pinned, from source):
//            GenerateDataKey+Decrypt pairs with the raw JSON client of bench/kms.ts; also a
//            Coffer with COFFER_AUDIT=off (what the durable audit record costs: local-kms
//            keeps none), and the same client against a do-nothing Node server, its own
//            ceiling here; then the same pairs from a Go client (bench/go-kms-load.ts, about
//            half the Node client's CPU per request) and its ceiling against a Go do-nothing
//            server. BENCH_PEER_ONLY=s3|kms runs only those rows.
//   Order    MinIO and local-kms start before Coffer's servers: in A/A runs on this shared
//            machine a server started later measured slower, so any such bias counts
//            against Coffer
//
// Workloads per encryption mode: one stream PUT then GET of `sizes.stream` bytes; 1 MiB
// PUT then GET with 8 in flight; 4 KiB PUT then GET with 16 in flight. Each row runs
// BENCH_PEER_ROUNDS (3) rounds; in each round both sides run back to back (which goes
// first alternates), and the ratio is the median of the rounds' ratios. The client's
// CPU is printed beside each rate to show it was not the bound.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiB } from './body.js';
import { RawKmsClient, pairOp } from './kms.js';
import { goKmsLoad, runGoKmsLoad } from './go-kms-load.js';
import { measure, runOps, type Measured } from './measure.js';
import { LOCAL_KMS, MINIO, freePort, peerBinary, startPeer, type PeerProcess } from './peer-binaries.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import type { Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';
import { prepareBucket, sseEnv, type SseMode } from './sse.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const MINIO_KEY_NAME = 'coffer-bench-key';
const MODES: SseMode[] = ['off', 's3', 'kms'];
const MODE_NAME: Record<SseMode, string> = { off: 'unencrypted', s3: 'SSE-S3', kms: 'SSE-KMS' };
const SSE_HEADER: Record<SseMode, string | undefined> = { off: undefined, s3: 'AES256', kms: 'aws:kms' };

export const COFFER = 'Coffer';
export const PEER = 'MinIO';

function envInt(name: string, fallback: number): number {
  const n = Math.round(Number(process.env[name]));
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

interface Target {
  pid: number;
  client: RawS3Client;
  bucket: string;
}

type Side = Record<SseMode, Target>;

interface Sample {
  rate: number;
  serverCpu: number;
  clientCpu: number;
}

export interface PeerBenchOptions {
  sizes: Sizes;
  quick: boolean;
  start(opts: ServerOptions): Promise<ServerProcess>;
}

export async function benchPeerMinio(opts: PeerBenchOptions): Promise<Row[]> {
  const minioBin = await peerBinary(MINIO);
  const kmsBin = await peerBinary(LOCAL_KMS);
  const rounds = envInt('BENCH_PEER_ROUNDS', 3);
  const midOps = envInt('BENCH_PEER_MID_OPS', opts.quick ? 128 : 512);
  const smallOps = Math.max(rounds, Math.floor(opts.sizes.smallOps / rounds));
  const kmsPairs = envInt('BENCH_PEER_KMS_PAIRS', opts.quick ? 2_000 : 5_000);
  // BENCH_PEER_ONLY=s3 or kms: only those rows.
  const only = process.env.BENCH_PEER_ONLY;
  if (only !== undefined && only !== 's3' && only !== 'kms') throw new Error(`BENCH_PEER_ONLY must be s3 or kms, not ${JSON.stringify(only)}`);
  const want = (part: 's3' | 'kms') => only === undefined || only === part;

  const stops: (() => Promise<void>)[] = [];
  const rows: Row[] = [];
  try {
    // MinIO first: on this shared machine a server started later measured slower in A/A
    // runs (two identical builds, interleaved), so any such bias here counts against Coffer.
    process.stderr.write('bench: peer: starting MinIO, then Coffer (encryption off; defaults)\n');
    const minioDir = await mkdtemp(join(tmpdir(), 'coffer-bench-minio-'));
    stops.push(() => rm(minioDir, { recursive: true, force: true }));
    const port = await freePort();
    const minio = await startPeer(
      'minio',
      minioBin,
      ['server', '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${await freePort()}`, join(minioDir, 'data')],
      {
        MINIO_ROOT_USER: ROOT_KEY_ID,
        MINIO_ROOT_PASSWORD: ROOT_SECRET,
        MINIO_KMS_SECRET_KEY: `${MINIO_KEY_NAME}:${randomBytes(32).toString('base64')}`,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
      },
      port,
      '/minio/health/ready',
    );
    stops.unshift(() => minio.stop());
    const kmsDir = await mkdtemp(join(tmpdir(), 'coffer-bench-local-kms-'));
    stops.push(() => rm(kmsDir, { recursive: true, force: true }));
    const kmsPort = await freePort();
    const localKms = await startPeer('local-kms', kmsBin, [], { PORT: String(kmsPort), KMS_REGION: 'us-east-1', KMS_ACCOUNT_ID: '111122223333', KMS_DATA_PATH: kmsDir }, kmsPort, '/');
    stops.unshift(() => localKms.stop());
    const plain = await opts.start({ fsync: true, env: sseEnv('off') });
    stops.push(() => plain.stop());
    const dflt = await opts.start({ fsync: true });
    stops.push(() => dflt.stop());

    const clients: RawS3Client[] = [];
    const client = (url: URL) => {
      const c = new RawS3Client(url, CREDS);
      clients.push(c);
      return c;
    };
    stops.unshift(async () => clients.forEach((c) => c.close()));
    const cp = client(plain.url);
    const cd = client(dflt.url);
    const cm = client(minio.url);
    await prepareBucket(cp, plain.url, 'plain', 'off');
    await prepareBucket(cd, dflt.url, 'sse-s3', 's3');
    const cofferKey = await prepareBucket(cd, dflt.url, 'sse-kms', 'kms');
    for (const b of ['plain', 'sse-s3', 'sse-kms']) await cm.createBucket(b);
    await cm.putBucketEncryption('sse-s3');
    await cm.putBucketEncryption('sse-kms', MINIO_KEY_NAME);
    const sides: Record<string, Side> = {
      [COFFER]: { off: { pid: plain.pid, client: cp, bucket: 'plain' }, s3: { pid: dflt.pid, client: cd, bucket: 'sse-s3' }, kms: { pid: dflt.pid, client: cd, bucket: 'sse-kms' } },
      [PEER]: { off: { pid: minio.pid, client: cm, bucket: 'plain' }, s3: { pid: minio.pid, client: cm, bucket: 'sse-s3' }, kms: { pid: minio.pid, client: cm, bucket: 'sse-kms' } },
    };
    // Both sides must really apply the encryption each row names.
    for (const [name, side] of Object.entries(sides)) {
      for (const mode of MODES) {
        const t = side[mode];
        await t.client.putStream(t.bucket, 'check', 1024);
        const got = (await t.client.head(t.bucket, 'check'))['x-amz-server-side-encryption'];
        if (got !== SSE_HEADER[mode]) throw new Error(`${name} bucket ${t.bucket}: x-amz-server-side-encryption ${JSON.stringify(got)}, expected ${JSON.stringify(SSE_HEADER[mode])}`);
      }
    }
    if (cofferKey === undefined) throw new Error('no Coffer KMS key');

    const small = randomBytes(opts.sizes.smallSize);
    const smallHash = payloadHash(small);
    const stream = opts.sizes.stream;
    const workloads: { name: string; unit: 'MiB/s' | 'ops/s'; run(t: Target, round: number): Promise<Measured<number>> }[] = [
      { name: `PUT ${fmtSize(stream)}, 1 stream`, unit: 'MiB/s', run: (t) => measure(t.pid, () => t.client.putStream(t.bucket, 'big', stream).then(() => stream / MiB)) },
      { name: `GET ${fmtSize(stream)}, 1 stream`, unit: 'MiB/s', run: (t) => measure(t.pid, () => t.client.get(t.bucket, 'big', stream).then(() => stream / MiB)) },
      { name: `PUT 1 MiB ×${midOps}, 8 in flight`, unit: 'MiB/s', run: (t, r) => measure(t.pid, () => runOps(midOps, 8, (i) => t.client.putStream(t.bucket, `mid/${r}/${i}`, MiB)).then(() => midOps)) },
      { name: `GET 1 MiB ×${midOps}, 8 in flight`, unit: 'MiB/s', run: (t, r) => measure(t.pid, () => runOps(midOps, 8, (i) => t.client.get(t.bucket, `mid/${r}/${i}`, MiB).then(() => undefined)).then(() => midOps)) },
      { name: `PUT ${fmtSize(opts.sizes.smallSize)} ×${fmtInt(smallOps)}, 16 in flight`, unit: 'ops/s', run: (t, r) => measure(t.pid, () => runOps(smallOps, 16, (i) => t.client.putSmall(t.bucket, `small/${r}/${i}`, small, smallHash)).then(() => smallOps)) },
      { name: `GET ${fmtSize(opts.sizes.smallSize)} ×${fmtInt(smallOps)}, 16 in flight`, unit: 'ops/s', run: (t, r) => measure(t.pid, () => runOps(smallOps, 16, (i) => t.client.get(t.bucket, `small/${r}/${i}`, opts.sizes.smallSize).then(() => undefined)).then(() => smallOps)) },
    ];
    // Warm both sides' paths (JIT, caches, first files) outside the counted rounds: PUTs and
    // GETs of both sizes, the GETs BENCH_PEER_WARM_PASSES (16) times over. A fresh Coffer's
    // GET path takes its first ~2,000 1 MiB GETs to reach its steady state (main-thread CPU
    // per MiB fell from ~1.0 to ~0.6 ms over them, measured 2026-12-07 with new connections
    // every 640 GETs too: V8's tiers, not the sockets), and a long-running server is warm.
    const warmPasses = envInt('BENCH_PEER_WARM_PASSES', 16);
    if (want('s3')) for (const side of Object.values(sides)) for (const mode of MODES) {
      const t = side[mode];
      await runOps(200, 16, (i) => t.client.putSmall(t.bucket, `warm/${i}`, small, smallHash));
      await runOps(32, 8, (i) => t.client.putStream(t.bucket, `warm-mid/${i}`, MiB));
      for (let p = 0; p < warmPasses; p++) {
        await runOps(200, 16, (i) => t.client.get(t.bucket, `warm/${i}`, small.length).then(() => undefined));
        await runOps(32, 8, (i) => t.client.get(t.bucket, `warm-mid/${i}`, MiB).then(() => undefined));
      }
    }

    // Rows in the order of the issue: streams, then 1 MiB, then 4 KiB, each by mode; PUTs before their GETs.
    for (let w = 0; want('s3') && w < workloads.length; w += 2) {
      const pair = [workloads[w]!, workloads[w + 1]!];
      for (const mode of MODES) {
        const samples = new Map<string, Sample[]>();
        for (let r = 0; r < rounds; r++) {
          const order = r % 2 === 0 ? [COFFER, PEER] : [PEER, COFFER];
          for (const wl of pair) {
            for (const name of order) {
              const m = await wl.run(sides[name]![mode], r);
              const key = `${wl.name}|${name}`;
              samples.set(key, [...(samples.get(key) ?? []), { rate: m.value / m.seconds, serverCpu: m.serverCpu, clientCpu: m.clientCpu }]);
            }
          }
        }
        for (const wl of pair) {
          const row = ratioRow(`${wl.name}, ${MODE_NAME[mode]}`, wl.unit, samples.get(`${wl.name}|${COFFER}`)!, samples.get(`${wl.name}|${PEER}`)!);
          process.stderr.write(`bench:   ${row.scenario}: ${row.result}\n`);
          rows.push(row);
        }
      }
    }
    if (want('kms')) {
      const noAudit = await opts.start({ fsync: true, env: { COFFER_AUDIT: 'off', COFFER_METERING: 'off' } });
      stops.push(() => noAudit.stop());
      rows.push(...(await kmsRows(dflt, noAudit, localKms, kmsPairs, rounds)));
      rows.push(...(await goKmsRows(dflt, noAudit, localKms, kmsPairs, rounds)));
    }
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
  }
  return rows;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length / 2;
  return s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
};

function ratioRow(scenario: string, unit: string, coffer: Sample[], peer: Sample[], peerName = PEER): Row {
  const ratios = coffer.map((c, i) => c.rate / peer[i]!.rate);
  const ratio = median(ratios);
  // Server CPU per unit (ms per MiB, µs per op) is steadier than a rate on a shared machine.
  const per = unit === 'MiB/s' ? ['ms', 1e3, 'MiB'] as const : ['µs', 1e6, unit === 'req/s' ? 'req' : 'op'] as const;
  const side = (s: Sample[]) =>
    `${fmtInt(median(s.map((x) => x.rate)))} ${unit} (server ${(median(s.map((x) => x.serverCpu)) * 100).toFixed(0)}% CPU, ` +
    `${median(s.map((x) => (x.serverCpu / x.rate) * per[1])).toFixed(unit === 'MiB/s' ? 2 : 0)} ${per[0]} per ${per[2]}; client ${(median(s.map((x) => x.clientCpu)) * 100).toFixed(0)}%)`;
  return {
    scenario,
    variant: `${COFFER} ÷ ${peerName}`,
    result: `**${ratio.toFixed(2)}×** (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')}); ${COFFER} ${side(coffer)}, ${peerName} ${side(peer)}`,
    target: '≥ 1.0×',
    met: ratio >= 1,
    value: ratio,
  };
}

const NO_AUDIT = `${COFFER} (COFFER_AUDIT=off)`;

/**
 * GenerateDataKey+Decrypt pairs, 32 in flight: Coffer's KMS vs local-kms, interleaved, and a
 * Coffer with the audit log off (each answer otherwise waits for its record's fdatasync, which
 * local-kms does not write: the row shows what that costs); then the client against a
 * do-nothing server.
 */
async function kmsRows(coffer: ServerProcess, noAudit: ServerProcess, peer: PeerProcess, pairs: number, rounds: number): Promise<Row[]> {
  const scenario = 'KMS GenerateDataKey+Decrypt, 32 in flight';
  let noop: PeerProcess | undefined;
  const clients: RawKmsClient[] = [];
  try {
    const noopPort = await freePort();
    noop = await startNoopServer(noopPort);
    const cc = new RawKmsClient(coffer.url, 32);
    const ac = new RawKmsClient(noAudit.url, 32);
    const pc = new RawKmsClient(peer.url, 32);
    const nc = new RawKmsClient(noop.url, 32);
    clients.push(cc, ac, pc, nc);
    const keyOf = async (c: RawKmsClient) => ((await c.call('CreateKey', { Description: 'bench: peer KMS' })).KeyMetadata as { Arn: string }).Arn;
    const targets: Record<string, { pid: number; op: (i: number) => Promise<void> }> = {
      [COFFER]: { pid: coffer.pid, op: pairOp(cc.call, await keyOf(cc)) },
      [NO_AUDIT]: { pid: noAudit.pid, op: pairOp(ac.call, await keyOf(ac)) },
      [PEER]: { pid: peer.pid, op: pairOp(pc.call, await keyOf(pc)) },
    };
    for (const t of Object.values(targets)) await runOps(500, 32, t.op);
    const per = Math.max(1, Math.floor(pairs / rounds));
    const samples: Record<string, Sample[]> = { [COFFER]: [], [NO_AUDIT]: [], [PEER]: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? [COFFER, NO_AUDIT, PEER] : [PEER, NO_AUDIT, COFFER]) {
        const t = targets[name]!;
        const m = await measure(t.pid, () => runOps(per, 32, t.op));
        samples[name]!.push({ rate: (2 * per) / m.seconds, serverCpu: m.serverCpu, clientCpu: m.clientCpu });
      }
    }
    const row = ratioRow(scenario, 'req/s', samples[COFFER]!, samples[PEER]!, 'local-kms');
    const unaudited = ratioRow(scenario, 'req/s', samples[NO_AUDIT]!, samples[PEER]!, 'local-kms');
    unaudited.variant = `${NO_AUDIT} ÷ local-kms`;
    unaudited.result = unaudited.result.replace(`${COFFER} `, `${NO_AUDIT} `);
    unaudited.target = '—';
    unaudited.met = undefined;
    const noopOp = pairOp(nc.call, 'k');
    await runOps(500, 32, noopOp);
    const m = await measure(noop.pid, () => runOps(pairs, 32, noopOp));
    const ceiling: Row = {
      scenario: `${scenario}: the client's own ceiling`,
      variant: 'do-nothing Node server',
      result: `${fmtInt((2 * pairs) / m.seconds)} req/s (server ${(m.serverCpu * 100).toFixed(0)}% CPU, client ${(m.clientCpu * 100).toFixed(0)}% CPU)`,
      target: '—',
      value: (2 * pairs) / m.seconds,
    };
    return [row, unaudited, ceiling];
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return [{ scenario, variant: `${COFFER} ÷ local-kms`, result: `error: ${msg.slice(0, 200)}`, target: '≥ 1.0×', met: false }];
  } finally {
    clients.forEach((c) => c.close());
    await noop?.stop();
  }
}

/**
 * The same pairs from the Go client (bench/go-kms-load.ts), which costs about half the Node
 * client's CPU per request: Coffer, Coffer with the audit log off and local-kms, interleaved,
 * then the Go client against its own do-nothing Go server (its ceiling). The target
 * is 2× local-kms.
 */
const GO_WARMUP = 200;

async function goKmsRows(coffer: ServerProcess, noAudit: ServerProcess, peer: PeerProcess, pairs: number, rounds: number, concurrency = 32): Promise<Row[]> {
  const scenario = `KMS GenerateDataKey+Decrypt, ${concurrency} in flight, Go client`;
  let noop: PeerProcess | undefined;
  try {
    const bin = await goKmsLoad();
    const targets: Record<string, { pid: number; url: URL }> = {
      [COFFER]: { pid: coffer.pid, url: coffer.url },
      [NO_AUDIT]: { pid: noAudit.pid, url: noAudit.url },
      [PEER]: { pid: peer.pid, url: peer.url },
    };
    const per = Math.max(1, Math.floor(pairs / rounds));
    const samples: Record<string, Sample[]> = { [COFFER]: [], [NO_AUDIT]: [], [PEER]: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? [COFFER, NO_AUDIT, PEER] : [PEER, NO_AUDIT, COFFER]) {
        const t = targets[name]!;
        // Each run creates its key and warms up before its measured pairs; only those are
        // timed, while the server's CPU covers the whole run: spread over all its requests.
        const m = await measure(t.pid, () => runGoKmsLoad(bin, t.url, { pairs: per, concurrency, warmup: GO_WARMUP }));
        const cpuPerRequest = (m.serverCpu * m.seconds) / (2 * (per + GO_WARMUP) + 1);
        samples[name]!.push({ rate: m.value.rate, serverCpu: cpuPerRequest * m.value.rate, clientCpu: m.value.clientCpu });
      }
    }
    const row = ratioRow(scenario, 'req/s', samples[COFFER]!, samples[PEER]!, 'local-kms');
    row.target = '≥ 2.0×';
    row.met = (row.value ?? 0) >= 2;
    const unaudited = ratioRow(scenario, 'req/s', samples[NO_AUDIT]!, samples[PEER]!, 'local-kms');
    unaudited.variant = `${NO_AUDIT} ÷ local-kms`;
    unaudited.result = unaudited.result.replace(`${COFFER} `, `${NO_AUDIT} `);
    unaudited.target = '—';
    unaudited.met = undefined;
    const port = await freePort();
    noop = await startPeer('Go do-nothing server', bin, ['-serve', `127.0.0.1:${port}`], {}, port, '/');
    const n = noop;
    const m = await measure(n.pid, () => runGoKmsLoad(bin, n.url, { pairs, concurrency, keyId: 'k' }));
    const ceiling: Row = {
      scenario: `${scenario}: the client's own ceiling`,
      variant: 'do-nothing Go server',
      result: `${fmtInt(m.value.rate)} req/s (server ${(m.serverCpu * 100).toFixed(0)}% CPU, client ${(m.value.clientCpu * 100).toFixed(0)}% CPU, ${((m.value.clientCpu / m.value.rate) * 1e6).toFixed(0)} µs of client CPU per request)`,
      target: '—',
      value: m.value.rate,
    };
    return [row, unaudited, ceiling];
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return [{ scenario, variant: `${COFFER} ÷ local-kms`, result: `error: ${msg.slice(0, 200)}`, target: '≥ 2.0×', met: false }];
  } finally {
    await noop?.stop();
  }
}

/** A Node HTTP server in a child process that reads each request and answers one fixed KMS-shaped JSON body. */
async function startNoopServer(port: number): Promise<PeerProcess> {
  const code = `
    const http = require('node:http');
    const body = Buffer.from(JSON.stringify({ KeyId: 'k', CiphertextBlob: 'AAAA', Plaintext: 'AAAA' }));
    http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': body.length }); res.end(body); });
    }).listen(${port}, '127.0.0.1');`;
  return startPeer('do-nothing server', process.execPath, ['-e', code], {}, port, '/');
}
