// The server-side encryption section of `npm run bench`: what SSE costs, with three
// variants side by side in one run and each one's ratio to "off":
//
//   off      — a server started with COFFER_ENCRYPTION_AT_REST=off (objects in the clear)
//   SSE-S3   — the default server and bucket (SSE-S3 by default)
//   SSE-KMS  — the same server, a bucket whose default is aws:kms with a customer key
//              (bucket keys off, so every object costs a GenerateDataKey)
//
// Scenarios: a single-stream PUT and GET of `sizes.stream` bytes, and 4 KiB PUTs and
// GETs with `smallConcurrency` in flight. The two servers run side by side and the
// variants take turns, so other load on the machine falls on all of them alike: each
// stream runs ROUNDS times per variant, interleaved, and the best round counts; the
// small operations are split into ROUNDS interleaved batches and their rate is the
// total over all of a variant's batches.
//
// Then a 1-byte ranged GET from the middle of a large SSE-KMS object must open at most 2
// segments. The segment counter (cipherStats) lives in the process that runs the
// server, so that check runs against a Coffer started in this process.
//
// Targets: SSE-KMS PUT ≥ 200 MiB/s and GET ≥ 400 MiB/s, each ≥ 0.80× off; small SSE-KMS
// PUT rate ≥ 0.70× off; the ranged GET opens ≤ 2 segments and returns the right byte.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { pino } from 'pino';
import { MiB, SOURCE } from './body.js';
import { combine, measure, percentile, runOps, type Measured } from './measure.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import { errorRow, usage, type Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';
import { startCoffer } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { cipherStats } from '../src/s3/sse/body-cipher.js';
import { SEGMENT_SIZE } from '../src/crypto/layout.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

export const OFF = 'off';
export const SSE_S3 = 'SSE-S3';
export const SSE_KMS = 'SSE-KMS';

/** How a server and bucket are set up for one kind of at-rest encryption. */
export type SseMode = 'off' | 's3' | 'kms';

/** The server environment for a mode: `off` turns at-rest encryption off. */
export function sseEnv(mode: SseMode): Record<string, string> {
  return mode === 'off' ? { COFFER_ENCRYPTION_AT_REST: 'off' } : {};
}

/** What HeadObject must say for an object written in this mode. */
const EXPECTED_SSE: Record<SseMode, string | undefined> = { off: undefined, s3: 'AES256', kms: 'aws:kms' };

/** Creates a customer key on the server's KMS endpoint; returns its ARN. */
export async function createKmsKey(url: URL): Promise<string> {
  const kms = new KMSClient({ endpoint: url.origin, region: 'us-east-1', credentials: CREDS });
  try {
    const out = await kms.send(new CreateKeyCommand({ Description: 'bench: SSE-KMS bucket default' }));
    const arn = out.KeyMetadata?.Arn;
    if (!arn) throw new Error('CreateKey returned no key ARN');
    return arn;
  } finally {
    kms.destroy();
  }
}

/** Creates `bucket`; for `kms` also a customer key and the bucket default aws:kms with it. */
export async function prepareBucket(client: RawS3Client, url: URL, bucket: string, mode: SseMode): Promise<string | undefined> {
  await client.createBucket(bucket);
  if (mode !== 'kms') return undefined;
  const arn = await createKmsKey(url);
  await client.putBucketEncryption(bucket, arn);
  return arn;
}

/** Fails unless HeadObject reports the encryption this mode should have applied. */
async function checkEncryption(client: RawS3Client, bucket: string, key: string, mode: SseMode, kmsKey?: string): Promise<void> {
  const h = await client.head(bucket, key);
  const got = h['x-amz-server-side-encryption'];
  if (got !== EXPECTED_SSE[mode]) throw new Error(`${key}: x-amz-server-side-encryption is ${JSON.stringify(got)}, expected ${JSON.stringify(EXPECTED_SSE[mode])}`);
  const keyId = h['x-amz-server-side-encryption-aws-kms-key-id'];
  if (kmsKey !== undefined && keyId !== kmsKey) throw new Error(`${key}: SSE-KMS key is ${JSON.stringify(keyId)}, expected ${kmsKey}`);
}

interface Target {
  variant: string;
  mode: SseMode;
  pid: number;
  client: RawS3Client;
  bucket: string;
  kmsKey?: string;
}

