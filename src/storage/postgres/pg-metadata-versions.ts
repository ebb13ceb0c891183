// Object versions in the PostgreSQL metadata store, the twin of sqlite-versions.ts: the
// current version of each key lives in meta_objects, the noncurrent ones in
// meta_object_versions. Every function runs on the connection of the caller's
// transaction (pg-metadata-store.ts), so it sees and writes one consistent state.

import { createHash } from 'node:crypto';
import { NULL_VERSION_ID, StorageConflictError, WriterRetiredError } from '../types.js';
import type { ListVersionsQuery, ObjectPart, ObjectRecord, ObjectVersionRecord, ReplaceCheck, WriteCondition } from '../types.js';
import { OBJECT_COLUMNS, objectParams, rowParams, toObject, type ObjectRow } from '../sqlite-rows.js';
import { checkCondition, keysAfterMarker, live, mergeVersionRows, versionOf } from '../sqlite-versions.js';
import { PG_METADATA_SQL as S, SAME_PREFIX, numbered } from './pg-metadata-sql.js';
import { first, queryConfig, rows } from './query.js';
import type { Queryable, Statement, TailQueryable } from './transaction.js';

/**
 * The advisory lock key of one bucket+key (transaction.ts, keyTransaction): the first 64
 * bits of SHA-256 over `bucket/key` (a bucket name has no '/'). Every transaction that
 * writes a key's rows takes it first; two keys that share a lock only queue behind each other.
 */
export function keyLock(bucket: string, key: string): bigint {
  return createHash('sha256').update(`${bucket}/${key}`).digest().readBigInt64BE(0);
}

/** The row of one version, or the current one (delete marker or not) when versionId is undefined. */
export async function versionRow(q: Queryable, bucket: string, key: string, versionId: string | undefined): Promise<ObjectRow | undefined> {
  const current = await first<ObjectRow>(q, S.getObject, [bucket, key]);
  if (versionId === undefined || current?.version_id === versionId) return current;
  return first<ObjectRow>(q, S.getVersion, [bucket, key, versionId]);
}

/**
 * The body of putObject (and of completeUpload's write), in the caller's READ COMMITTED
 * transaction holding keyLock(rec.bucket, rec.key): one statement reads all it decides on
 * (and locks the writer and bucket rows), one writes the new current row and ends its
 * blobs' pending marks (plus, when a version is replaced, the moves of the old rows).
 * `writer`: the instance whose fence the write passes (WriterRetiredError). opts.state:
 * that first statement's row, when the caller read it (writeState()); opts.last: the
 * caller issues nothing after, so the write may go with the COMMIT (commitWith).
 */
export async function writeObject(
  q: TailQueryable,
  writer: string,
  rec: ObjectRecord,
  cond: WriteCondition,
  check?: ReplaceCheck,
  opts: { state?: WriteState; last?: boolean; inline?: ReadonlyArray<{ blobId: string; data: Buffer }> } = {},
): Promise<ObjectRecord | undefined> {
  const versionId = rec.versionId ?? NULL_VERSION_ID;
  const read = writeState(writer, rec);
  const state = opts.state ?? (await first<WriteState>(q, read.sql, read.values))!;
  if (state.fenced === null) throw new WriterRetiredError(writer);
  if (state.bucket_found === null) throw new StorageConflictError('NoSuchBucket');
  const current = state.bucket === null ? undefined : (state as ObjectRow);
  checkCondition(cond, live(current));
  // The one other version that can carry rec's id: the null version, rewritten.
  const same = sameRow(state);
  if (check !== undefined) {
    // On the rows this transaction replaces: every change to them (a retention or legal hold
    // set, a delete) takes the key's lock too, so none lands between this check and the write.
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
      await q.query(S.insertVersion, rowParams(current, shares || current.shares_blobs === 1 ? 1 : 0));
    }
  }
  if (same !== undefined) {
    await q.query(S.deleteVersion, [rec.bucket, rec.key, same.seq]);
    removed.push(same);
  }
  const params = objectParams(rec, Number(state.next_seq), shares || (removed[0]?.shares_blobs === 1 && removed[0].parts !== '[]'));
  const publish = await publishStatement(q, kept, params, opts.inline ?? []);
  if (opts.last === true && removed.length === 0) {
    // Nothing follows: the write goes with the COMMIT.
    q.commitWith(publish.sql, publish.values);
    return undefined;
  }
  await q.query(queryConfig(publish.sql, publish.values));
  for (const r of removed) await releaseBlobs(q, r, kept);
  return removed[0] && toObject(removed[0]);
}

/**
 * The statement that writes the new current row (and ends its blobs' pending marks), with
 * the staged inline blobs among them (pg-inline-blobs.ts): the one blob of a small PUT in
 * the same statement; any others (not written by the server) inserted first.
 */
async function publishStatement(q: Queryable, kept: Set<string>, params: unknown[], inline: ReadonlyArray<{ blobId: string; data: Buffer }>): Promise<Statement> {
  if (inline.length === 1 && kept.size === 1) return { sql: S.publishInlineObject, values: [inline[0]!.blobId, inline[0]!.data, ...params] };
  for (const b of inline) await q.query(queryConfig(S.insertInline, [b.blobId, b.data]));
  return { sql: S.publishObject, values: [[...kept], ...params] };
}

