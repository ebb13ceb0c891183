// Object versions in the SQLite metadata store (sqlite-metadata-store.ts runs these inside
// its write transactions): the current version of each key lives in `objects`, the
// noncurrent ones in `object_versions` (sqlite-schema.ts, migration 4, says why). Here:
// writing a new current version, removing one, freeing blobs no remaining version uses,
// and the version listing that merges the two tables.

import { compareUtf8, prefixUpperBound } from './key-order.js';
import { NULL_VERSION_ID, StorageConflictError } from './types.js';
import type { ListVersionsQuery, ObjectPart, ObjectRecord, ObjectVersionRecord, ReplaceCheck, WriteCondition } from './types.js';
import { OBJECT_COLUMNS, objectParams, rowParams, toObject, type ObjectRow, type Stmt, type prepareStatements } from './sqlite-rows.js';

export class SqliteVersions {
  constructor(
    private readonly s: ReturnType<typeof prepareStatements>,
    private readonly cached: (sql: string) => Stmt,
  ) {}

  /** The row of one version, or the current one (delete marker or not) when versionId is undefined. */
  versionRow(bucket: string, key: string, versionId: string | undefined): ObjectRow | undefined {
    const current = this.s.getObject.get(bucket, key) as ObjectRow | undefined;
    if (versionId === undefined || current?.version_id === versionId) return current;
    return this.s.getVersion.get(bucket, key, versionId) as ObjectRow | undefined;
  }

  /** The body of putObject, run inside the caller's transaction. */
  writeObject(rec: ObjectRecord, cond: WriteCondition, check?: ReplaceCheck): ObjectRecord | undefined {
    if (this.s.bucketExists.get(rec.bucket) === undefined) throw new StorageConflictError('NoSuchBucket');
    const current = this.s.getObject.get(rec.bucket, rec.key) as ObjectRow | undefined;
    checkCondition(cond, live(current));
    const versionId = rec.versionId ?? NULL_VERSION_ID;
    // The one other version that can carry rec's id: the null version, rewritten.
    const same = current?.version_id === versionId ? undefined : (this.s.getVersion.get(rec.bucket, rec.key, versionId) as ObjectRow | undefined);
    if (check !== undefined) {
      const replaced = current?.version_id === versionId ? current : same;
      if (replaced !== undefined) check(toObject(replaced));
    }
    const kept = new Set(rec.parts.map((p) => p.blobId));
    const removed: ObjectRow[] = [];
    let shares = false;
    if (current !== undefined) {
      if (current.version_id === versionId) {
        removed.push(current);
      } else {
        // The current version becomes noncurrent; a copy onto itself may share its blobs.
        shares = (JSON.parse(current.parts) as ObjectPart[]).some((p) => kept.has(p.blobId));
        this.s.insertVersion.run(...rowParams(current, shares || current.shares_blobs === 1 ? 1 : 0));
      }
    }
    if (same !== undefined) {
      this.s.deleteVersion.run(rec.bucket, rec.key, same.seq);
      removed.push(same);
    }
    const seq = this.s.nextSeq.get() as number;
    this.s.upsertObject.run(...objectParams(rec, seq, shares || (removed[0]?.shares_blobs === 1 && removed[0].parts !== '[]')));
    for (const p of rec.parts) this.s.clearPending.run(p.blobId);
    for (const r of removed) this.releaseBlobs(r, kept);
    return removed[0] && toObject(removed[0]);
  }

  /** Removes a key's current version; its next newest version, if any, becomes current. */
  removeCurrent(row: ObjectRow): void {
    this.s.deleteObject.run(row.bucket, row.key);
    const next = this.s.newestVersion.get(row.bucket, row.key) as ObjectRow | undefined;
    if (next !== undefined) {
      this.s.deleteVersion.run(next.bucket, next.key, next.seq);
      this.s.upsertObject.run(...rowParams(next));
    }
    this.releaseBlobs(row, new Set());
  }

  /**
   * Moves the blobs of a removed version to garbage, except those in `kept` and, when the
   * version may share its blobs (shares_blobs), those another remaining version of its key uses.
   */
  releaseBlobs(row: ObjectRow, kept: Set<string>): void {
    const parts = JSON.parse(row.parts) as ObjectPart[];
    if (parts.length === 0) return;
    const used = new Set(kept);
    if (row.shares_blobs === 1) {
      const current = this.s.getObject.get(row.bucket, row.key) as ObjectRow | undefined;
      const others = this.s.sharedVersionParts.all(row.bucket, row.key) as string[];
      if (current !== undefined) others.push(current.parts);
      for (const text of others) for (const p of JSON.parse(text) as ObjectPart[]) used.add(p.blobId);
    }
    for (const p of parts) if (!used.has(p.blobId)) this.s.addGarbage.run(p.blobId);
  }

