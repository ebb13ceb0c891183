// S3 Object Lock (WORM): a bucket's lock configuration and each version's retention and
// legal hold, as AWS specifies them ("Using S3 Object Lock").
//
// A bucket has object lock once CreateBucket said x-amz-bucket-object-lock-enabled: true or
// PutObjectLockConfiguration enabled it on a versioning-enabled bucket; its versioning can no
// longer be suspended. A version's lock lives in its record's sys (LOCK_SYS_KEY): a mode
// (GOVERNANCE or COMPLIANCE) with a retain-until date, and a legal hold; records without it
// (all written before object lock existed) are unlocked. A version is protected while its
// retain-until date is in the future or its legal hold is ON: deleting it by version id is
// refused, while a delete without a version id only adds a delete marker. GOVERNANCE yields to
// x-amz-bypass-governance-retention: true from a caller allowed s3:BypassGovernanceRetention;
// COMPLIANCE yields to nobody, the account root included. A write that would replace a locked
// version (the null version, by a write begun while the bucket was Suspended) is refused by the
// same rules, checked in its commit (replaceCheck). Re-wrapping a version's key (coffer rekey,
// rewrap/lock.ts) follows the rules of a delete too: moving the key is enough to destroy the version.
//
// Time is the S3 services' clock (S3Services.now), which tests move instead of waiting.

import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '../auth/types.js';
import type { BucketRecord, ObjectRecord, ReplaceCheck } from '../storage/types.js';
import { BYPASS_GOVERNANCE_ACTION, S3_ACTIONS } from './actions.js';
import { authorizeS3, decideS3, objectLockConditions, type S3Access, type S3PolicySources } from './authorization.js';
import type { S3Context } from './context.js';
import { invalidArgument, s3Error } from './errors.js';
import { parseIntegrity } from './object-writer.js';
import { childObject, childText, el, parseXmlRoot, text, xmlDocument } from './xml.js';

/** The bucket config item holding the object lock configuration (JSON ObjectLockConfig). */
export const OBJECT_LOCK_ITEM = 'object-lock';
/** The key of a version's lock in its record's sys. */
export const LOCK_SYS_KEY = 'lock';

export type LockMode = 'GOVERNANCE' | 'COMPLIANCE';

export interface DefaultRetention {
  mode: LockMode;
  days?: number;
  years?: number;
}

/** A bucket's object lock: enabled (always, when present), with an optional default retention. */
export interface ObjectLockConfig {
  v: 1;
  rule?: DefaultRetention;
}

/** One version's lock. */
export interface VersionLock {
  mode?: LockMode;
  /** ISO 8601 with milliseconds. */
  until?: string;
  hold?: boolean;
}

export const PROTECTED_MESSAGE = 'Access Denied because object protected by object lock.';
const MISSING_CONFIG = 'Bucket is missing Object Lock Configuration';

export function objectLockOf(b: Pick<BucketRecord, 'config'>): ObjectLockConfig | undefined {
  const raw = b.config[OBJECT_LOCK_ITEM];
  if (raw === undefined) return undefined;
  const parsed = JSON.parse(raw) as ObjectLockConfig;
  if (parsed.v !== 1) throw new Error(`unknown object lock configuration version ${String(parsed.v)}`);
  return parsed;
}

/** The lock stored in a version's sys (empty when none). */
export function lockOf(sys: Record<string, unknown>): VersionLock {
  return (sys[LOCK_SYS_KEY] as VersionLock | undefined) ?? {};
}

/** sys with `lock` stored (or removed when it holds nothing). */
export function sysWithLock(sys: Record<string, unknown>, lock: VersionLock | undefined): Record<string, unknown> {
  const { [LOCK_SYS_KEY]: _old, ...rest } = sys;
  if (!lock || (lock.mode === undefined && !lock.hold)) return rest;
  return { ...rest, [LOCK_SYS_KEY]: lock };
}

export function nowOf(ctx: Pick<S3Context, 'services'>): number {
  return ctx.services.now();
}

/** Whether a retention is still running at `now`. */
export function retentionActive(lock: VersionLock, now: number): boolean {
  return lock.mode !== undefined && lock.until !== undefined && Date.parse(lock.until) > now;
}

