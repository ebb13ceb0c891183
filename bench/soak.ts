// The soak section of `npm run bench` (`--only soak`): one server child under mixed load
// for BENCH_SOAK_MINUTES (default 30), counting errors by code and sampling the server's
// RSS every few seconds. The load, all at once:
//
//   small     SMALL_WORKERS loops: PUT then GET of 1 KiB–256 KiB objects, each time one of
//             SSE-S3, SSE-KMS (a bucket whose default is a customer key, bucket keys off),
//             SSE-KMS with bucket keys, or SSE-C (the AWS SDK, a fresh customer key per
//             object), over a bounded key space so overwrites feed the garbage collector
//   large     one loop: PUT then GET of a BENCH_SOAK_LARGE_MIB stream (default 64),
//             SSE-S3 and SSE-KMS in turn
//   multipart one loop through the AWS SDK: three 5 MiB parts, SSE-KMS and SSE-C in turn,
//             completed and read back
//   slow      SLOW_WORKERS clients that trickle a 64 KiB body in 1 KiB pieces every 50 ms,
//             then read it back
//
// Every GET checks the byte count. Targets (issue 12): no errors, and the server's RSS flat
// after warm-up (the first fifth of the run, at most 5 minutes): the line fitted through the
// samples after warm-up grows by less than 5% from its start to its end.
//
// RSS alone cannot tell a leak from the allocator: freed Buffers stay in glibc's malloc
// arenas and RSS follows the peaks of concurrent demand. So the server child also runs
// bench/mem-probe.ts (given only in its node flags, never part of the product), which
// forces a full GC every minute and logs what is still reachable. A second target: the
// JS heap's objects after GC (heap used less V8's code spaces, which grow while the JIT
// optimises more functions) flat after warm-up (< 5% fitted growth) — objects retained by
// caches, maps or timers would show there. The report also gives external memory (Buffers) after
// GC and anonymous RSS by kind (malloc's main arena, the threads' arenas, the rest: V8's
// heap pages, large mmapped Buffers), each as a fitted slope, to show where RSS moves.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketEncryptionCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { MiB } from './body.js';
import { RawS3Client, S3Failure, objectPath, payloadHash } from './raw-client.js';
import { fmtInt, fmtMB, fmtSize, type Row } from './report.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';
import { SigV4Signer, UNSIGNED_PAYLOAD } from './sigv4.js';
import { createKmsKey } from './sse.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const SMALL_WORKERS = 6;
const SLOW_WORKERS = 2;
const KEYS_PER_WORKER = 200;
const SAMPLE_MS = 5_000;
const MAX_GROWTH = 0.05;
const SLOW_BODY = 64 * 1024;
const SLOW_PIECE = 1024;
const SLOW_PAUSE_MS = 50;
const PART_SIZE = 5 * MiB;
/** dist/bench/soak.js -> dist/bench/mem-probe.js */
const PROBE = resolve(fileURLToPath(import.meta.url), '../mem-probe.js');
const PROBE_MS = 15_000;
/** A full GC before every fourth probe sample: once a minute. */
const PROBE_GC_EVERY = 4;

const BUCKETS = { s3: 'soak-s3', kms: 'soak-kms', bucketKey: 'soak-bucket-key', ssec: 'soak-ssec' } as const;
type SmallKind = keyof typeof BUCKETS;
const SMALL_KINDS: SmallKind[] = ['s3', 'kms', 'bucketKey', 'ssec'];

export interface SoakOptions {
  fsync: boolean;
  start(opts: ServerOptions): Promise<ServerProcess>;
}

interface Sample {
  /** Seconds since the load started. */
  t: number;
  rss: number;
  /** RssAnon (heaps: V8's and native allocations) and RssFile (mapped files), to tell where growth is. */
  anon: number;
  file: number;
}

