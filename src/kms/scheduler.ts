// What the KMS does by itself, on a timer: deletes keys whose deletion date has passed,
// rotates the material of keys whose automatic rotation is due, and deletes imported key
// material whose ValidTo has passed (the key is PendingImport until it is imported again). Each action is
// audited as CloudTrail records KMS's own events (AwsServiceEvent, invokedBy
// kms.amazonaws.com). A failure on one key is logged and the sweep goes on; nothing
// here may crash the process.

import { randomUUID } from 'node:crypto';
import type { Caller, KmsService } from './service.js';
import { KmsStoreConflict, type KmsKeyRecord } from './store/types.js';
import { DAY_MS, DEFAULT_ROTATION_PERIOD_DAYS, rotateKeyMaterial } from './ops/rotation.js';
import { deleteMaterialVersion } from './ops/import.js';

export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** The first sweep after start: soon, so deletions that fell due while Coffer was down happen promptly. */
const FIRST_SWEEP_DELAY_MS = 1_000;

export interface SweepResult {
  /** Key ids deleted. */
  deleted: string[];
  /** Key ids rotated. */
  rotated: string[];
  /** Key ids whose imported material expired and was deleted. */
  expired: string[];
  /** Key ids whose action failed (logged). */
  failed: string[];
}

export interface KmsSchedulerOptions {
  intervalMs?: number;
  /**
   * Marks a sweep as work in flight (returns its end): a rotation seals new key material under
   * the root key, so an online root-key rotation waits for a sweep begun before its switch as
   * it waits for requests (http/in-flight.ts).
   */
  track?: () => () => void;
}

export class KmsScheduler {
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  /** Sweeps run one at a time: a timer tick and runOnce() never overlap. */
  private running: Promise<unknown> = Promise.resolve();
  private readonly intervalMs: number;
  private readonly track: (() => () => void) | undefined;
  /** Grows at each stop(): a sweep in flight takes no further action once it has (a node that lost the job leadership stops mid-sweep). */
  private generation = 0;

