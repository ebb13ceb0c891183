// One bucket's lifecycle pass: what the enabled rules of its configuration (rules.ts) ask for
// as of `now`, done through the metadata store as a user's delete would do it.
//
//   never versioned    current objects whose Expiration is due are deleted (S3.EXPIRE.OBJECT)
//   versioned          a current version whose Expiration is due gets a delete marker on top
//   (or suspended)     (S3.CREATE.DELETEMARKER; the "null" marker when suspended); a noncurrent
//                      version is deleted for good NoncurrentDays after it became noncurrent
//                      (when the next newer version was written), unless it is among the
//                      NewerNoncurrentVersions newest noncurrent ones; a current delete marker
//                      with no other version of its key is removed by ExpiredObjectDeleteMarker,
//                      or by a Days expiration once the marker is that old (as AWS does)
//   uploads            an upload DaysAfterInitiation old is aborted (S3.DELETE.UPLOAD)
//
// Days count as AWS counts them: the moment an object reaches its age is rounded up to the
// next midnight UTC (rules.ts dueAt). A version under object lock (a running retention or a
// legal hold) is never deleted: the check runs inside the deleting transaction
// (MetadataStore.deleteObjectVersion's check), with object-lock.ts's rule and no bypass. A
// delete marker on a locked current version is allowed, as it is for a user, unless it is the
// "null" marker that would replace a locked null version (the same check, in putObject's).
//
// Bounded: listings are read a page at a time (PAGE entries), nothing is held across pages
// but the position and, for the key being read, its noncurrent count and newest time.
// Resumable by re-scanning: there is no persisted cursor. Every action is decided from the
// state it finds and is idempotent (a key already expired has a delete marker on top and is
// not expired again; a version already gone is not found), so a pass cut short by a crash or
// stop() is finished by the next one.

import { StorageConflictError, type BucketRecord, type MetadataStore, type ObjectRecord, type ObjectVersionRecord } from '../../storage/types.js';
import { checkDeletable } from '../object-lock.js';
import { deleteMarkerRecord, versionIdForWrite, versioningOf } from '../versioning.js';
import { dueAt, expiryOf, filterMatches, lifecycleOf, type LifecycleRule } from './rules.js';

export const PAGE = 1000;
/** Actions of a page in flight at once. */
const IN_FLIGHT = 16;

export type LifecycleOperation = 'S3.EXPIRE.OBJECT' | 'S3.CREATE.DELETEMARKER' | 'S3.DELETE.UPLOAD';

/** One action taken, as the worker records it (log line and metric). */
export interface LifecycleEvent {
  operation: LifecycleOperation;
  /** expire: a current object deleted; marker: a delete marker added; noncurrent: a noncurrent version deleted; delete-marker: an expired delete marker removed; upload: an upload aborted. */
  action: 'expire' | 'marker' | 'noncurrent' | 'delete-marker' | 'upload';
  bucket: string;
  key: string;
  versionId?: string;
  uploadId?: string;
  ruleId: string;
}

export interface SweepCounts {
  expired: number;
  markersAdded: number;
  noncurrentExpired: number;
  markersRemoved: number;
  uploadsAborted: number;
  /** Versions an action was due on but object lock protects. */
  locked: number;
  /** Versions changed between the listing and the action (a newer write won). */
  changed: number;
  failed: number;
}

export function noCounts(): SweepCounts {
  return { expired: 0, markersAdded: 0, noncurrentExpired: 0, markersRemoved: 0, uploadsAborted: 0, locked: 0, changed: 0, failed: 0 };
}

export interface SweepDeps {
  meta: MetadataStore;
  /** Owner of the delete markers lifecycle writes (the bucket owner's canonical id). */
  owner: string;
  record(e: LifecycleEvent): void;
  failed(err: unknown, what: string): void;
  /** True once the worker is told to stop: the pass ends once the actions in flight are done. */
  stopping(): boolean;
  /** Entries per listing page (default PAGE; tests use small pages to cross page boundaries). */
  pageSize?: number;
}

class Changed extends Error {}