export interface SseBenchOptions {
  sizes: Sizes;
  /** Fsync on (the server default) or off, as the rest of the run. */
  fsync: boolean;
  /** Starts a server child process (run.ts tracks it for SIGINT). */
  start(opts: ServerOptions): Promise<ServerProcess>;
}

const STREAM_PUT_MIBS = 200;
const STREAM_GET_MIBS = 400;
const STREAM_RATIO = 0.8;
const SMALL_PUT_RATIO = 0.7;
const MAX_RANGE_SEGMENTS = 2;
/** Turns each variant gets (BENCH_SSE_ROUNDS overrides): more rounds, less weight on one unlucky moment. */
const ROUNDS = Math.max(1, Math.round(Number(process.env.BENCH_SSE_ROUNDS) || 3));

/** The SSE section: stream and small-object rows for off / SSE-S3 / SSE-KMS, then the ranged-GET check. */
export async function benchSse(opts: SseBenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const servers: ServerProcess[] = [];
  const clients: RawS3Client[] = [];
  try {
    process.stderr.write('bench: SSE: starting a server with encryption off and one with the defaults\n');
    const plain = await opts.start({ fsync: opts.fsync, env: sseEnv('off') });
    servers.push(plain);
    const enc = await opts.start({ fsync: opts.fsync });
    servers.push(enc);
    const plainClient = new RawS3Client(plain.url, CREDS);
    const encClient = new RawS3Client(enc.url, CREDS);
    clients.push(plainClient, encClient);
    const targets: Target[] = [
      { variant: OFF, mode: 'off', pid: plain.pid, client: plainClient, bucket: 'sse-off' },
      { variant: SSE_S3, mode: 's3', pid: enc.pid, client: encClient, bucket: 'sse-s3' },
      { variant: SSE_KMS, mode: 'kms', pid: enc.pid, client: encClient, bucket: 'sse-kms' },
    ];
    for (const t of targets) t.kmsKey = await prepareBucket(t.client, t.mode === 'off' ? plain.url : enc.url, t.bucket, t.mode);

    process.stderr.write('bench: SSE: single stream\n');
    rows.push(...(await singleStreams(targets, opts.sizes, opts.fsync)));
    process.stderr.write('bench: SSE: small objects\n');
    rows.push(...(await smallObjects(targets, opts.sizes)));
  } catch (e) {
    rows.push(errorRow({ variant: 'setup' }, 'SSE section', '—', e));
  } finally {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
  }
  process.stderr.write('bench: SSE: ranged GET (in-process server)\n');
  rows.push(...(await rangedGet(opts.sizes.stream)));
  for (const r of rows) process.stderr.write(`bench:     ${r.scenario} [${r.variant}]: ${r.result}\n`);
  return rows;
}

/** `variant ÷ off` rows for SSE-S3 and SSE-KMS; the SSE-KMS one carries the target ratio when given. */
function ratioRows(scenario: string, rows: Row[], kmsMin?: number): Row[] {
  const off = rows.find((r) => r.variant === OFF)?.value;
  const out: Row[] = [];
  for (const v of [SSE_S3, SSE_KMS]) {
    const value = rows.find((r) => r.variant === v)?.value;
    const min = v === SSE_KMS ? kmsMin : undefined;
    const target = min === undefined ? '' : `≥ ${min.toFixed(2)}×`;
    if (!off || !value) {
      if (min !== undefined) out.push({ scenario, variant: `${v} ÷ ${OFF}`, result: 'n/a (a variant failed)', target, met: false });
      continue;
    }
    const ratio = value / off;
    out.push({ scenario, variant: `${v} ÷ ${OFF}`, result: `${ratio.toFixed(2)}×`, target, met: min === undefined ? undefined : ratio >= min });
  }
  return out;
}

function streamRow(scenario: string, t: Target, bytes: number, m: Measured<unknown>, targetMiBs?: number): Row {
  const mibs = bytes / MiB / m.seconds;
  const useTarget = t.variant === SSE_KMS ? targetMiBs : undefined;
  return {
    scenario,
    variant: t.variant,
    result: `${fmtInt(mibs)} MiB/s (${m.seconds.toFixed(1)} s; ${usage(m)})`,
    target: useTarget === undefined ? '—' : `≥ ${useTarget} MiB/s`,
    met: useTarget === undefined ? undefined : mibs >= useTarget,
    value: mibs,
  };
}