  constructor(private readonly svc: KmsService, opts: KmsSchedulerOptions = {}) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    this.track = opts.track;
  }

  start(): void {
    if (this.timer) return;
    // A tick waits for the sweep before it; if stop() came in between, it does nothing.
    const tick = (): void => {
      const run = this.running.then(() => (this.timer ? this.sweep(this.svc.now()) : undefined));
      this.running = run.catch(() => undefined);
      void run.catch((err) => this.svc.log.error({ err }, 'kms sweep failed'));
    };
    this.first = setTimeout(tick, Math.min(FIRST_SWEEP_DELAY_MS, this.intervalMs));
    this.first.unref();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.generation++;
    if (this.first) clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
    this.first = undefined;
    this.timer = undefined;
  }

  /** One sweep as of `now` (epoch ms; default the service's clock). Never rejects. */
  runOnce(now: number = this.svc.now()): Promise<SweepResult> {
    const run = this.running.then(() => this.sweep(now));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async sweep(now: number): Promise<SweepResult> {
    const done = this.track?.();
    try {
      return await this.sweepTracked(now);
    } finally {
      done?.();
    }
  }

  private async sweepTracked(now: number): Promise<SweepResult> {
    const result: SweepResult = { deleted: [], rotated: [], expired: [], failed: [] };
    const generation = this.generation;
    const go = () => this.generation === generation;
    await this.each('list keys due for deletion', () => this.svc.store.dueForDeletion(now), result, (key) => this.deleteKey(key, result), go);
    await this.each('list keys due for rotation', () => this.svc.store.dueForRotation(now), result, (key) => this.rotateKey(key, now, result), go);
    await this.each('list imported key material due to expire', () => this.svc.store.dueForExpiry(now), result, (key) => this.expireMaterial(key, result), go);
    return result;
  }

  private async each(what: string, list: () => Promise<KmsKeyRecord[]>, result: SweepResult, act: (k: KmsKeyRecord) => Promise<void>, go: () => boolean): Promise<void> {
    if (!go()) return;
    let keys: KmsKeyRecord[];
    try {
      keys = await list();
    } catch (err) {
      this.svc.log.error({ err }, `kms sweep: cannot ${what}`);
      return;
    }
    for (const key of keys) {
      if (!go()) return; // stopped meanwhile: the next leader's sweep finds what is left
      try {
        await act(key);
      } catch (err) {
        result.failed.push(key.keyId);
        this.svc.log.error({ err, keyId: key.keyId }, 'kms sweep: action on key failed');
      }
    }
  }

  private async deleteKey(key: KmsKeyRecord, result: SweepResult): Promise<void> {
    this.svc.checkAuditWritable(); // no action without its record: a failing log postpones it to a later sweep
    // Only the key as listed: a deletion cancelled since (on any node) moved its revision on.
    let deleted: boolean;
    try {
      deleted = await this.svc.store.deleteKey(key.keyId, key.revision);
    } catch (e) {
      if (e instanceof KmsStoreConflict && e.kind === 'Changed') return; // the next sweep looks again
      throw e;
    }
    this.svc.forget(key.keyId);
    if (!deleted) return; // gone already (another sweep, or a concurrent delete)
    result.deleted.push(key.keyId);
    await this.audit('DeleteKey', key, { keyId: key.arn });
    this.svc.log.info({ keyId: key.keyId }, 'deleted KMS key at the end of its waiting period');
  }

  private async rotateKey(key: KmsKeyRecord, now: number, result: SweepResult): Promise<void> {
    this.svc.checkAuditWritable();
    const period = (key.rotationPeriodInDays ?? DEFAULT_ROTATION_PERIOD_DAYS) * DAY_MS;
    const rotated = await rotateKeyMaterial(this.svc, key, 'AUTOMATIC', now, (k) => {
      // The schedule keeps its rhythm; after a long outage (or a disabled spell) the next
      // rotation counts from now instead of firing again at once.
      let next = (k.nextRotationDate ?? now) + period;
      if (next <= now) next = now + period;
      return { nextRotationDate: next };
    }, (k) => k.state === 'Enabled' && k.rotationEnabled && k.nextRotationDate !== undefined && k.nextRotationDate <= now);
    // Another sweep (another node's) rotated it first, or it changed and is no longer due.
    if (!rotated) return;
    const { material } = rotated;
    result.rotated.push(key.keyId);
    await this.audit('RotateKey', key, { keyId: key.arn, rotationType: 'AUTOMATIC', keyMaterialId: material.materialId });
  }

  private async expireMaterial(key: KmsKeyRecord, result: SweepResult): Promise<void> {
    this.svc.checkAuditWritable();
    const material = await deleteMaterialVersion(this.svc, key, key.currentVersion);
    result.expired.push(key.keyId);
    // CloudTrail's name for this KMS event.
    await this.audit('DeleteExpiredKeyMaterial', key, { keyId: key.arn, ...(material ? { keyMaterialId: material.materialId } : {}) });
    this.svc.log.info({ keyId: key.keyId }, 'deleted imported KMS key material at its expiration');
  }

  private audit(eventName: string, key: KmsKeyRecord, additionalEventData: Record<string, unknown>): Promise<void> {
    return this.svc.audit({
      eventName,
      eventType: 'AwsServiceEvent',
      caller: systemCaller(this.svc),
      requestParameters: {},
      additionalEventData,
      resources: [{ ARN: key.arn, accountId: key.accountId, type: 'AWS::KMS::Key' }],
    });
  }
}

/** KMS acting for the account on its own schedule; the audit log renders it as an AwsServiceEvent. */
function systemCaller(svc: KmsService): Caller {
  return {
    principal: { arn: `arn:aws:iam::${svc.accountId}:root`, accountId: svc.accountId, userName: 'root', kind: 'root' },
    requestId: randomUUID(),
    secureTransport: true,
    sourceIp: 'kms.amazonaws.com',
  };
}
