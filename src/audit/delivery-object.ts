// One object of audit log delivery, as CloudTrail writes to S3 (docs/spec/audit-log.md):
// the records, one gzipped JSON object {"Records": [...]} at
//   <prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
// PUT through Coffer's own S3 API (self-s3.ts), so it gets the bucket's default encryption
// like any upload. Shared by single-node delivery (delivery.ts: position in a file) and the
// cluster's (pg-delivery.ts: position in the database), both a DeliveryJob: every interval
// a round; each keeps its own position and picks the key's unique part.

import { gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { PeriodicJob } from './periodic.js';

/** Records per delivered object at most; more make several objects in one round. */
export const MAX_RECORDS = 10_000;
/** Uncompressed bytes per object at most. */
export const MAX_BYTES = 32 * 1024 * 1024;

export interface DeliveryDestination {
  bucket: string;
  prefix?: string;
  accountId: string;
  region: string;
  /** Stores one object in the bucket (self-s3.ts's putOwnObject). */
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  log: Logger;
}

/** The settings of either delivery (app.ts builds them once for both). */
export interface DeliverySettings extends DeliveryDestination {
  intervalSeconds: number;
  /** Called before each round so the events recorded so far are where the round reads them (on disk; in the table). */
  beforeRead?: () => Promise<void>;
}

/** The object key of a log file delivered at `at` (CloudTrail's naming). */
export function deliveryKey(o: { prefix?: string; accountId: string; region: string }, at: Date, unique: string): string {
  const iso = at.toISOString();
  const [y, m, d] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
  const stamp = `${y}${m}${d}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
  const name = `${o.accountId}_CloudTrail_${o.region}_${stamp}_${unique}.json.gz`;
  return `${o.prefix ? o.prefix + '/' : ''}AWSLogs/${o.accountId}/CloudTrail/${o.region}/${y}/${m}/${d}/${name}`;
}

/** Writes delivery objects to one destination and warns of failures (once while its bucket is missing). */
export class DeliveryWriter {
  private warnedMissing = false;

  constructor(private readonly o: DeliveryDestination) {}

  /**
   * PUTs `records` (JSON texts of events) as one object at the key of (`at`, `unique`):
   * true once stored; false when the PUT failed (warned, to be retried at the next interval).
   */
  async write(records: readonly string[], at: Date, unique: string): Promise<boolean> {
    const { bucket, log } = this.o;
    const body = gzipSync(Buffer.from(`{"Records":[${records.join(',')}]}`));
    const key = deliveryKey(this.o, at, unique);
    try {
      await this.o.put(bucket, key, body);
    } catch (err) {
      if ((err as { code?: string }).code === 'NoSuchBucket') {
        if (!this.warnedMissing) log.warn({ bucket }, `the audit delivery bucket ${bucket} does not exist; create it (with default encryption) or change COFFER_AUDIT_BUCKET — retrying at the next interval`);
        this.warnedMissing = true;
      } else {
        log.warn({ err, bucket, key }, 'audit log delivery failed; retrying at the next interval');
      }
      return false;
    }
    this.warnedMissing = false;
    return true;
  }

  /** Reports a round that failed before or beside its PUTs (a periodic job's onError): 0 records delivered. */
  roundFailed(err: unknown): number {
    this.o.log.warn({ err, bucket: this.o.bucket }, 'audit log delivery failed; retrying at the next interval');
    return 0;
  }
}

/** A delivery: every interval (periodic.ts) a round, after beforeRead(), that writes objects through `writer`. */
export abstract class DeliveryJob extends PeriodicJob<number> {
  protected readonly writer: DeliveryWriter;
  private readonly beforeRead: (() => Promise<void>) | undefined;

  constructor(private readonly settings: DeliverySettings) {
    super({ intervalMs: settings.intervalSeconds * 1000 });
    this.writer = new DeliveryWriter(settings);
    this.beforeRead = settings.beforeRead;
  }

  /** One round now: the number of records delivered (0 when nothing was new or the round failed). */
  deliver(): Promise<number> {
    return this.runNow();
  }

  /** One round: the number of records delivered. */
  protected abstract round(): Promise<number>;

  /** `bucket` or `bucket/prefix`: the metric's label. */
  get destination(): string {
    return this.settings.prefix ? `${this.settings.bucket}/${this.settings.prefix}` : this.settings.bucket;
  }

  /**
   * The delivery lag (coffer_audit_delivery_lag_seconds): how long ago the oldest recorded
   * event not yet delivered happened, 0 when every event is delivered. Read at scrape time.
   */
  async lagSeconds(nowMs: number = Date.now()): Promise<number> {
    const oldest = await this.oldestUndelivered();
    return oldest === undefined ? 0 : Math.max(0, (nowMs - oldest) / 1000);
  }

  /** The eventTime (epoch ms) of the first event after the delivered position, if any. */
  protected abstract oldestUndelivered(): Promise<number | undefined>;

  protected async run(): Promise<number> {
    await this.beforeRead?.();
    return this.round();
  }

  protected failed(err: unknown): number {
    return this.writer.roundFailed(err);
  }
}