/** Each variant PUTs then GETs one object; the variants of a direction run back to back. */
async function singleStreams(targets: Target[], sz: Sizes, fsync: boolean): Promise<Row[]> {
  const size = sz.stream;
  const key = 'sse/stream';
  const put = `SSE: PUT ${fmtSize(size)}, 1 stream (raw, UNSIGNED-PAYLOAD${fsync ? '' : ', no-fsync'}; best of ${ROUNDS})`;
  const get = `SSE: GET ${fmtSize(size)}, 1 stream (best of ${ROUNDS})`;
  const best = new Map<string, Measured<unknown>>();
  const failed = new Map<string, unknown>();
  const stored = new Set<Target>();
  const keep = (id: string, m: Measured<unknown>) => {
    const b = best.get(id);
    if (!b || m.seconds < b.seconds) best.set(id, m);
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets) {
        if (failed.has(`put ${t.variant}`)) continue;
        try {
          const p = await measure(t.pid, () => t.client.putStream(t.bucket, key, size));
          stored.add(t);
          if (round === 0) await checkEncryption(t.client, t.bucket, key, t.mode, t.kmsKey);
          keep(`put ${t.variant}`, p);
        } catch (e) {
          failed.set(`put ${t.variant}`, e);
          continue;
        }
        try {
          keep(`get ${t.variant}`, await measure(t.pid, () => t.client.get(t.bucket, key, size)));
        } catch (e) {
          failed.set(`get ${t.variant}`, e);
        }
      }
    }
  } finally {
    for (const t of stored) await t.client.delete(t.bucket, key).catch(() => undefined);
  }
  const rowsFor = (dir: 'put' | 'get', scenario: string, mibs: number): Row[] =>
    targets.map((t) => {
      const m = best.get(`${dir} ${t.variant}`);
      if (m) return streamRow(scenario, t, size, m, mibs);
      const e = failed.get(`${dir} ${t.variant}`) ?? failed.get(`put ${t.variant}`);
      return errorRow(t, scenario, t.variant === SSE_KMS ? `≥ ${mibs} MiB/s` : '—', e);
    });
  const putRows = rowsFor('put', put, STREAM_PUT_MIBS);
  const getRows = rowsFor('get', get, STREAM_GET_MIBS);
  return [...putRows, ...ratioRows(put, putRows, STREAM_RATIO), ...getRows, ...ratioRows(get, getRows, STREAM_RATIO)];
}

function opsRow(scenario: string, t: Target, m: Measured<Float64Array>): Row {
  const sorted = Float64Array.from(m.value).sort();
  const ops = m.value.length / m.seconds;
  return {
    scenario,
    variant: t.variant,
    result: `${fmtInt(ops)} ops/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (${usage(m)})`,
    target: '—',
    value: ops,
  };
}


/**
 * Small PUTs, then GETs of the same keys: `smallOps` of each per variant, in ROUNDS
 * batches with the variants taking turns; a variant's rate is its ops over its batches' time.
 */
async function smallObjects(targets: Target[], sz: Sizes): Promise<Row[]> {
  const { smallOps: n, smallSize, smallConcurrency: c } = sz;
  const put = `SSE: PUT ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight (${ROUNDS} interleaved batches)`;
  const get = `SSE: GET ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight (${ROUNDS} interleaved batches)`;
  const body = randomBytes(smallSize);
  const hash = payloadHash(body);
  const key = (i: number) => `small/${i % 100}/obj-${i}`;
  const warm = Math.min(500, n);
  const failed = new Map<string, unknown>();
  const parts = new Map<string, Measured<Float64Array>[]>();
  const add = (id: string, m: Measured<Float64Array>) => parts.set(id, [...(parts.get(id) ?? []), m]);
  for (const t of targets) {
    try {
      // Warm up both paths (JIT, SQLite and KMS caches) on keys outside the measured set.
      await runOps(warm, c, (i) => t.client.putSmall(t.bucket, `warm/${i}`, body, hash));
      await runOps(warm, c, (i) => t.client.get(t.bucket, `warm/${i}`, smallSize).then(() => undefined));
      await checkEncryption(t.client, t.bucket, 'warm/0', t.mode, t.kmsKey);
    } catch (e) {
      failed.set(`put ${t.variant}`, e);
    }
  }
  const batch = (b: number) => [Math.floor((b * n) / ROUNDS), Math.floor(((b + 1) * n) / ROUNDS)] as const;
  for (const dir of ['put', 'get'] as const) {
    for (let b = 0; b < ROUNDS; b++) {
      const [from, to] = batch(b);
      for (const t of targets) {
        const id = `${dir} ${t.variant}`;
        if (failed.has(id) || failed.has(`put ${t.variant}`)) continue;
        const op = dir === 'put'
          ? (i: number) => t.client.putSmall(t.bucket, key(from + i), body, hash)
          : (i: number) => t.client.get(t.bucket, key(from + i), smallSize).then(() => undefined);
        try {
          add(id, await measure(t.pid, () => runOps(to - from, c, op)));
        } catch (e) {
          failed.set(id, e);
        }
      }
    }
  }
  const rowsFor = (dir: 'put' | 'get', scenario: string): Row[] =>
    targets.map((t) => {
      const e = failed.get(`${dir} ${t.variant}`) ?? failed.get(`put ${t.variant}`);
      if (e !== undefined) return errorRow(t, scenario, '—', e);
      return opsRow(scenario, t, combine(parts.get(`${dir} ${t.variant}`)!));
    });
  const putRows = rowsFor('put', put);
  const getRows = rowsFor('get', get);
  return [...putRows, ...ratioRows(put, putRows, SMALL_PUT_RATIO), ...getRows, ...ratioRows(get, getRows)];
}