/** Runs bucket `b`'s enabled rules as of `now`; counts what it did. */
export async function sweepBucket(deps: SweepDeps, b: BucketRecord, now: number, counts: SweepCounts): Promise<void> {
  const config = lifecycleOf(b);
  if (!config) return;
  const rules = config.rules.filter((r) => r.enabled);
  const objectRules = rules.filter((r) => r.expiration || r.noncurrentExpiration);
  for (const prefix of scanPrefixes(objectRules)) {
    if (deps.stopping()) return;
    if (versioningOf(b) === undefined) await sweepUnversioned(deps, b, prefix, objectRules, now, counts);
    else await sweepVersions(deps, b, prefix, objectRules, now, counts);
  }
  const uploadRules = rules.filter((r) => r.abortIncompleteDays !== undefined);
  for (const prefix of scanPrefixes(uploadRules)) {
    if (deps.stopping()) return;
    await sweepUploads(deps, b, prefix, uploadRules, now, counts);
  }
}

/** The prefixes to list so every key a rule can match is read once: none of them starts with another. */
export function scanPrefixes(rules: LifecycleRule[]): string[] {
  const all = [...new Set(rules.map((r) => r.filter.prefix ?? ''))].sort();
  const out: string[] = [];
  for (const p of all) if (!out.some((q) => p.startsWith(q))) out.push(p);
  return out;
}

/** The first rule whose Expiration (Days or Date) is due on this current version. */
function dueExpiration(rules: LifecycleRule[], rec: ObjectRecord, now: number): LifecycleRule | undefined {
  return rules.find((r) => {
    if (!filterMatches(r.filter, rec)) return false;
    const at = expiryOf(r, rec.lastModified);
    return at !== undefined && now >= at;
  });
}

/**
 * The actions decided while reading one page, run together once it is read: up to IN_FLIGHT at
 * once (with fsync on, concurrent commits share one fsync; one at a time, each waits for its
 * own). Delete markers first; a noncurrent version whose rank counted on its key's new marker
 * is deleted only if that marker was written (else the next pass decides again).
 */
class Batch {
  private readonly planned: { key: string; marker: boolean; needsMarker: boolean; run: () => Promise<boolean> }[] = [];

  constructor(private readonly deps: SweepDeps) {}

  /** Plans an action; returns its index for reading its result. */
  add(key: string, run: () => Promise<boolean>, opts: { marker?: boolean; needsMarker?: boolean } = {}): number {
    this.planned.push({ key, run, marker: opts.marker === true, needsMarker: opts.needsMarker === true });
    return this.planned.length - 1;
  }

  /** Runs what was planned; true at the index of each action done. */
  async run(): Promise<boolean[]> {
    const done = this.planned.map(() => false);
    const markers = this.planned.flatMap((p, i) => (p.marker ? [i] : []));
    await this.inFlight(markers, done);
    const written = new Set(markers.filter((i) => done[i]).map((i) => this.planned[i]!.key));
    await this.inFlight(this.planned.flatMap((p, i) => (!p.marker && (!p.needsMarker || written.has(p.key)) ? [i] : [])), done);
    this.planned.length = 0;
    return done;
  }

  private async inFlight(indexes: number[], done: boolean[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < indexes.length && !this.deps.stopping()) {
        const i = indexes[next++]!;
        done[i] = await this.planned[i]!.run();
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, indexes.length) }, worker));
  }
}

async function sweepUnversioned(deps: SweepDeps, b: BucketRecord, prefix: string, rules: LifecycleRule[], now: number, counts: SweepCounts): Promise<void> {
  let after: string | undefined;
  const batch = new Batch(deps);
  for (;;) {
    const page = await deps.meta.listObjects(b.name, { prefix, ...(after !== undefined ? { after } : {}), limit: deps.pageSize ?? PAGE });
    for (const rec of page) {
      const rule = dueExpiration(rules, rec, now);
      if (!rule) continue;
      // Only the object listed: one written since (another lastModified or ETag) is left alone.
      batch.add(rec.key, () => act(deps, counts, 'expired', () => deps.meta.deleteObjectVersion(b.name, rec.key, rec.versionId ?? 'null', (found) => {
        if (found.lastModified !== rec.lastModified || found.etag !== rec.etag || found.deleteMarker) throw new Changed();
        checkDeletable(found, now, false);
      }), { operation: 'S3.EXPIRE.OBJECT', action: 'expire', bucket: b.name, key: rec.key, ruleId: rule.id }));
    }
    await batch.run();
    if (deps.stopping() || page.length < (deps.pageSize ?? PAGE)) return;
    after = page[page.length - 1]!.key;
  }
}

