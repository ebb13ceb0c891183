// The benchmark scenarios. Each one drives a running server and returns table rows;
// objects it makes large are deleted afterwards so disk use stays bounded.

import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { repeatedStream, MiB } from './body.js';
import { cpuPerOp, measure, percentile, runOps, type Measured } from './measure.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { fmtInt, fmtMB, fmtSize, type Row } from './report.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './server-process.js';

export interface Sizes {
  /** Object size for the single and ×4 streaming scenarios. */
  stream: number;
  /** Object size for the peak-memory scenario. */
  big: number;
  smallOps: number;
  smallSize: number;
  smallConcurrency: number;
  parallelStreams: number;
}

export interface Ctx {
  url: URL;
  pid: number;
  variant: string;
  sizes: Sizes;
  client: RawS3Client;
  bucket: string;
}

const MEMORY_LIMIT = 250e6;

export function usage(m: Measured<unknown>): string {
  return `server ${(m.serverCpu * 100).toFixed(0)}% CPU, peak ${fmtMB(m.serverPeakRss)}; client ${(m.clientCpu * 100).toFixed(0)}% CPU`;
}

function throughputRow(ctx: Ctx, scenario: string, bytes: number, m: Measured<unknown>, targetMiBs?: number): Row {
  const mibs = bytes / MiB / m.seconds;
  return {
    scenario,
    variant: ctx.variant,
    result: `${fmtInt(mibs)} MiB/s (${m.seconds.toFixed(1)} s; ${usage(m)})`,
    target: targetMiBs === undefined ? '—' : `≥ ${targetMiBs} MiB/s`,
    met: targetMiBs === undefined ? undefined : mibs >= targetMiBs,
    value: mibs,
  };
}

export function errorRow(ctx: Pick<Ctx, 'variant'>, scenario: string, target: string, e: unknown): Row {
  const msg = e instanceof Error ? e.message : String(e);
  return { scenario, variant: ctx.variant, result: `error: ${msg.split('\n')[0]!.slice(0, 160)}`, target, met: target === '—' ? undefined : false };
}