// ---- bucket configuration ----

/** ObjectLockConfiguration's body: ObjectLockEnabled=Enabled and an optional Rule.DefaultRetention. */
export function parseObjectLockConfiguration(body: Buffer): ObjectLockConfig {
  const doc = parseXmlRoot(body, 'ObjectLockConfiguration');
  if (childText(doc, 'ObjectLockEnabled') !== 'Enabled') throw s3Error('MalformedXML');
  const rule = childObject(doc, 'Rule');
  if (rule === undefined) return { v: 1 };
  const dr = childObject(rule, 'DefaultRetention');
  if (dr === undefined) throw s3Error('MalformedXML');
  const mode = childText(dr, 'Mode');
  const days = childText(dr, 'Days');
  const years = childText(dr, 'Years');
  if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') throw s3Error('MalformedXML');
  if ((days === undefined) === (years === undefined)) throw s3Error('MalformedXML');
  const n = Number(days ?? years);
  if (!/^-?\d+$/.test((days ?? years)!)) throw s3Error('MalformedXML');
  if (n <= 0) throw invalidArgument('Default retention period must be a positive integer value.', days !== undefined ? 'Days' : 'Years', days ?? years);
  // AWS's limits: 36,500 days, 100 years.
  if (days !== undefined && n > 36500) throw invalidArgument('Default retention period is too large.', 'Days', days);
  if (years !== undefined && n > 100) throw invalidArgument('Default retention period is too large.', 'Years', years);
  return { v: 1, rule: { mode, ...(days !== undefined ? { days: n } : { years: n }) } };
}

export function objectLockConfigurationXml(c: ObjectLockConfig): string {
  const rule = c.rule
    ? el('Rule', el('DefaultRetention', text('Mode', c.rule.mode), c.rule.days !== undefined ? text('Days', c.rule.days) : text('Years', c.rule.years)))
    : '';
  return xmlDocument('ObjectLockConfiguration', text('ObjectLockEnabled', 'Enabled') + rule);
}

// ---- a new version's lock ----

/**
 * The lock headers of a write (PutObject, CopyObject, CreateMultipartUpload, PostObject), checked
 * against the bucket: undefined when none is sent. `vouched`: the write is a PUT whose body needs
 * Content-MD5 or a checksum when it carries lock headers, as AWS requires.
 */