interface KeyState {
  key: string;
  /** Noncurrent versions of the key seen so far (newest first). */
  noncurrent: number;
  /** lastModified of the version read before (the next newer one): when the one read now became noncurrent. */
  newerModified: string;
  /** This pass puts a delete marker on the key (its index in the page's batch): its ranks count on it. */
  marked?: number;
}

async function sweepVersions(deps: SweepDeps, b: BucketRecord, prefix: string, rules: LifecycleRule[], now: number, counts: SweepCounts): Promise<void> {
  let marker: { keyMarker?: string; versionIdMarker?: string } = {};
  let state: KeyState | undefined;
  // A current delete marker waits for the next entry: it is expired only when no other version of its key follows.
  let lone: ObjectVersionRecord | undefined;
  /** The last key whose every version has been read, for restarting at the start of the next one. */
  let doneKey: string | undefined;
  const batch = new Batch(deps);
  for (;;) {
    const page = await deps.meta.listObjectVersions(b.name, { prefix, ...marker, limit: deps.pageSize ?? PAGE });
    /** The index in the batch of the deletion of the page's last entry, if it is planned. */
    let lastRemoval: number | undefined;
    for (const v of page) {
      if (lone && lone.key !== v.key) planLoneMarker(deps, batch, b, lone, rules, now, counts);
      lone = undefined;
      if (state && state.key !== v.key) doneKey = state.key;
      lastRemoval = undefined;
      if (v.isLatest) {
        state = { key: v.key, noncurrent: 0, newerModified: v.lastModified };
        if (v.deleteMarker) lone = v;
        // A delete marker put on top makes this version the key's newest noncurrent one.
        else {
          state.marked = planCurrent(deps, batch, b, v, rules, now, counts);
          if (state.marked !== undefined) state.noncurrent = 1;
        }
        continue;
      }
      if (!state || state.key !== v.key) state = { key: v.key, noncurrent: 0, newerModified: v.lastModified };
      state.noncurrent += 1;
      const since = state.newerModified;
      state.newerModified = v.lastModified;
      lastRemoval = planNoncurrent(deps, batch, b, v, state.noncurrent, state.marked !== undefined, since, rules, now, counts);
    }
    const full = page.length === (deps.pageSize ?? PAGE);
    if (!full && lone) planLoneMarker(deps, batch, b, lone, rules, now, counts);
    const done = await batch.run();
    if (deps.stopping() || !full) return;
    const last = page[page.length - 1]!;
    if (state?.marked !== undefined) {
      // The key reads on into the next page: its new delete marker is written now, or, if it was
      // not, its current version is still current and the versions after it rank one lower.
      if (!done[state.marked]) state.noncurrent -= 1;
      delete state.marked;
    }
    if (lastRemoval !== undefined && done[lastRemoval]) {
      // The store resumes after a whole key when its version marker is gone: read this key again from its start.
      marker = doneKey !== undefined ? { keyMarker: doneKey } : {};
      state = undefined;
      lone = undefined;
    } else {
      marker = { keyMarker: last.key, versionIdMarker: last.versionId };
    }
  }
}

/** Plans a delete marker on a current version whose Expiration is due; its index in the batch. */
function planCurrent(deps: SweepDeps, batch: Batch, b: BucketRecord, v: ObjectVersionRecord, rules: LifecycleRule[], now: number, counts: SweepCounts): number | undefined {
  const rule = dueExpiration(rules, v, now);
  if (!rule) return undefined;
  const marker = deleteMarkerRecord(b.name, v.key, versionIdForWrite(b), deps.owner);
  marker.lastModified = new Date(now).toISOString();
  // On top of the version listed only: If-Match on its ETag, checked in the writing transaction.
  // A "null" marker replaces the null version: refused, in that transaction, if it is locked (the
  // bucket may have been Enabled, locked and its null version retained since `b` was read).
  return batch.add(v.key, () => act(deps, counts, 'markersAdded', async () => {
    await deps.meta.putObject(marker, { kind: 'ifMatch', etag: v.etag }, (replaced) => checkDeletable(replaced, now, false));
    return marker;
  }, { operation: 'S3.CREATE.DELETEMARKER', action: 'marker', bucket: b.name, key: v.key, versionId: marker.versionId!, ruleId: rule.id }), { marker: true });
}