/** Runs `body`, turning a failure into an error row so one broken scenario does not hide the rest. */
async function guarded(ctx: Ctx, scenarios: [string, string][], body: () => Promise<Row[]>): Promise<Row[]> {
  try {
    return await body();
  } catch (e) {
    process.stderr.write(`bench: ${ctx.variant}: ${scenarios[0]![0]} failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    return scenarios.map(([s, t]) => errorRow(ctx, s, t, e));
  }
}

/** PUT then GET of one object of `sizes.stream` bytes, single stream each. */
export async function singleStream(ctx: Ctx): Promise<Row[]> {
  const size = ctx.sizes.stream;
  const put = `PUT ${fmtSize(size)}, 1 stream (raw, UNSIGNED-PAYLOAD)`;
  const get = `GET ${fmtSize(size)}, 1 stream`;
  return guarded(ctx, [[put, '≥ 250 MiB/s'], [get, '≥ 500 MiB/s']], async () => {
    const key = 'stream/single';
    const p = await measure(ctx.pid, () => ctx.client.putStream(ctx.bucket, key, size));
    const rows = [throughputRow(ctx, put, size, p, 250)];
    try {
      const g = await measure(ctx.pid, () => ctx.client.get(ctx.bucket, key, size));
      rows.push(throughputRow(ctx, get, size, g, 500));
    } catch (e) {
      rows.push(errorRow(ctx, get, '≥ 500 MiB/s', e));
    }
    await ctx.client.delete(ctx.bucket, key);
    return rows;
  });
}

/** PUT then GET of `parallelStreams` objects at once; aggregate throughput. */
export async function parallelStreams(ctx: Ctx): Promise<Row[]> {
  const { stream: size, parallelStreams: n } = ctx.sizes;
  const put = `PUT ${fmtSize(size)} ×${n} parallel (aggregate)`;
  const get = `GET ${fmtSize(size)} ×${n} parallel (aggregate)`;
  return guarded(ctx, [[put, '—'], [get, '—']], async () => {
    const keys = Array.from({ length: n }, (_, i) => `stream/parallel-${i}`);
    try {
      const p = await measure(ctx.pid, () => Promise.all(keys.map((k) => ctx.client.putStream(ctx.bucket, k, size))));
      const rows = [throughputRow(ctx, put, size * n, p)];
      try {
        const g = await measure(ctx.pid, () => Promise.all(keys.map((k) => ctx.client.get(ctx.bucket, k, size))));
        rows.push(throughputRow(ctx, get, size * n, g));
      } catch (e) {
        rows.push(errorRow(ctx, get, '—', e));
      }
      return rows;
    } finally {
      await Promise.all(keys.map((k) => ctx.client.delete(ctx.bucket, k).catch(() => undefined)));
    }
  });
}

/** One PutObject through a stock S3Client: its default flexible checksum (CRC32) as an aws-chunked trailer. */
export async function sdkDefaultPut(ctx: Ctx): Promise<Row[]> {
  const size = ctx.sizes.stream;
  const scenario = `PUT ${fmtSize(size)}, AWS SDK v3 defaults`;
  return guarded(ctx, [[scenario, '—']], async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const sdk = new S3Client({
      endpoint: ctx.url.origin,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    });
    // Record what the SDK actually sent, so the row says what "default" meant.
    let sent = '';
    sdk.middlewareStack.add(
      (next) => async (args) => {
        const h = (args.request as { headers?: Record<string, string> }).headers ?? {};
        sent = [h['x-amz-content-sha256'], h['x-amz-trailer'] && `trailer ${h['x-amz-trailer']}`, h['content-encoding']].filter(Boolean).join(', ');
        return next(args);
      },
      { step: 'deserialize', name: 'benchRecordHeaders' },
    );
    const key = 'stream/sdk';
    try {
      const m = await measure(ctx.pid, () => sdk.send(new PutObjectCommand({ Bucket: ctx.bucket, Key: key, Body: repeatedStream(size), ContentLength: size })));
      const row = throughputRow(ctx, scenario, size, m);
      row.result += ` [sent: ${sent}]`;
      return [row];
    } finally {
      await ctx.client.delete(ctx.bucket, key).catch(() => undefined);
      sdk.destroy();
      agent.destroy();
    }
  });
}

function opsRow(ctx: Ctx, scenario: string, lat: Float64Array, m: Measured<unknown>, target: number): Row {
  const sorted = Float64Array.from(lat).sort();
  const ops = lat.length / m.seconds;
  return {
    scenario,
    variant: ctx.variant,
    result: `${fmtInt(ops)} ops/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (${usage(m)})`,
    target: `≥ ${fmtInt(target)} ops/s`,
    met: ops >= target,
    value: ops,
  };
}

/** Small-object PUTs then GETs of the same keys, a fixed number of each, `smallConcurrency` in flight. */
export async function smallObjects(ctx: Ctx): Promise<Row[]> {
  const { smallOps: n, smallSize, smallConcurrency: c } = ctx.sizes;
  const put = `PUT ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight`;
  const get = `GET ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight`;
  return guarded(ctx, [[put, '≥ 3,000 ops/s'], [get, '≥ 5,000 ops/s']], async () => {
    const body = randomBytes(smallSize);
    const hash = payloadHash(body);
    const key = (i: number) => `small/${i % 100}/obj-${i}`;
    // Warm up both paths (JIT, SQLite caches) on keys outside the measured set.
    const warm = Math.min(500, n);
    await runOps(warm, c, (i) => ctx.client.putSmall(ctx.bucket, `warm/${i}`, body, hash));
    await runOps(warm, c, (i) => ctx.client.get(ctx.bucket, `warm/${i}`, smallSize).then(() => undefined));

    const p = await measure(ctx.pid, () => runOps(n, c, (i) => ctx.client.putSmall(ctx.bucket, key(i), body, hash)));
    const rows = [opsRow(ctx, put, p.value, p, 3000)];
    const g = await measure(ctx.pid, () => runOps(n, c, (i) => ctx.client.get(ctx.bucket, key(i), smallSize).then(() => undefined)));
    rows.push(opsRow(ctx, get, g.value, g, 5000));
    return rows;
  });
}

/** Peak server RSS while one `sizes.big` object streams in, then out. */
export async function peakMemory(ctx: Ctx, idleRss: number): Promise<Row[]> {
  const size = ctx.sizes.big;
  const put = `peak server RSS, PUT ${fmtSize(size)}`;
  const get = `peak server RSS, GET ${fmtSize(size)}`;
  const target = '< 250 MB';
  const row = (scenario: string, m: Measured<unknown>): Row => ({
    scenario,
    variant: ctx.variant,
    result: `${fmtMB(m.serverPeakRss)} (idle ${fmtMB(idleRss)}; ${fmtInt(size / MiB / m.seconds)} MiB/s, server ${(m.serverCpu * 100).toFixed(0)}% CPU)`,
    target,
    met: m.serverPeakRss < MEMORY_LIMIT,
    value: m.serverPeakRss,
    lowerIsBetter: true,
  });
  return guarded(ctx, [[put, target], [get, target]], async () => {
    const key = 'stream/big';
    try {
      const p = await measure(ctx.pid, () => ctx.client.putStream(ctx.bucket, key, size));
      const rows = [row(put, p)];
      try {
        const g = await measure(ctx.pid, () => ctx.client.get(ctx.bucket, key, size));
        rows.push(row(get, g));
      } catch (e) {
        rows.push(errorRow(ctx, get, target, e));
      }
      return rows;
    } finally {
      await ctx.client.delete(ctx.bucket, key).catch(() => undefined);
    }
  });
}

/** One variant's small-operation row: rate, latency percentiles and server CPU per operation. */
export function cpuOpsRow(scenario: string, variant: string, m: Measured<Float64Array>, unit = 'op'): Row {
  const sorted = Float64Array.from(m.value).sort();
  const ops = m.value.length / m.seconds;
  return {
    scenario,
    variant,
    result: `${fmtInt(ops)} ops/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, server ${fmtInt(cpuPerOp(m))} µs CPU/${unit} (${usage(m)})`,
    target: '—',
    value: ops,
  };
}
