// The KMS data-plane benchmark: what SSE-KMS costs per object. Each operation is a
// GenerateDataKey (AES_256, with an S3-style encryption context) followed by a Decrypt
// of its ciphertext, with `concurrency` in flight, driven two ways in the same run:
//
//   http        — JSON 1.1 over keep-alive node:http with SigV4 (bench/sigv4.ts) against
//                 the server process (its CPU is reported; the client shares the cores)
//   in-process  — the typed KMS port (kms/port.ts) on a KmsService in this process, the
//                 path S3 uses; no HTTP, no JSON, no base64
//
// Rows report requests per second (two requests per operation) and the ratio
// in-process ÷ http. Targets: http ≥ 10,000 req/s; in-process ≥ 10× http. Beside them,
// Sign/Verify (RSA 2048, P-256) and GenerateMac per second over HTTP (kms-asymmetric.ts).

import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { measure, percentile, runOps, type Measured } from './measure.js';
import { fmtInt, fmtMB, type Row } from './report.js';
import { ROOT_KEY_ID, ROOT_SECRET, startServer } from './server-process.js';
import { SigV4Signer } from './sigv4.js';
import { createKmsKey } from './sse.js';
import { benchAsymmetric } from './kms-asymmetric.js';
import { startCoffer } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { InProcessKms } from '../src/kms/port.js';
import type { Caller } from '../src/kms/service.js';

export interface KmsBenchOptions {
  /** A running Coffer to drive over HTTP (e.g. bench/server-process.ts); when absent, benchKms starts one (no fsync) and stops it. */
  server?: { url: URL; pid: number };
  /** GenerateDataKey+Decrypt pairs per variant (after a warm-up); default 20,000, or 4,000 with quick. */
  pairs?: number;
  /** Requests in flight; default 32. */
  concurrency?: number;
  quick?: boolean;
  /** Label for the rows' variant column prefix, e.g. the build name; default none. */
  label?: string;
}

const SCENARIO = 'KMS GenerateDataKey+Decrypt';
const HTTP_TARGET = 10_000;
const IN_PROCESS_FACTOR = 10;
const WARMUP_PAIRS = 500;

interface KmsCall {
  (operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** A KMS JSON client over node:http: one keep-alive socket per request in flight. */
export class RawKmsClient {
  private readonly agent: http.Agent;
  private readonly signer: SigV4Signer;

  constructor(private readonly url: URL, maxSockets: number) {
    if (url.hostname !== '127.0.0.1') throw new Error('the benchmark only talks to 127.0.0.1');
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.signer = new SigV4Signer({ accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, 'us-east-1', 'kms');
  }

  call: KmsCall = (operation, input) => {
    const body = Buffer.from(JSON.stringify(input));
    const headers = this.signer.sign({
      method: 'POST',
      path: '/',
      host: this.url.host,
      payloadHash: createHash('sha256').update(body).digest('hex'),
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}`, 'content-length': String(body.length) },
    });
    return new Promise((resolve, reject) => {
      const req = http.request({ agent: this.agent, host: this.url.hostname, port: this.url.port, method: 'POST', path: '/', headers });
      req.once('error', reject);
      req.once('response', (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`${operation}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
          else resolve(JSON.parse(text) as Record<string, unknown>);
        });
      });
      req.end(body);
    });
  };

  close(): void {
    this.agent.destroy();
  }
}