/** Plans the deletion of a noncurrent version when a rule says so; its index in the batch. */
function planNoncurrent(
  deps: SweepDeps, batch: Batch, b: BucketRecord, v: ObjectVersionRecord, rank: number, marked: boolean, since: string, rules: LifecycleRule[], now: number, counts: SweepCounts,
): number | undefined {
  const rule = rules.find((r) => {
    const n = r.noncurrentExpiration;
    if (!n || !filterMatches(r.filter, v)) return false;
    return rank > (n.newerNoncurrentVersions ?? 0) && now >= dueAt(Date.parse(since), n.noncurrentDays);
  });
  if (!rule) return undefined;
  return batch.add(v.key, () => act(deps, counts, 'noncurrentExpired', () => deps.meta.deleteObjectVersion(b.name, v.key, v.versionId, (found) => checkDeletable(found, now, false)),
    { operation: 'S3.EXPIRE.OBJECT', action: 'noncurrent', bucket: b.name, key: v.key, versionId: v.versionId, ruleId: rule.id }), { needsMarker: marked });
}

function planLoneMarker(deps: SweepDeps, batch: Batch, b: BucketRecord, m: ObjectVersionRecord, rules: LifecycleRule[], now: number, counts: SweepCounts): void {
  // ExpiredObjectDeleteMarker removes it at once; a Days expiration once the marker is that old
  // ("When you specify the Days tag, Amazon S3 automatically performs ExpiredObjectDeleteMarker
  // cleanup when the delete markers are old enough to satisfy the age criteria").
  const rule = rules.find((r) => {
    const e = r.expiration;
    if (!e || !filterMatches(r.filter, m)) return false;
    return e.expiredObjectDeleteMarker === true || (e.days !== undefined && now >= dueAt(Date.parse(m.lastModified), e.days));
  });
  if (!rule) return;
  batch.add(m.key, () => act(deps, counts, 'markersRemoved', () => deps.meta.deleteObjectVersion(b.name, m.key, m.versionId, (found) => {
    if (!found.deleteMarker) throw new Changed();
  }), { operation: 'S3.EXPIRE.OBJECT', action: 'delete-marker', bucket: b.name, key: m.key, versionId: m.versionId, ruleId: rule.id }));
}

async function sweepUploads(deps: SweepDeps, b: BucketRecord, prefix: string, rules: LifecycleRule[], now: number, counts: SweepCounts): Promise<void> {
  let marker: { keyMarker?: string; uploadIdMarker?: string } = {};
  const batch = new Batch(deps);
  for (;;) {
    const page = await deps.meta.listUploads(b.name, { prefix, ...marker, limit: deps.pageSize ?? PAGE });
    for (const u of page) {
      const rule = rules.find((r) => u.key.startsWith(r.filter.prefix ?? '') && now >= dueAt(Date.parse(u.initiated), r.abortIncompleteDays!));
      if (!rule) continue;
      batch.add(u.key, () => act(deps, counts, 'uploadsAborted', async () => ((await deps.meta.abortUpload(b.name, u.key, u.uploadId)) ? u : undefined),
        { operation: 'S3.DELETE.UPLOAD', action: 'upload', bucket: b.name, key: u.key, uploadId: u.uploadId, ruleId: rule.id }));
    }
    await batch.run();
    if (deps.stopping() || page.length < (deps.pageSize ?? PAGE)) return;
    const last = page[page.length - 1]!;
    marker = { keyMarker: last.key, uploadIdMarker: last.uploadId };
  }
}

/**
 * Runs one action and counts it: done (recorded) when it returns something, not found when it
 * returns nothing (already gone: not counted), locked when object lock refused it, changed
 * when a newer write won, failed otherwise (logged; the pass goes on). True when done.
 */
async function act(deps: SweepDeps, counts: SweepCounts, done: keyof SweepCounts, run: () => Promise<unknown>, event: LifecycleEvent): Promise<boolean> {
  // Requests come first: an embedded store answers without I/O, and a long pass must not hold the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    if ((await run()) === undefined) return false;
  } catch (e) {
    if (e instanceof Changed || (e instanceof StorageConflictError && e.kind === 'PreconditionFailed')) counts.changed += 1;
    else if ((e as { code?: string }).code === 'AccessDenied') counts.locked += 1;
    else {
      counts.failed += 1;
      deps.failed(e, `${event.operation} ${event.bucket}/${event.key}`);
    }
    return false;
  }
  counts[done] += 1;
  deps.record(event);
  return true;
}
