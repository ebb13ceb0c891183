// Prometheus metrics at GET /metrics (text exposition, unsigned like the console's
// pages: keep the port private or scrape over loopback). Each server has its own
// prom-client Registry, never the global one, so several servers in one process (tests)
// keep their numbers apart. Names and labels are listed in docs/METERING.md and
// README.md; a test scrapes them.
//
// Cost per S3 request: one 'close' listener and a few additions to plain numbers kept
// per operation (S3Tally); they become Prometheus series only when /metrics is scraped.
// prom-client's own metrics hash their labels on every increment, which is fine for the
// KMS counters (a KMS request costs far more) but not for every S3 request.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PageHandler } from '../http/pages.js';
import { eventSourceOf, type AuditEvent, type AuditSink } from '../audit/sink.js';
import type { KmsStore } from '../kms/store/types.js';
import type { MeterObserver } from './meter.js';

/** Where the bucket-key cache counts its hits and misses (s3/sse/bucket-keys.ts BucketKeyCache.stats). */
export interface BucketKeyStats {
  generated: number;
  reusedForWrite: number;
  decrypted: number;
  reusedForRead: number;
}

export interface MetricsOptions {
  kmsStore: KmsStore;
  bucketKeyStats?: () => BucketKeyStats;
  /** Metering's counts waiting for the next flush (absent when metering is off). */
  pendingRows?: () => number;
  /** Objects and bytes per bucket, from the metadata store's counters (read at scrape time). */
  bucketUsage?: () => Promise<ReadonlyArray<{ bucket: string; objects: number; bytes: number }>>;
  /** Free and total bytes of the data directory's file system (statfs at scrape time). */
  volume?: () => Promise<{ freeBytes: number; totalBytes: number }>;
  /** Whether this node is the job leader now (cluster/job-leader.ts). */
  leading?: () => boolean;
  /** Audit delivery to a bucket, when it runs on this node (on a cluster: the leader): its destination and lag. */
  auditDelivery?: () => { destination: string; active: boolean; lagSeconds(): Promise<number> } | undefined;
}

/** What the S3 handler fills in while it serves one request (s3/handler.ts). */
export interface S3Probe {
  op: string;
}

/** Operations after which a key's state may differ from the one remembered. */
const STATE_CHANGES = new Set(['CreateKey', 'EnableKey', 'DisableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion']);

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What one S3 operation has done so far, in plain numbers. */
interface OpTally {
  /** Requests by HTTP status. */
  statuses: Map<number, number>;
  /** Non-cumulative counts per LATENCY_BUCKETS entry, the last one for +Inf. */
  buckets: Float64Array;
  seconds: number;
  count: number;
  received: number;
  sent: number;
}

type Sample = { metricName?: string; labels: Record<string, string | number>; value: number };

/**
 * A metric of plain tallies in the shape prom-client's Registry formats. Its types want one
 * of prom-client's metric classes (hence `as never` at registerMetric); the Registry only
 * reads name, help, type, get() and calls reset().
 */
function tallyMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => Sample[]) {
  return {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    async get() {
      return { name, help, type, aggregator: 'sum' as const, values: values() };
    },
    reset() {},
  };
}

export class CofferMetrics implements MeterObserver {
  readonly registry = new Registry();
  private readonly ops = new Map<string, OpTally>();
  /** KMS series by a caller-built id: labels kept once, the value a plain number. */
  private readonly kmsRequests = new Map<string, Sample>();
  private readonly kmsErrors = new Map<string, Sample>();
  /** Key ARN -> state, looked up once and again after any request that may change it. */
  private readonly keyStates = new Map<string, string>();
  private readonly avoidedTotal: Counter<'operation'>;
  private readonly flushes: Counter<'result'>;
  private readonly flushedRows: Counter;
  private readonly flushSeconds: Histogram;
  private readonly lifecycleActions: Counter<'action'>;