export function requestedLock(h: IncomingHttpHeaders, b: Pick<BucketRecord, 'config'>, now: number, opts: { vouched?: boolean } = {}): VersionLock | undefined {
  const mode = single(h['x-amz-object-lock-mode']);
  const until = single(h['x-amz-object-lock-retain-until-date']);
  const hold = single(h['x-amz-object-lock-legal-hold']);
  if (mode === undefined && until === undefined && hold === undefined) return undefined;
  if (!objectLockOf(b)) throw s3Error('InvalidRequest', {}, MISSING_CONFIG);
  if (opts.vouched) {
    const integrity = parseIntegrity(h);
    if (!integrity.contentMd5 && integrity.expected === undefined && !integrity.inTrailer) {
      throw s3Error('InvalidRequest', {}, 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
    }
  }
  const lock: VersionLock = {};
  if (mode !== undefined || until !== undefined) {
    if (mode === undefined || until === undefined) throw invalidArgument('x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied');
    lock.mode = parseMode(mode);
    lock.until = parseUntil(until, now);
  }
  if (hold !== undefined) lock.hold = parseHold(hold);
  return lock;
}

/**
 * A write that sets a lock needs, besides its own action, what setting it afterwards would:
 * s3:PutObjectRetention for a mode and date, s3:PutObjectLegalHold for a legal hold (AWS's
 * "Required permissions" of object lock).
 */
export async function authorizeRequestedLock(
  ctx: S3Context, bucket: string, key: string, lock: VersionLock | undefined,
  principal: Principal | undefined = ctx.auth.anonymous ? undefined : ctx.principal,
): Promise<void> {
  if (!lock) return;
  // With the s3:object-lock-* keys of the lock asked for, as PutObjectRetention and PutObjectLegalHold present them.
  const conditions = objectLockConditions(lock.mode, lock.until, lock.hold === undefined ? undefined : lock.hold ? 'ON' : 'OFF', nowOf(ctx));
  const checks = [
    ...(lock.mode !== undefined ? [{ action: S3_ACTIONS.PutObjectRetention, conditions }] : []),
    ...(lock.hold !== undefined ? [{ action: S3_ACTIONS.PutObjectLegalHold, conditions }] : []),
  ];
  await authorizeS3(ctx.services, { principal, bucket, key, transport: ctx.transport, facts: ctx.facts, checks });
}

/** A new version's lock: what the request asked for, else the bucket's default retention (a legal hold alone keeps the default). */
export function lockForNewVersion(b: Pick<BucketRecord, 'config'>, requested: VersionLock | undefined, now: number): VersionLock | undefined {
  const rule = objectLockOf(b)?.rule;
  if (requested?.mode !== undefined || !rule) return requested;
  const until = new Date(now);
  if (rule.days !== undefined) until.setTime(now + rule.days * 86_400_000);
  else until.setUTCFullYear(until.getUTCFullYear() + rule.years!);
  return { ...requested, mode: rule.mode, until: until.toISOString() };
}

/**
 * x-amz-object-lock-* headers of a GET or HEAD of a version, as AWS sends them: the retention only
 * to a caller also allowed s3:GetObjectRetention, the legal hold only to one allowed
 * s3:GetObjectLegalHold (decided only for a version that has them; a refusal just leaves them out).
 */
export async function lockResponseHeaders(ctx: S3Context, bucket: string, key: string, rec: Pick<ObjectRecord, 'sys'>): Promise<Record<string, string>> {
  const lock = lockOf(rec.sys);
  const out: Record<string, string> = {};
  const may = async (action: string) => (await decideS3(ctx.services, {
    principal: ctx.auth.anonymous ? undefined : ctx.principal, bucket, key, transport: ctx.transport, facts: ctx.facts, checks: [{ action }],
  })).allowed;
  if (lock.mode !== undefined && lock.until !== undefined && (await may(S3_ACTIONS.GetObjectRetention))) {
    out['x-amz-object-lock-mode'] = lock.mode;
    out['x-amz-object-lock-retain-until-date'] = lock.until;
  }
  if (lock.hold !== undefined && (await may(S3_ACTIONS.GetObjectLegalHold))) out['x-amz-object-lock-legal-hold'] = lock.hold ? 'ON' : 'OFF';
  return out;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

function parseMode(v: string): LockMode {
  if (v !== 'GOVERNANCE' && v !== 'COMPLIANCE') throw invalidArgument('Unknown wormMode directive.', 'x-amz-object-lock-mode', v);
  return v;
}

function parseUntil(v: string, now: number): string {
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(t)) {
    throw invalidArgument('The retain until date must be provided in ISO 8601 format', 'x-amz-object-lock-retain-until-date', v);
  }
  if (t <= now) throw invalidArgument('The retain until date must be in the future!', 'x-amz-object-lock-retain-until-date', v);
  return new Date(t).toISOString();
}

function parseHold(v: string): boolean {
  if (v !== 'ON' && v !== 'OFF') throw invalidArgument("Legal Hold must be either of 'ON' or 'OFF'", 'x-amz-object-lock-legal-hold', v);
  return v === 'ON';
}

// ---- retention and legal hold documents ----

/** Retention's body: Mode and RetainUntilDate, both or neither (neither removes the retention). */
export function parseRetention(body: Buffer, now: number): Pick<VersionLock, 'mode' | 'until'> {
  const doc = parseXmlRoot(body, 'Retention');
  const mode = childText(doc, 'Mode');
  const until = childText(doc, 'RetainUntilDate');
  if (mode === undefined && until === undefined) return {};
  if (mode === undefined || until === undefined) throw s3Error('MalformedXML');
  if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') throw s3Error('MalformedXML');
  const t = Date.parse(until);
  if (Number.isNaN(t)) throw s3Error('MalformedXML');
  if (t <= now) throw invalidArgument('The retain until date must be in the future!');
  return { mode, until: new Date(t).toISOString() };
}

export function retentionXml(lock: VersionLock): string {
  return xmlDocument('Retention', text('Mode', lock.mode) + text('RetainUntilDate', lock.until));
}

export function parseLegalHold(body: Buffer): boolean {
  const doc = parseXmlRoot(body, 'LegalHold');
  const status = childText(doc, 'Status');
  if (status !== 'ON' && status !== 'OFF') throw s3Error('MalformedXML');
  return status === 'ON';
}

export function legalHoldXml(hold: boolean): string {
  return xmlDocument('LegalHold', text('Status', hold ? 'ON' : 'OFF'));
}

// ---- enforcement ----

/**
 * Whether this request may override GOVERNANCE retention on `key`: it sends
 * x-amz-bypass-governance-retention: true and its caller is allowed s3:BypassGovernanceRetention.
 */
export async function mayBypassGovernance(ctx: S3Context, bucket: string, key: string): Promise<boolean> {
  const v = ctx.req.headers['x-amz-bypass-governance-retention'];
  if (typeof v !== 'string' || v.trim().toLowerCase() !== 'true') return false;
  return allowedToBypassGovernance(ctx.services, { principal: ctx.auth.anonymous ? undefined : ctx.principal, bucket, key, transport: ctx.transport, facts: ctx.facts });
}

/** Whether the principal is allowed s3:BypassGovernanceRetention on `key` (a request that asked for the bypass: S3's, or coffer rekey's). */
export async function allowedToBypassGovernance(sources: S3PolicySources, access: Pick<S3Access, 'principal' | 'transport' | 'facts'> & { bucket: string; key: string }): Promise<boolean> {
  return (await decideS3(sources, { ...access, checks: [{ action: BYPASS_GOVERNANCE_ACTION }] })).allowed;
}

/** Throws AWS's AccessDenied when `rec` may not be deleted by version id now. */
export function checkDeletable(rec: Pick<ObjectRecord, 'sys'> | undefined, now: number, bypass: boolean): void {
  if (!rec) return;
  const lock = lockOf(rec.sys);
  if (lock.hold) throw s3Error('AccessDenied', {}, PROTECTED_MESSAGE);
  if (!retentionActive(lock, now)) return;
  if (lock.mode === 'GOVERNANCE' && bypass) return;
  throw s3Error('AccessDenied', {}, PROTECTED_MESSAGE);
}

/**
 * The check a write runs inside its commit on the version it replaces (only a write of the null
 * version replaces one: a PUT, copy, completion or delete marker in a Suspended bucket): the rules
 * of a delete by version id, against the lock that version has at that moment and the clock then.
 * Passed on every write, lock or not: a write begun before the bucket had object lock, or before
 * its null version was locked, commits after and must not overwrite it.
 */
export async function replaceCheck(ctx: S3Context, bucket: string, key: string): Promise<ReplaceCheck> {
  const bypass = await mayBypassGovernance(ctx, bucket, key);
  return (rec) => checkDeletable(rec, nowOf(ctx), bypass);
}

/**
 * Throws AccessDenied unless the retention of a version may change from `current` to `next`:
 * a running COMPLIANCE retention may only be extended (same mode, later or equal date); a
 * running GOVERNANCE one may be extended or turned COMPLIANCE, and shortened or removed only with bypass.
 */
export function checkRetentionChange(current: VersionLock, next: Pick<VersionLock, 'mode' | 'until'>, now: number, bypass: boolean): void {
  if (!retentionActive(current, now)) return;
  const extends_ = next.mode !== undefined && next.until !== undefined && Date.parse(next.until) >= Date.parse(current.until!);
  if (current.mode === 'COMPLIANCE') {
    if (extends_ && next.mode === 'COMPLIANCE') return;
    throw s3Error('AccessDenied', {}, PROTECTED_MESSAGE);
  }
  if (extends_ || bypass) return;
  throw s3Error('AccessDenied', {}, PROTECTED_MESSAGE);
}

export function requireLockedBucket(b: Pick<BucketRecord, 'config'>): ObjectLockConfig {
  const c = objectLockOf(b);
  if (!c) throw s3Error('InvalidRequest', {}, MISSING_CONFIG);
  return c;
}