/**
 * Stores one SSE-KMS object of `size` bytes on a Coffer in this process, then reads one
 * byte from its middle (and two bytes across a segment boundary), counting the
 * segments the server opens for each and checking the bytes against the source.
 */
async function rangedGet(size: number): Promise<Row[]> {
  const one = `SSE-KMS: 1-byte ranged GET from the middle of ${fmtSize(size)} (in-process server)`;
  const two = `SSE-KMS: 2-byte ranged GET across a segment boundary of ${fmtSize(size)} (in-process server)`;
  const target = `≤ ${MAX_RANGE_SEGMENTS} segments opened, right bytes`;
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-sse-'));
  const variant = SSE_KMS;
  try {
    const config = loadConfig({ port: 0, dataDir: join(dir, 'data'), fsync: false, address: '127.0.0.1' }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET });
    // 'error': its warnings (e.g. the root key kept in a file) would land in the table on stdout.
    const coffer = await startCoffer(config, pino({ level: 'error' }));
    const url = new URL(coffer.url);
    const client = new RawS3Client(url, CREDS);
    try {
      const bucket = 'sse-range';
      const key = 'sse/range';
      const kmsKey = await prepareBucket(client, url, bucket, 'kms');
      await client.putStream(bucket, key, size);
      await checkEncryption(client, bucket, key, 'kms', kmsKey);
      const segments = Math.ceil(size / SEGMENT_SIZE);
      const probe = async (scenario: string, start: number, end: number): Promise<Row> => {
        const before = cipherStats.segmentsOpened;
        const t0 = performance.now();
        const r = await client.getRange(bucket, key, start, end);
        const ms = performance.now() - t0;
        const opened = cipherStats.segmentsOpened - before;
        const want = Buffer.alloc(end - start + 1);
        for (let o = start; o <= end; o++) want[o - start] = SOURCE[o % SOURCE.length]!;
        const right = r.data.equals(want);
        const rangeOk = r.contentRange === `bytes ${start}-${end}/${size}`;
        const bytesNote = right ? 'bytes right' : `**wrong bytes** (got ${r.data.toString('hex')}, expected ${want.toString('hex')})`;
        return {
          scenario,
          variant,
          result: `${opened} segment(s) opened of ${fmtInt(segments)} (bytes=${start}-${end}; ${bytesNote}; Content-Range ${rangeOk ? 'right' : `**${r.contentRange}**`}; ${ms.toFixed(1)} ms)`,
          target,
          met: opened <= MAX_RANGE_SEGMENTS && right && rangeOk,
          value: opened,
          lowerIsBetter: true,
        };
      };
      // Off any segment boundary, so one segment should do.
      const mid = Math.floor(size / 2) + 12_345;
      const boundary = Math.floor(size / 2 / SEGMENT_SIZE) * SEGMENT_SIZE;
      return [await probe(one, mid, mid), await probe(two, boundary - 1, boundary)];
    } finally {
      client.close();
      await coffer.close();
    }
  } catch (e) {
    process.stderr.write(`bench: SSE ranged GET failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    return [errorRow({ variant }, one, target, e)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