  constructor(private readonly opts: MetricsOptions) {
    const registers = [this.registry];
    const ops = this.ops;
    const each = <T>(f: (op: string, t: OpTally) => T[]) => [...ops].flatMap(([op, t]) => f(op, t));
    this.registry.registerMetric(tallyMetric('coffer_s3_requests_total', 'S3 requests answered, by operation and HTTP status', 'counter',
      () => each((operation, t) => [...t.statuses].map(([status, value]) => ({ labels: { operation, status }, value })))) as never);
    this.registry.registerMetric(tallyMetric('coffer_s3_request_duration_seconds', 'Time from the request to the end of the response, by S3 operation', 'histogram',
      () => each((operation, t) => {
        const out: Sample[] = [];
        let acc = 0;
        for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
          acc += t.buckets[i]!;
          out.push({ metricName: 'coffer_s3_request_duration_seconds_bucket', labels: { le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : '+Inf', operation }, value: acc });
        }
        out.push({ metricName: 'coffer_s3_request_duration_seconds_sum', labels: { operation }, value: t.seconds });
        out.push({ metricName: 'coffer_s3_request_duration_seconds_count', labels: { operation }, value: t.count });
        return out;
      })) as never);
    this.registry.registerMetric(tallyMetric('coffer_s3_received_bytes_total', 'Request body bytes (Content-Length) received, by S3 operation', 'counter',
      () => each((operation, t) => [{ labels: { operation }, value: t.received }])) as never);
    this.registry.registerMetric(tallyMetric('coffer_s3_sent_bytes_total', 'Response body bytes (Content-Length) sent, by S3 operation', 'counter',
      () => each((operation, t) => [{ labels: { operation }, value: t.sent }])) as never);
    const kmsRequests = this.kmsRequests;
    const kmsErrors = this.kmsErrors;
    this.registry.registerMetric(tallyMetric('coffer_kms_requests_total', 'KMS requests (API calls and S3 calls on a caller\'s behalf), by operation, state of the key and caller path', 'counter',
      () => [...kmsRequests.values()].map((x) => ({ ...x }))) as never);
    this.registry.registerMetric(tallyMetric('coffer_kms_errors_total', 'KMS requests that failed, by operation, state of the key and error code', 'counter',
      () => [...kmsErrors.values()].map((x) => ({ ...x }))) as never);
    const stats = opts.bucketKeyStats;
    const seen = { hitWrite: 0, hitRead: 0, missWrite: 0, missRead: 0 };
    new Counter({
      name: 'coffer_bucket_key_cache_hits_total', help: 'Object data keys derived from a cached bucket key (no KMS request), by use', labelNames: ['use'], registers,
      collect() {
        if (!stats) return;
        const s = stats();
        this.inc({ use: 'write' }, s.reusedForWrite - seen.hitWrite);
        this.inc({ use: 'read' }, s.reusedForRead - seen.hitRead);
        seen.hitWrite = s.reusedForWrite;
        seen.hitRead = s.reusedForRead;
      },
    });
    new Counter({
      name: 'coffer_bucket_key_cache_misses_total', help: 'Bucket keys fetched from KMS (GenerateDataKey for writes, Decrypt for reads), by use', labelNames: ['use'], registers,
      collect() {
        if (!stats) return;
        const s = stats();
        this.inc({ use: 'write' }, s.generated - seen.missWrite);
        this.inc({ use: 'read' }, s.decrypted - seen.missRead);
        seen.missWrite = s.generated;
        seen.missRead = s.decrypted;
      },
    });
    this.avoidedTotal = new Counter({ name: 'coffer_metering_requests_avoided_total', help: 'KMS requests saved by bucket keys, as metering counts them, by the operation avoided', labelNames: ['operation'], registers });
    this.lifecycleActions = new Counter({ name: 'coffer_lifecycle_actions_total', help: 'What lifecycle rules did, by action: expire (a current object deleted), marker (a delete marker added), noncurrent (a noncurrent version deleted), delete-marker (an expired delete marker removed), upload (an upload aborted)', labelNames: ['action'], registers });
    // Every action's series from the start, at 0: a rate over a counter that appears late misses its first increase.
    for (const action of ['expire', 'marker', 'noncurrent', 'delete-marker', 'upload']) this.lifecycleActions.inc({ action }, 0);
    this.flushes = new Counter({ name: 'coffer_metering_flushes_total', help: 'Writes of usage counts to usage.sqlite, by result', labelNames: ['result'], registers });
    this.flushedRows = new Counter({ name: 'coffer_metering_flushed_rows_total', help: 'Usage rows (hour, principal, key, bucket, operation) written to usage.sqlite', registers });
    this.flushSeconds = new Histogram({ name: 'coffer_metering_flush_duration_seconds', help: 'Time one flush of usage counts takes', buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers });
    const pending = opts.pendingRows;
    new Gauge({
      name: 'coffer_metering_pending_rows', help: 'Usage rows counted in memory, not yet flushed', registers,
      collect() {
        this.set(pending ? pending() : 0);
      },
    });
    const leading = opts.leading;
    if (leading) {
      new Gauge({
        name: 'coffer_cluster_leader', help: '1 while this node is the job leader (runs the KMS scheduler, the storage sweeper, lifecycle), else 0', registers,
        collect() {
          this.set(leading() ? 1 : 0);
        },
      });
    }
    const delivery = opts.auditDelivery;
    if (delivery) {
      new Gauge({
        name: 'coffer_audit_delivery_lag_seconds', help: 'Age of the oldest audit event not yet delivered to COFFER_AUDIT_BUCKET (0: all delivered), by destination; on a cluster, on the job leader only', labelNames: ['destination'], registers,
        async collect() {
          this.reset();
          const d = delivery();
          if (d?.active) this.set({ destination: d.destination }, await d.lagSeconds());
        },
      });
    }
    // Node's process and runtime metrics (CPU, memory, event loop lag, GC, handles), unprefixed as usual.
    collectDefaultMetrics({ register: this.registry });
    const usage = opts.bucketUsage;
    if (usage) {
      // One read of the counters per scrape serves both gauges.
      let last: Promise<ReadonlyArray<{ bucket: string; objects: number; bytes: number }>> | undefined;
      const read = () => (last ??= usage().finally(() => setImmediate(() => (last = undefined))));
      new Gauge({
        name: 'coffer_bucket_objects', help: 'Objects stored, by bucket', labelNames: ['bucket'], registers,
        async collect() {
          this.reset();
          for (const u of await read()) this.set({ bucket: u.bucket }, u.objects);
        },
      });
      new Gauge({
        name: 'coffer_bucket_bytes', help: 'Bytes of object data stored (object sizes, before encryption overhead), by bucket', labelNames: ['bucket'], registers,
        async collect() {
          this.reset();
          for (const u of await read()) this.set({ bucket: u.bucket }, u.bytes);
        },
      });
    }
    const volume = opts.volume;
    if (volume) {
      new Gauge({
        name: 'coffer_data_volume_free_bytes', help: 'Bytes available to Coffer on the data directory\'s file system', registers,
        async collect() {
          this.set((await volume()).freeBytes);
        },
      });
      new Gauge({
        name: 'coffer_data_volume_total_bytes', help: 'Size of the data directory\'s file system in bytes', registers,
        async collect() {
          this.set((await volume()).totalBytes);
        },
      });
    }
  }

  /** Starts observing one S3 request; the handler sets probe.op once the request is routed. */
  /** One lifecycle action (s3/lifecycle/worker.ts). */
  readonly lifecycleAction = (action: string): void => {
    this.lifecycleActions.inc({ action });
  };

  begin(req: IncomingMessage, res: ServerResponse): S3Probe {
    const t0 = performance.now();
    const probe: S3Probe = { op: 'Unrouted' };
    res.once('close', () => {
      const t = this.tally(probe.op);
      const seconds = (performance.now() - t0) / 1000;
      let i = 0;
      while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
      t.buckets[i]!++;
      t.seconds += seconds;
      t.count++;
      const inLen = Number(req.headers['content-length']);
      if (inLen > 0) t.received += inLen;
      const finished = res.writableFinished;
      if (finished && req.method !== 'HEAD') {
        const outLen = Number(res.getHeader('content-length'));
        if (outLen > 0) t.sent += outLen;
      }
      const status = finished ? res.statusCode : 0; // 0: the connection closed before the response ended
      t.statuses.set(status, (t.statuses.get(status) ?? 0) + 1);
    });
    return probe;
  }

  private tally(op: string): OpTally {
    let t = this.ops.get(op);
    if (t === undefined) {
      t = { statuses: new Map(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), seconds: 0, count: 0, received: 0, sent: 0 };
      this.ops.set(op, t);
    }
    return t;
  }

  kmsRequest(e: AuditEvent, keyArn: string): void {
    const known = keyArn === '' ? 'None' : this.keyStates.get(keyArn);
    // The common case (a known key, an operation that leaves its state alone) is counted at once.
    if (known !== undefined && !STATE_CHANGES.has(e.eventName)) {
      this.countKms(e, known);
      return;
    }
    // Otherwise the state after the request, from the store (which caches key records in memory).
    this.opts.kmsStore.getKey(keyArn.slice(keyArn.lastIndexOf('/') + 1)).then(
      (k) => {
        const state = k?.state ?? 'Deleted';
        if (k) this.keyStates.set(keyArn, state);
        else this.keyStates.delete(keyArn);
        this.countKms(e, state);
      },
      () => this.countKms(e, 'Unknown'),
    );
  }

  private countKms(e: AuditEvent, state: string): void {
    const via = e.caller.viaService ? 's3' : 'api';
    const id = `${e.eventName}\u0000${state}\u0000${via}`;
    const r = this.kmsRequests.get(id);
    if (r) r.value++;
    else this.kmsRequests.set(id, { labels: { operation: e.eventName, key_state: state, via }, value: 1 });
    if (e.errorCode === undefined) return;
    const eid = `${e.eventName}\u0000${state}\u0000${e.errorCode}`;
    const x = this.kmsErrors.get(eid);
    if (x) x.value++;
    else this.kmsErrors.set(eid, { labels: { operation: e.eventName, key_state: state, code: e.errorCode }, value: 1 });
  }

  /** A key deleted by the scheduler (no request): its state must be looked up again. */
  forgetKey(keyArn: string): void {
    this.keyStates.delete(keyArn);
  }

  avoided(operation: string): void {
    this.avoidedTotal.inc({ operation });
  }

  flushed(rows: number, seconds: number, failed: boolean): void {
    this.flushes.inc({ result: failed ? 'error' : 'ok' });
    if (rows > 0) this.flushedRows.inc(rows);
    this.flushSeconds.observe(seconds);
  }

  /** GET/HEAD /metrics: the text exposition format. */
  readonly page: PageHandler = async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return false;
    const body = await this.registry.metrics();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

/** With metering off, KMS requests still reach the metrics: counts them, then hands the event on. */
export function observeKms(next: AuditSink, metrics: CofferMetrics): AuditSink {
  return {
    record(e) {
      if (eventSourceOf(e) !== 'kms.amazonaws.com') return next.record(e); // IAM and STS events are not KMS requests
      if (e.eventType !== 'AwsServiceEvent') metrics.kmsRequest(e, e.resources[0]?.ARN ?? '');
      else if (e.eventName === 'DeleteKey') for (const r of e.resources) metrics.forgetKey(r.ARN);
      return next.record(e);
    },
    checkWritable: () => next.checkWritable(),
  };
}