function readSample(pid: number, t: number): Sample {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { t, rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

class Tally {
  readonly ops = new Map<string, number>();
  readonly errors = new Map<string, number>();
  readonly firstErrors: string[] = [];

  ok(kind: string): void {
    this.ops.set(kind, (this.ops.get(kind) ?? 0) + 1);
  }

  failed(kind: string, e: unknown): void {
    const code = errorCode(e);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    if (this.firstErrors.length < 5) {
      const msg = `${kind}: ${e instanceof Error ? e.message : String(e)}`.split('\n')[0]!.slice(0, 200);
      this.firstErrors.push(msg);
      process.stderr.write(`bench: soak: ${msg}\n`);
    }
  }

  get total(): number {
    return [...this.ops.values()].reduce((a, b) => a + b, 0);
  }

  get errorCount(): number {
    return [...this.errors.values()].reduce((a, b) => a + b, 0);
  }
}

/** The S3 error code of a failure (from the XML body or the SDK), else the error's name. */
function errorCode(e: unknown): string {
  if (e instanceof S3Failure) return /<Code>([^<]+)<\/Code>/.exec(e.body)?.[1] ?? `HTTP ${e.status}`;
  if (e instanceof Error) return (e as { Code?: string }).Code ?? e.name;
  return 'unknown';
}

export function soakMinutes(): number {
  const raw = process.env.BENCH_SOAK_MINUTES;
  const n = raw === undefined || raw === '' ? 30 : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_SOAK_MINUTES must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

function largeSize(): number {
  const n = Number(process.env.BENCH_SOAK_LARGE_MIB || 64);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_SOAK_LARGE_MIB must be a positive number, got ${JSON.stringify(process.env.BENCH_SOAK_LARGE_MIB)}`);
  return Math.round(n * MiB);
}

/** A customer key and the SSE-C headers that carry it. */
function customerKey() {
  const key = randomBytes(32);
  return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(key).digest('base64') };
}

async function drain(body: unknown): Promise<number> {
  let n = 0;
  for await (const c of body as AsyncIterable<Uint8Array>) n += c.length;
  return n;
}

function expectBytes(what: string, got: number, expected: number): void {
  if (got !== expected) throw new Error(`${what}: got ${got} bytes, expected ${expected}`);
}

/** A PUT whose UNSIGNED-PAYLOAD body arrives SLOW_PIECE bytes at a time, SLOW_PAUSE_MS apart. */
function trickle(url: URL, signer: SigV4Signer, agent: http.Agent, bucket: string, key: string, body: Buffer): Promise<void> {
  const path = objectPath(bucket, key);
  const headers = signer.sign({ method: 'PUT', path, host: url.host, payloadHash: UNSIGNED_PAYLOAD, headers: { 'content-length': String(body.length) } });
  return new Promise<void>((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, method: 'PUT', path, headers });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new S3Failure(res.statusCode ?? 0, text, `slow PutObject ${key}`))));
      res.once('error', reject);
    });
    let off = 0;
    const step = () => {
      if (req.destroyed) return;
      if (off >= body.length) return void req.end();
      req.write(body.subarray(off, off + SLOW_PIECE));
      off += SLOW_PIECE;
      setTimeout(step, SLOW_PAUSE_MS);
    };
    step();
  });
}

/** Least-squares slope of `value` (default rss) over t (bytes per second) and the fitted value at t. */
function fit<T extends { t: number }>(samples: T[], value: (s: T) => number = (s) => (s as unknown as Sample).rss): { slope: number; at(t: number): number } {
  const n = samples.length;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mr = samples.reduce((a, s) => a + value(s), 0) / n;
  const sxx = samples.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  const slope = sxx === 0 ? 0 : samples.reduce((a, s) => a + (s.t - mt) * (value(s) - mr), 0) / sxx;
  return { slope, at: (t) => mr + slope * (t - mt) };
}

/** One line of bench/mem-probe.ts's log (the main thread's), t moved to the soak's clock. */
interface ProbeSample {
  t: number;
  postGc: boolean;
  heapUsed: number;
  /** Of heapUsed, JIT-compiled code (V8's code spaces). */
  heapCode: number;
  external: number;
  arrayBuffers: number;
  brkHeap: number;
  arenas: number;
  anonOther: number;
}

async function readProbe(path: string, offsetS: number): Promise<ProbeSample[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProbeSample & { thread?: number; snapshot?: string })
    .filter((p) => p.thread === 0 && p.snapshot === undefined)
    .map((p) => ({ ...p, t: p.t - offsetS }));
}

const clock = (seconds: number) => `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, '0')}`;

export async function benchSoak(opts: SoakOptions): Promise<Row[]> {
  const minutes = soakMinutes();
  const large = largeSize();
  const durationS = minutes * 60;
  const warmupS = Math.min(durationS / 5, 300);
  const scenario = `Soak, ${minutes} min of mixed load`;
  const mix = `${SMALL_WORKERS} small PUT/GET loops over SSE-S3, SSE-KMS, bucket keys, SSE-C; ${fmtSize(large)} streams; multipart; ${SLOW_WORKERS} slow clients`;
  process.stderr.write(`bench: ${scenario}: ${mix}\n`);
  const probeDir = await mkdtemp(join(tmpdir(), 'coffer-soak-'));
  const probeLog = join(probeDir, 'mem.jsonl');
  const spawned = performance.now();
  const server = await opts.start({
    fsync: opts.fsync,
    nodeFlags: ['--expose-gc', `--import=${pathToFileURL(PROBE).href}`],
    env: { BENCH_MEM_LOG: probeLog, BENCH_MEM_PROBE_MS: String(PROBE_MS), BENCH_MEM_PROBE_GC_EVERY: String(PROBE_GC_EVERY) },
  });
  const raw = new RawS3Client(server.url, CREDS);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const sdk = new S3Client({ endpoint: server.url.origin, region: 'us-east-1', forcePathStyle: true, credentials: CREDS, requestHandler: new NodeHttpHandler({ httpAgent: agent }) });
  const slowAgent = new http.Agent({ keepAlive: true, maxSockets: SLOW_WORKERS });
  const signer = new SigV4Signer(CREDS);
  const tally = new Tally();
  const samples: Sample[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    for (const b of Object.values(BUCKETS)) await raw.createBucket(b);
    const kmsKey = await createKmsKey(server.url);
    await raw.putBucketEncryption(BUCKETS.kms, kmsKey);
    await sdk.send(new PutBucketEncryptionCommand({
      Bucket: BUCKETS.bucketKey,
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKey }, BucketKeyEnabled: true }] },
    }));

    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    const running = () => elapsed() < durationS;
    const sample = () => samples.push(readSample(server.pid, elapsed()));
    sample();
    sampler = setInterval(sample, SAMPLE_MS);
    let lastReport = 0;

    const loop = async (kind: string, body: (i: number) => Promise<void>) => {
      for (let i = 0; running(); i++) {
        try {
          await body(i);
          tally.ok(kind);
        } catch (e) {
          tally.failed(kind, e);
        }
        if (elapsed() - lastReport > 60) {
          lastReport = elapsed();
          const rss = samples[samples.length - 1]!.rss;
          process.stderr.write(`bench: soak ${clock(lastReport)}: ${fmtInt(tally.total)} ops, ${tally.errorCount} errors, server RSS ${fmtMB(rss)}\n`);
        }
      }
    };

    const small = (w: number) => async (i: number) => {
      const kind = SMALL_KINDS[(w + i) % SMALL_KINDS.length]!;
      const bucket = BUCKETS[kind];
      const key = `small/${w}/${i % KEYS_PER_WORKER}`;
      const size = 1024 + ((i * 7919 + w * 104_729) % (255 * 1024));
      const body = randomBytes(size);
      if (kind === 'ssec') {
        const ck = customerKey();
        await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...ck }));
        const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...ck }));
        expectBytes(`GetObject ${bucket}/${key}`, await drain(got.Body), size);
        return;
      }
      await raw.putSmall(bucket, key, body, payloadHash(body));
      await raw.get(bucket, key, size);
    };

    const largeLoop = async (i: number) => {
      const bucket = i % 2 === 0 ? BUCKETS.s3 : BUCKETS.kms;
      await raw.putStream(bucket, 'large/object', large);
      await raw.get(bucket, 'large/object', large);
    };

    const part = randomBytes(PART_SIZE);
    const multipart = async (i: number) => {
      const ssec = i % 2 === 1;
      const bucket = ssec ? BUCKETS.ssec : BUCKETS.kms;
      const key = `multipart/${i % 4}`;
      const ck = ssec ? customerKey() : {};
      const { UploadId } = await sdk.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...ck }));
      const parts = [];
      for (let n = 1; n <= 3; n++) {
        const { ETag } = await sdk.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: part, ...ck }));
        parts.push({ PartNumber: n, ETag });
      }
      await sdk.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts }, ...ck }));
      const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...ck }));
      expectBytes(`GetObject ${bucket}/${key}`, await drain(got.Body), 3 * PART_SIZE);
    };

    const slowBody = randomBytes(SLOW_BODY);
    const slow = (w: number) => async (i: number) => {
      const bucket = i % 2 === 0 ? BUCKETS.kms : BUCKETS.s3;
      const key = `slow/${w}/${i % 20}`;
      await trickle(server.url, signer, slowAgent, bucket, key, slowBody);
      await raw.get(bucket, key, SLOW_BODY);
    };

    await Promise.all([
      ...Array.from({ length: SMALL_WORKERS }, (_, w) => loop('small', small(w))),
      loop('large', largeLoop),
      loop('multipart', multipart),
      ...Array.from({ length: SLOW_WORKERS }, (_, w) => loop('slow', slow(w))),
    ]);
    clearInterval(sampler);
    sample();
    const probe = await readProbe(probeLog, (started - spawned) / 1000);
    return rows(scenario, mix, tally, samples, probe, warmupS, elapsed());
  } finally {
    clearInterval(sampler);
    raw.close();
    sdk.destroy();
    agent.destroy();
    slowAgent.destroy();
    await server.stop();
    await rm(probeDir, { recursive: true, force: true });
  }
}

function rows(scenario: string, mix: string, tally: Tally, samples: Sample[], probe: ProbeSample[], warmupS: number, totalS: number): Row[] {
  const ops = [...tally.ops].map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ');
  const errors = [...tally.errors].map(([code, n]) => `${code} ×${n}`).join(', ');
  const after = samples.filter((s) => s.t >= warmupS);
  const line = fit(after.length >= 2 ? after : samples);
  const startT = after[0]?.t ?? 0;
  const endT = samples[samples.length - 1]!.t;
  const growth = line.at(endT) / line.at(startT) - 1;
  const first = after[0] ?? samples[0]!;
  const last = samples[samples.length - 1]!;
  const atWarmup = first.rss;
  const atEnd = last.rss;
  const peak = Math.max(...samples.map((s) => s.rss));
  const step = Math.max(1, Math.floor(samples.length / 10));
  const overTime = samples.filter((_, i) => i % step === 0 || i === samples.length - 1).map((s) => `${clock(s.t)} ${fmtMB(s.rss)}`).join(', ');
  return [
    { scenario, variant: 'operations', result: `${mix}: ${fmtInt(tally.total)} in ${clock(totalS)} (${ops}); ${(tally.total / totalS).toFixed(1)} ops/s`, target: '—' },
    { scenario, variant: 'errors', result: tally.errorCount === 0 ? '0' : `${fmtInt(tally.errorCount)} (${errors}); first: ${tally.firstErrors[0] ?? ''}`, target: '0', met: tally.errorCount === 0 },
    {
      scenario,
      variant: 'server RSS',
      result:
        `${fmtMB(atWarmup)} at warm-up end (${clock(warmupS)}) → ${fmtMB(atEnd)} at the end, peak ${fmtMB(peak)}; fitted slope ${((line.slope * 60) / 1e6).toFixed(2)} MB/min, ` +
        `${(growth * 100).toFixed(1)}% over the run after warm-up (${after.length} samples); of which anonymous ${fmtMB(first.anon)} → ${fmtMB(last.anon)}, file-backed ${fmtMB(first.file)} → ${fmtMB(last.file)}`,
      target: `flat after warm-up (< ${MAX_GROWTH * 100}% growth)`,
      met: after.length >= 2 && growth < MAX_GROWTH,
    },
    ...probeRows(scenario, probe, warmupS, endT),
    { scenario, variant: 'RSS over time', result: overTime, target: '—' },
  ];
}

/** The probe's view after warm-up: JS heap and external memory after GC, anonymous RSS by kind. */
function probeRows(scenario: string, probe: ProbeSample[], warmupS: number, endT: number): Row[] {
  const after = probe.filter((p) => p.t >= warmupS);
  const gcd = after.filter((p) => p.postGc);
  if (gcd.length < 2) {
    return [{ scenario, variant: 'server heap after GC', result: `too few probe samples after warm-up (${gcd.length} after a full GC)`, target: `objects flat after warm-up (< ${MAX_GROWTH * 100}% growth)`, met: false }];
  }
  const startT = gcd[0]!.t;
  const trend = <T extends { t: number }>(xs: T[], v: (p: T) => number, t0 = startT) => {
    const line = fit(xs, v);
    return { from: line.at(t0), to: line.at(endT), perMin: `${line.slope * 60 >= 0 ? '+' : ''}${((line.slope * 60) / 1e6).toFixed(2)} MB/min` };
  };
  // The target judges the heap's objects: compiled code grows while V8 optimises more functions
  // (a bounded warm-up; +0.4 MB in 10 minutes in a heap snapshot diff), shown apart.
  const heap = trend(gcd, (p) => p.heapUsed - p.heapCode);
  const heapGrowth = heap.to / heap.from - 1;
  const code = trend(gcd, (p) => p.heapCode);
  const ext = trend(gcd, (p) => p.external);
  const kinds = ([['malloc main arena', (p: ProbeSample) => p.brkHeap], ['thread arenas', (p: ProbeSample) => p.arenas], ['V8 heap and other', (p: ProbeSample) => p.anonOther]] as const).map(([name, v]) => {
    const k = trend(after, v, after[0]!.t);
    return `${name} ${fmtMB(k.from)} → ${fmtMB(k.to)} (${k.perMin})`;
  });
  return [
    {
      scenario,
      variant: 'server heap after GC',
      result:
        `JS heap objects ${fmtMB(heap.from)} → ${fmtMB(heap.to)} (fitted, ${heap.perMin}, ${(heapGrowth * 100).toFixed(1)}%; ${gcd.length} full GCs after warm-up); ` +
        `JIT code ${fmtMB(code.from)} → ${fmtMB(code.to)} (${code.perMin}); ` +
        `external (Buffers) ${fmtMB(ext.from)} → ${fmtMB(ext.to)} (${ext.perMin})`,
      target: `objects flat after warm-up (< ${MAX_GROWTH * 100}% growth): nothing retained`,
      met: heapGrowth < MAX_GROWTH,
    },
    { scenario, variant: 'anonymous RSS by kind', result: `fitted after warm-up: ${kinds.join('; ')}`, target: '—' },
  ];
}
