// Metering: counts every KMS request — API calls and the calls S3 makes on a caller's
// behalf — by UTC hour, principal, key, bucket and operation, and the key-hours of
// customer managed keys (docs/METERING.md).
//
// The Meter is an AuditSink placed in front of the audit log (app.ts): every KMS use
// already reaches AuditSink.record (kms/audited.ts: the one path of API calls, of S3's
// calls through the KMS port and of refused bucket-key cache hits), so nothing is missed
// and nothing is counted twice. The hot path only increments a counter in a Map; a timer
// flushes the Map to the usage store about once a second and close() flushes the rest, so a crash loses at
// most the last second of counts.

import { eventSourceOf, type AuditEvent, type AuditSink } from '../audit/sink.js';
import type { KmsStore } from '../kms/store/types.js';
import { HOUR_MS, type UsageCount, type UsageStore } from './usage-store.js';
import { KEY_PAIR_OPERATIONS, PRICED_BY_KEY, priceClassOf, type PriceClass } from './prices.js';

/** A count whose price class is decided when it is written, from its key's spec. */
const BY_KEY = 'by-key';
type PendingClass = PriceClass | typeof BY_KEY;
type PendingCount = Omit<UsageCount, 'priceClass'> & { priceClass: PendingClass };

export const FLUSH_INTERVAL_MS = 1000;

/** What a request's bucket is taken from: S3's encryption context names the bucket or object. */
const S3_ARN = /^arn:aws:s3:::([^/]*)/;

/** Lifecycle operations after which the keys held are sampled again (a key created mid-hour counts for that hour). */
const KEY_CHANGES = new Set(['CreateKey', 'CancelKeyDeletion', 'RotateKeyOnDemand', 'ScheduleKeyDeletion', 'DeleteKey']);

/** Hooks for Prometheus (metrics.ts); absent when metrics are off. */
export interface MeterObserver {
  kmsRequest(e: AuditEvent, keyArn: string): void;
  forgetKey(keyArn: string): void;
  avoided(operation: string): void;
  flushed(rows: number, seconds: number, failed: boolean): void;
}

export interface MeterOptions {
  store: UsageStore;
  /** The sink events go on to (the audit log). */
  next: AuditSink;
  /** Keys to sample for key-hours. */
  keys: KmsStore;
  observer?: MeterObserver;
  onError?: (err: unknown, what: string) => void;
  now?: () => number;
}

/** Billable key units of a key: 1, plus 1 for each of its first two rotations (AWS since May 2024); none while pending deletion or AWS managed. */
export function keyUnits(k: { keyManager: string; state: string; currentVersion: number }): number {
  if (k.keyManager !== 'CUSTOMER' || k.state === 'PendingDeletion') return 0;
  return 1 + Math.min(Math.max(0, k.currentVersion - 1), 2);
}