  /** MetadataStore.listObjectVersions: a read, no transaction needed (one connection, synchronous). */
  list(bucket: string, q: ListVersionsQuery): ObjectVersionRecord[] {
    if (q.limit <= 0) return [];
    const out: ObjectVersionRecord[] = [];
    const markerKey = q.keyMarker;
    const inPrefix = markerKey !== undefined && markerKey.startsWith(q.prefix);
    if (inPrefix && q.versionIdMarker !== undefined) {
      // The rest of the marker key's history: versions older than the marker (never its current one).
      const marker = this.versionRow(bucket, markerKey, q.versionIdMarker);
      if (marker !== undefined) {
        for (const r of this.s.olderVersionsOf.all(bucket, markerKey, marker.seq, q.limit) as ObjectRow[]) out.push(versionOf(r, false));
      }
    }
    if (out.length >= q.limit) return out;
    const limit = q.limit - out.length;
    // Then every key after the marker: the current versions (one row each) merged with the
    // noncurrent ones (newest first per key), two index-ordered reads of at most `limit` rows.
    const { range, params } = keysAfterMarker(bucket, markerKey, q.prefix, limit);
    const current = this.cached(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE ${range} ORDER BY key LIMIT ?`).all(...params) as ObjectRow[];
    const older = this.cached(`SELECT ${OBJECT_COLUMNS} FROM object_versions WHERE ${range} ORDER BY key, seq DESC LIMIT ?`).all(...params) as ObjectRow[];
    return mergeVersionRows(out, current, older, q.limit);
  }
}

/** The row as a write condition sees it: a delete marker is no object. */
export function live(row: ObjectRow | undefined): ObjectRow | undefined {
  return row !== undefined && row.delete_marker === 0 ? row : undefined;
}

export function versionOf(r: ObjectRow, isLatest: boolean): ObjectVersionRecord {
  return { ...toObject(r), versionId: r.version_id, isLatest };
}

/**
 * The WHERE clause (with `?` placeholders) and its parameters for the keys of a version
 * listing after the key marker, within the prefix, plus the LIMIT's parameter last: shared
 * by the SQLite and PostgreSQL stores (which numbers the placeholders).
 */
export function keysAfterMarker(bucket: string, markerKey: string | undefined, prefix: string, limit: number): { range: string; params: unknown[] } {
  const upper = prefixUpperBound(prefix);
  const useAfter = markerKey !== undefined && compareUtf8(markerKey, prefix) >= 0;
  const range = `bucket = ? AND key ${useAfter ? '>' : '>='} ?` + (upper !== undefined ? ' AND key < ?' : '');
  const params: unknown[] = [bucket, useAfter ? markerKey : prefix];
  if (upper !== undefined) params.push(upper);
  params.push(limit);
  return { range, params };
}

/**
 * Appends to `out`, up to `max` entries in all, the current versions (one row per key, key
 * order) merged with the noncurrent ones (key order, newest first per key).
 */
export function mergeVersionRows(out: ObjectVersionRecord[], current: ObjectRow[], older: ObjectRow[], max: number): ObjectVersionRecord[] {
  let i = 0;
  let j = 0;
  while (out.length < max && (i < current.length || j < older.length)) {
    const c = current[i];
    const o = older[j];
    // A key's current version is newer than all of its noncurrent ones: it comes first.
    if (c !== undefined && (o === undefined || compareUtf8(c.key, o.key) <= 0)) {
      out.push(versionOf(c, true));
      i++;
    } else {
      out.push(versionOf(o!, false));
      j++;
    }
  }
  return out;
}

export function checkCondition(cond: WriteCondition, current: ObjectRow | undefined): void {
  switch (cond.kind) {
    case 'none':
      return;
    case 'ifNoneMatchStar':
      if (current !== undefined) throw new StorageConflictError('PreconditionFailed');
      return;
    case 'ifMatch':
      if (current === undefined) throw new StorageConflictError('PreconditionFailed');
      if (cond.etag.trim() === '*') return;
      if (unquote(cond.etag) !== unquote(current.etag)) throw new StorageConflictError('PreconditionFailed');
      return;
  }
}

/** ETags compare without their quotes: clients send If-Match both ways. */
function unquote(etag: string): string {
  const t = etag.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}