/**
 * writeObject for a key with no row — the write a PUT of a new key makes — as one statement
 * in its own transaction that takes the key's lock and writes only in that state
 * (pg-metadata-sql.ts, putNewObject): the same row, the same cleared marks or stored inline
 * blob, the same locks. Undefined when it cannot be one statement (more than one staged
 * blob) or the condition needs a current row (If-Match).
 */
export function newKeyWrite(writer: string, rec: ObjectRecord, cond: WriteCondition, inline: ReadonlyArray<{ blobId: string; data: Buffer }>): Statement | undefined {
  if (cond.kind === 'ifMatch') return undefined;
  const lock = BigInt.asIntN(64, keyLock(rec.bucket, rec.key)).toString();
  const row = objectParams(rec, 0, false).slice(0, 15);
  if (inline.length === 0) return { sql: S.putNewObject, values: [lock, writer, rec.parts.map((p) => p.blobId), null, null, ...row] };
  if (inline.length === 1 && rec.parts.length === 1) return { sql: S.putNewObject, values: [lock, writer, null, inline[0]!.blobId, inline[0]!.data, ...row] };
  return undefined;
}

/** writeObject's first statement (objectWriteState), for rec written by `writer`. */
export function writeState(writer: string, rec: ObjectRecord): Statement {
  const versionId = rec.versionId ?? NULL_VERSION_ID;
  return { sql: S.objectWriteState, values: [writer, rec.bucket, rec.bucket, rec.key, rec.bucket, rec.key, versionId, versionId] };
}

/** objectWriteState's row: the current row's columns (null without one), the same-id version's prefixed. */
export type WriteState = { fenced: number | null; bucket_found: number | null; next_seq: number } & NullableRow & Record<string, unknown>;
type NullableRow = { [K in keyof ObjectRow]: ObjectRow[K] | null };

function sameRow(state: Record<string, unknown>): ObjectRow | undefined {
  if (state[`${SAME_PREFIX}bucket`] === null) return undefined;
  return Object.fromEntries(OBJECT_COLUMNS.split(', ').map((c) => [c, state[SAME_PREFIX + c]])) as unknown as ObjectRow;
}

/** Removes a key's current version; its next newest version, if any, becomes current. */
export async function removeCurrent(q: Queryable, row: ObjectRow): Promise<void> {
  await q.query(S.deleteObject, [row.bucket, row.key]);
  const next = await first<ObjectRow>(q, S.newestVersion, [row.bucket, row.key]);
  if (next !== undefined) {
    await q.query(S.deleteVersion, [next.bucket, next.key, next.seq]);
    await q.query(S.upsertObject, rowParams(next));
  }
  await releaseBlobs(q, row, new Set());
}

/**
 * Moves the blobs of a removed version to garbage, except those in `kept` and, when the
 * version may share its blobs (shares_blobs), those another remaining version of its key uses.
 */
export async function releaseBlobs(q: Queryable, row: ObjectRow, kept: Set<string>): Promise<void> {
  const parts = JSON.parse(row.parts) as ObjectPart[];
  if (parts.length === 0) return;
  const used = new Set(kept);
  if (row.shares_blobs === 1) {
    const current = await first<ObjectRow>(q, S.getObject, [row.bucket, row.key]);
    const others = (await rows<{ parts: string }>(q, S.sharedVersionParts, [row.bucket, row.key])).map((r) => r.parts);
    if (current !== undefined) others.push(current.parts);
    for (const text of others) for (const p of JSON.parse(text) as ObjectPart[]) used.add(p.blobId);
  }
  const garbage = parts.map((p) => p.blobId).filter((id) => !used.has(id));
  if (garbage.length > 0) await q.query(S.addGarbageMany, [garbage]);
}

/** MetadataStore.listObjectVersions, in the caller's (read) transaction: one snapshot for its reads. */
export async function listVersions(q: Queryable, bucket: string, lq: ListVersionsQuery): Promise<ObjectVersionRecord[]> {
  if (lq.limit <= 0) return [];
  const out: ObjectVersionRecord[] = [];
  const markerKey = lq.keyMarker;
  const inPrefix = markerKey !== undefined && markerKey.startsWith(lq.prefix);
  if (inPrefix && lq.versionIdMarker !== undefined) {
    // The rest of the marker key's history: versions older than the marker (never its current one).
    const marker = await versionRow(q, bucket, markerKey, lq.versionIdMarker);
    if (marker !== undefined) {
      for (const r of await rows<ObjectRow>(q, S.olderVersionsOf, [bucket, markerKey, marker.seq, lq.limit])) out.push(versionOf(r, false));
    }
  }
  if (out.length >= lq.limit) return out;
  const limit = lq.limit - out.length;
  // Then every key after the marker: the current versions merged with the noncurrent ones
  // (newest first per key), two index-ordered reads of at most `limit` rows.
  const { range, params } = keysAfterMarker(bucket, markerKey, lq.prefix, limit);
  const current = await rows<ObjectRow>(q, numbered(`SELECT ${OBJECT_COLUMNS} FROM meta_objects WHERE ${range} ORDER BY key LIMIT ?`), params);
  const older = await rows<ObjectRow>(q, numbered(`SELECT ${OBJECT_COLUMNS} FROM meta_object_versions WHERE ${range} ORDER BY key, seq DESC LIMIT ?`), params);
  return mergeVersionRows(out, current, older, lq.limit);
}