/** One SSE-KMS-like operation over the JSON API: a data key for an object, then its Decrypt (blobs stay base64); checks the round trip. */
export function pairOp(call: KmsCall, keyId: string) {
  return async (i: number): Promise<void> => {
    const EncryptionContext = { 'aws:s3:arn': `arn:aws:s3:::bench-bucket/object-${i}` };
    const gdk = await call('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext });
    const dec = await call('Decrypt', { CiphertextBlob: gdk.CiphertextBlob, EncryptionContext });
    if (dec.Plaintext !== gdk.Plaintext) throw new Error(`Decrypt ${i} returned another data key`);
  };
}

interface Run {
  m: Measured<Float64Array>;
  reqPerSec: number;
}

async function run(pid: number, pairs: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Run> {
  await runOps(Math.min(WARMUP_PAIRS, pairs), concurrency, op);
  const m = await measure(pid, () => runOps(pairs, concurrency, op));
  return { m, reqPerSec: (2 * pairs) / m.seconds };
}

function latency(l: Float64Array): string {
  const sorted = Float64Array.from(l).sort();
  return `pair p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`;
}

/**
 * Benchmarks GenerateDataKey+Decrypt over HTTP (against opts.server or a server it
 * starts) and in-process (the KMS port on a KmsService it starts in this process). Returns
 * two rows for one scenario, variants `http` and `in-process` (prefixed with opts.label).
 */
export async function benchKms(opts: KmsBenchOptions = {}): Promise<Row[]> {
  const pairs = opts.pairs ?? (opts.quick ? 4_000 : 20_000);
  const concurrency = opts.concurrency ?? 32;
  const label = opts.label ? `${opts.label} ` : '';
  const rows: Row[] = [];

  // Over HTTP.
  const own = opts.server ? undefined : await startServer({ fsync: false });
  const server = opts.server ?? { url: own!.url, pid: own!.pid };
  const client = new RawKmsClient(server.url, concurrency);
  let httpRate: number | undefined;
  try {
    const created = await client.call('CreateKey', { Description: 'bench: SSE-KMS data keys' });
    const keyId = (created.KeyMetadata as { Arn: string }).Arn;
    const r = await run(server.pid, pairs, concurrency, pairOp(client.call, keyId));
    httpRate = r.reqPerSec;
    rows.push({
      scenario: SCENARIO,
      variant: `${label}http`,
      result: `${fmtInt(r.reqPerSec)} req/s (${fmtInt(pairs)} pairs, ${concurrency} in flight, ${r.m.seconds.toFixed(1)} s; ${latency(r.m.value)}; server ${(r.m.serverCpu * 100).toFixed(0)}% CPU, peak ${fmtMB(r.m.serverPeakRss)}; client ${(r.m.clientCpu * 100).toFixed(0)}% CPU)`,
      target: `≥ ${fmtInt(HTTP_TARGET)} req/s`,
      met: r.reqPerSec >= HTTP_TARGET,
      value: r.reqPerSec,
    });
  } catch (e) {
    rows.push(failed(`${label}http`, `≥ ${fmtInt(HTTP_TARGET)} req/s`, e));
  }
  try {
    rows.push(...(await benchAsymmetric(client.call, server.pid, Math.max(200, Math.floor(pairs / 10)), concurrency, label)));
  } catch (e) {
    rows.push({ ...failed(`${label}asymmetric`, '—', e), scenario: 'KMS asymmetric and HMAC' });
  } finally {
    client.close();
    await own?.stop();
  }

  // In-process, as S3 calls it.
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-kms-'));
  const target = httpRate === undefined ? `≥ ${IN_PROCESS_FACTOR}× http` : `≥ ${fmtInt(IN_PROCESS_FACTOR * httpRate)} req/s (${IN_PROCESS_FACTOR}× http)`;
  try {
    const config = loadConfig({ port: 0, dataDir: join(dir, 'data'), fsync: false, address: '127.0.0.1' }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET });
    const coffer = await startCoffer(config, pino({ level: 'warn' }));
    try {
      const caller: Caller = { principal: coffer.root.credential.principal, requestId: 'bench', secureTransport: false, viaService: 's3.us-east-1.amazonaws.com' };
      const port = new InProcessKms(coffer.kms);
      const keyId = await createKmsKey(new URL(coffer.url));
      const r = await run(process.pid, pairs, concurrency, async (i) => {
        const encryptionContext = { 'aws:s3:arn': `arn:aws:s3:::bench-bucket/object-${i}` };
        const dk = await port.generateDataKey({ caller, keyId, numberOfBytes: 32, encryptionContext });
        const dec = await port.decrypt({ caller, ciphertextBlob: dk.ciphertextBlob, encryptionContext });
        if (!dec.plaintext.equals(dk.plaintext)) throw new Error(`Decrypt ${i} returned another data key`);
      });
      rows.push({
        scenario: SCENARIO,
        variant: `${label}in-process`,
        result: `${fmtInt(r.reqPerSec)} req/s (${fmtInt(pairs)} pairs, ${concurrency} in flight, ${r.m.seconds.toFixed(1)} s; ${latency(r.m.value)}; process ${(r.m.serverCpu * 100).toFixed(0)}% CPU)`,
        target,
        met: httpRate === undefined ? undefined : r.reqPerSec >= IN_PROCESS_FACTOR * httpRate,
        value: r.reqPerSec,
      });
    } finally {
      await coffer.close();
    }
  } catch (e) {
    rows.push(failed(`${label}in-process`, target, e));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

function failed(variant: string, target: string, e: unknown): Row {
  const msg = e instanceof Error ? e.message : String(e);
  return { scenario: SCENARIO, variant, result: `error: ${msg.split('\n')[0]!.slice(0, 160)}`, target, met: false };
}