export class Meter implements AuditSink {
  private pending = new Map<string, PendingCount>();
  /** Key specs by key ARN (they never change), for the price class of requests priced by their key. */
  private readonly specs = new Map<string, string>();
  /** The spec lookups under way, by key ARN. */
  private readonly specLookups = new Map<string, Promise<string | undefined>>();
  private readonly timer: NodeJS.Timeout;
  private hourTimer: NodeJS.Timeout | undefined;
  private sampleAgain = true;
  private sampling: Promise<void> | undefined;
  /** The flushes queued so far: one write to the store at a time, and close() waits for the last. */
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly opts: MeterOptions) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.tick(), FLUSH_INTERVAL_MS);
    this.timer.unref();
    this.scheduleHourly();
  }

  /** The hot path: one Map update, then the event goes on. */
  record(e: AuditEvent): Promise<void> {
    try {
      this.count(e);
    } catch (err) {
      // Metering must never fail a KMS request, nor keep its event from the audit log.
      this.opts.onError?.(err, 'counting a KMS request');
    }
    return this.opts.next.record(e);
  }

  checkWritable(): void {
    this.opts.next.checkWritable();
  }

  private count(e: AuditEvent): void {
    // IAM and STS management events share the sink chain to the audit log; they are no KMS requests.
    if (eventSourceOf(e) !== 'kms.amazonaws.com') return;
    // What KMS does by itself (scheduled deletion, automatic rotation) is not a request anyone makes or pays for.
    if (e.eventType === 'AwsServiceEvent') {
      if (e.eventName === 'DeleteKey' || e.eventName === 'RotateKey') this.sampleAgain = true;
      if (e.eventName === 'DeleteKey') for (const r of e.resources) this.opts.observer?.forgetKey(r.ARN);
      return;
    }
    const keyArn = e.resources[0]?.ARN ?? '';
    const bucket = e.caller.viaService ? bucketOf(e.requestParameters.encryptionContext) : '';
    // The price class: a data key pair's from its spec now; a request priced by its key's
    // spec when it is written (write(): the spec is one store read per key, then cached).
    const priceClass: PendingClass = KEY_PAIR_OPERATIONS.has(e.eventName)
      ? priceClassOf(e.eventName, undefined, e.requestParameters.keyPairSpec)
      : PRICED_BY_KEY.has(e.eventName) && keyArn !== '' ? BY_KEY : 'symmetric';
    const c = this.counter(e.caller.principal.arn, keyArn, bucket, e.eventName, undefined, priceClass);
    c.requests++;
    if (e.errorCode !== undefined) c.errors++;
    else if (KEY_CHANGES.has(e.eventName)) this.sampleAgain = true;
    this.opts.observer?.kmsRequest(e, keyArn);
  }

  /**
   * An object data key derived from a cached bucket key: the KMS request `operation`
   * (GenerateDataKey or Decrypt) that bucket keys saved.
   */
  avoided(principal: string, keyArn: string, context: Record<string, string>, operation: string): void {
    this.counter(principal, keyArn, bucketOf(context), operation).avoided++;
    this.opts.observer?.avoided(operation);
  }

  /** The pending count of one group; `hour` defaults to the current UTC hour. */
  private counter(principal: string, keyArn: string, bucket: string, operation: string, hour = Math.floor(this.now() / HOUR_MS) * HOUR_MS, priceClass: PendingClass = 'symmetric'): PendingCount {
    const id = `${hour}\u0000${principal}\u0000${keyArn}\u0000${bucket}\u0000${operation}\u0000${priceClass}`;
    let c = this.pending.get(id);
    if (c === undefined) {
      c = { hour, principal, keyArn, bucket, operation, requests: 0, errors: 0, avoided: 0, priceClass };
      this.pending.set(id, c);
    }
    return c;
  }

  /** Counts not yet written. */
  get pendingRows(): number {
    return this.pending.size;
  }

  /** Writes the counts gathered so far to the usage store (all or none); a failed write keeps them for the next. */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.write());
    this.flushing = run.catch(() => undefined); // a throwing onError must not stop later flushes
    return run;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending = new Map();
    const t0 = performance.now();
    try {
      await this.opts.store.add(await Promise.all(rows.map((r) => this.priced(r))));
      this.opts.observer?.flushed(rows.length, (performance.now() - t0) / 1000, false);
    } catch (err) {
      // Keep the counts for the next attempt rather than lose them (e.g. SQLITE_BUSY from a long reader),
      // each under its own hour: the retry may come after the hour has turned.
      for (const r of rows) {
        const c = this.counter(r.principal, r.keyArn, r.bucket, r.operation, r.hour, r.priceClass);
        c.requests += r.requests;
        c.errors += r.errors;
        c.avoided += r.avoided;
      }
      this.opts.observer?.flushed(0, (performance.now() - t0) / 1000, true);
      this.opts.onError?.(err, 'writing usage counts');
    }
  }

  /** The row with its price class; a request priced by its key looks the key's spec up (a deleted key's requests stay symmetric). */
  private async priced(r: PendingCount): Promise<UsageCount> {
    if (r.priceClass !== BY_KEY) return r as UsageCount;
    const spec = this.specs.get(r.keyArn) ?? (await this.lookUpSpec(r.keyArn));
    return { ...r, priceClass: priceClassOf(r.operation, spec) };
  }

  /**
   * A key's spec from the key store, once for all the rows that ask while it is read (a
   * flush prices its rows at once). A key store that cannot answer must not cost the
   * counts: the requests are then priced as symmetric.
   */
  private lookUpSpec(keyArn: string): Promise<string | undefined> {
    let lookup = this.specLookups.get(keyArn);
    if (lookup === undefined) {
      lookup = Promise.resolve()
        .then(() => this.opts.keys.getKey(keyArn.slice(keyArn.lastIndexOf('/') + 1)))
        .then(
          (key) => {
            if (key === undefined) return undefined;
            if (this.specs.size > 100_000) this.specs.clear();
            this.specs.set(keyArn, key.keySpec);
            return key.keySpec;
          },
          (err: unknown) => {
            this.opts.onError?.(err, 'looking up a key spec for pricing');
            return undefined;
          },
        )
        .finally(() => this.specLookups.delete(keyArn));
      this.specLookups.set(keyArn, lookup);
    }
    return lookup;
  }

  /** Brings the usage store up to date: a due key sample taken, the counts so far written (the usage route reads after this). */
  async sync(): Promise<void> {
    if (this.sampling) await this.sampling;
    if (this.sampleAgain) await this.sampleKeys();
    await this.flush();
  }

  private tick(): void {
    void this.flush();
    if (this.sampleAgain) void this.sampleKeys();
  }

  private scheduleHourly(): void {
    const now = this.now();
    const next = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
    this.hourTimer = setTimeout(() => {
      this.sampleAgain = true;
      this.tick();
      if (!this.closed) this.scheduleHourly();
    }, next - now + 50);
    this.hourTimer.unref();
  }

  /** Records the key units held in the current hour (every customer managed key not pending deletion). */
  sampleKeys(): Promise<void> {
    if (this.sampling) return this.sampling;
    this.sampleAgain = false;
    this.sampling = (async () => {
      try {
        const hour = Math.floor(this.now() / HOUR_MS) * HOUR_MS;
        const held: { keyArn: string; units: number }[] = [];
        let after: Parameters<KmsStore['listKeys']>[0];
        for (;;) {
          const page = await this.opts.keys.listKeys(after, 1000);
          for (const k of page) {
            const units = keyUnits(k);
            if (units > 0) held.push({ keyArn: k.arn, units });
          }
          if (page.length < 1000) break;
          const last = page[page.length - 1]!;
          after = { creationDate: last.creationDate, keyId: last.keyId };
        }
        if (!this.closed) await this.opts.store.recordKeyHours(hour, held);
      } catch (err) {
        this.sampleAgain = true;
        this.opts.onError?.(err, 'sampling the keys held');
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }

  /** Flushes what is left; the store stays open (its owner closes it). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.hourTimer) clearTimeout(this.hourTimer);
    if (this.sampling) await this.sampling;
    if (this.sampleAgain) await this.sampleKeys();
    this.closed = true;
    await this.flush();
  }
}

function bucketOf(context: unknown): string {
  if (typeof context !== 'object' || context === null) return '';
  const arn = (context as Record<string, unknown>)['aws:s3:arn'];
  if (typeof arn !== 'string') return '';
  return S3_ARN.exec(arn)?.[1] ?? '';
}
