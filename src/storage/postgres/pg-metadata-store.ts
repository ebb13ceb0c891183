// The MetadataStore on PostgreSQL, for nodes of a cluster sharing one database
// (docs/CLUSTER.md); the twin of sqlite-metadata-store.ts, passing the same contract
// suite, with the same model: one row per key in meta_objects (its current version, maybe
// a delete marker), noncurrent versions in meta_object_versions (pg-metadata-versions.ts),
// the inline blob tier in meta_inline_blobs (pg-inline-blobs.ts).
//
// What SQLite's single writer made atomic — a write condition checked against the current
// version, a bucket that must exist or be empty — holds across nodes, so of two conflicting
// conditional writes from two nodes exactly one wins; two ways:
//
// - Every write of a key's rows (put, complete, delete, a version's delete, a tag or sys
//   change) runs at READ COMMITTED under that key's advisory lock (transaction.ts,
//   keyTransaction; pg-metadata-versions.ts, keyLock), so writers of one key queue and each
//   reads what the previous one committed; writers of different keys do not conflict.
//   SERIALIZABLE aborted concurrent PUTs of new keys into one bucket over the index page
//   they share (each ran 2.6 times on average with 16 in flight). What such a write relies
//   on beyond its key, it locks: the bucket row FOR SHARE (deleteBucket locks it FOR UPDATE
//   before it looks for objects), its upload FOR UPDATE (completeUpload), its writer row
//   FOR KEY SHARE (the leader's reclamation of the writer's marks waits). A put of a key
//   with no row goes first as one statement, its own transaction, that takes the lock and
//   writes only in that state (pg-metadata-sql.ts, putNewObject): one round trip.
// - Every other multi-step write runs in one SERIALIZABLE transaction retried on a
//   serialization failure (transaction.ts). Single-statement writes run on their own.
//
// Nothing is cached (SQLite caches buckets): another node may write at any time.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type {
  BlobWriterIdentity,
  BucketRecord,
  BucketUsage,
  CompletedUploadRecord,
  ListObjectsQuery,
  ListUploadsQuery,
  ListVersionsQuery,
  MetadataStore,
  MultipartUploadRecord,
  ObjectRecord,
  ObjectVersionRecord,
  PartRecord,
  ReplaceCheck,
  BucketConfigCheck,
  PendingReclaim,
  ReadHint,
  WriteCondition,
} from '../types.js';
import { COMPLETED_UPLOAD_RETENTION_MS, StorageConflictError, WriterRetiredError } from '../types.js';
import { compareUtf8, prefixUpperBound } from '../key-order.js';
import { encodeObjectTags } from '../object-tags.js';
import { OBJECT_COLUMNS, UPLOAD_COLUMNS, toBucket, toObject, toPart, toUpload } from '../sqlite-rows.js';
import type { BucketRow, ObjectRow, PartRow, UploadRow } from '../sqlite-rows.js';
import { checkCondition, live } from '../sqlite-versions.js';
import { migrate } from './migrate.js';
import { PG_METADATA_MIGRATIONS } from './pg-metadata-schema.js';
import { PG_METADATA_SQL as S, numbered } from './pg-metadata-sql.js';
import { keyLock, listVersions, newKeyWrite, releaseBlobs, removeCurrent, versionRow, writeObject, writeState, type WriteState } from './pg-metadata-versions.js';
import { PgInlineBlobs } from './pg-inline-blobs.js';
import { INLINE_MAX_BYTES } from '../tiered-blob-store.js';
import { changed, first, rows } from './query.js';
import { keyTransaction, keyWriteOnce, serializable, transaction, type Queryable, type Statement, type TailQueryable } from './transaction.js';

export interface PgMetadataStoreOptions {
  /** End the pool when the store closes (a pool of its own); by default the pool is the caller's. */
  closePool?: boolean;
  /** Who this store's pending marks belong to (default: node 'local', a fresh instance). */
  writer?: BlobWriterIdentity;
  /** How often the store refreshes its writer's heartbeat, in ms (default 5000; 0: never by itself). */
  heartbeatMs?: number;
  /**
   * How long a blob that a record stopped naming stays before takeGarbage returns it, in ms
   * (default 0): reads on other nodes may still be streaming it (docs/CLUSTER.md, "Garbage
   * and readers on other nodes"). Blobs no record ever named are returned at once.
   */
  garbageGraceMs?: number;
}

/** How long a reclamation waits for a retiring writer's publishing transaction to end. */
const RECLAIM_LOCK_TIMEOUT_MS = 5_000;

/** The weight of the latest try in PgMetadataStore's newKeyShare: about the last ten tries count. */
const NEW_KEY_WEIGHT = 0.1;
/** While most tries miss, one put in this many tries the one-statement write anyway. */
const NEW_KEY_PROBE = 16;

/** The writer heartbeat's default period: well inside any writer timeout the leader uses. */
export const WRITER_HEARTBEAT_MS = 5_000;

type Patch = Partial<Pick<ObjectRecord, 'tags' | 'headers' | 'userMetadata' | 'sys' | 'lastModified' | 'etag'>>;

export class PgMetadataStore implements MetadataStore {
  private closed = false;
  readonly inlineBlobs: PgInlineBlobs;
  readonly writer: BlobWriterIdentity;
  private heartbeat: NodeJS.Timeout | undefined;
  /** The recent share of one-statement tries that found the key new (tryNewKey), a moving average. */
  private newKeyShare = 1;
  private skippedTries = 0;

  private constructor(private readonly pool: pg.Pool, private readonly opts: PgMetadataStoreOptions) {
    this.writer = opts.writer ?? { node: 'local', instance: randomUUID() };
    this.inlineBlobs = new PgInlineBlobs(pool, this.writer.instance);
  }

  /** Brings the metadata tables up to date (once across nodes), registers the writer and returns the store. */
  static async open(pool: pg.Pool, opts: PgMetadataStoreOptions = {}): Promise<PgMetadataStore> {
    let store: PgMetadataStore;
    try {
      await migrate(pool, 'metadata', PG_METADATA_MIGRATIONS, 'metadata database');
      store = new PgMetadataStore(pool, opts);
      await pool.query(S.registerWriter, [store.writer.instance, store.writer.node, opts.heartbeatMs ?? WRITER_HEARTBEAT_MS]);
    } catch (e) {
      if (opts.closePool) await pool.end();
      throw e;
    }
    const every = opts.heartbeatMs ?? WRITER_HEARTBEAT_MS;
    if (every > 0) {
      // A failed beat (database away) is only a missed one: the next may land in time.
      store.heartbeat = setInterval(() => void store.heartbeatWriter().catch(() => undefined), every);
      store.heartbeat.unref();
    }
    return store;
  }

  private tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return serializable(this.pool, fn);
  }

  /**
   * A write of one key's rows: READ COMMITTED under the key's advisory lock (see the top of
   * this file). `first`, a read, goes in the BEGIN's round trip; its rows go to fn.
   */
  private keyTx<T, R = never>(bucket: string, key: string, first: Statement | undefined, fn: (q: TailQueryable, rows: R[]) => Promise<T>): Promise<T> {
    return keyTransaction(this.pool, keyLock(bucket, key), first, (q, r) => fn(q, (r?.rows ?? []) as R[]));
  }

  /** A publishing write's first statement: the writer must not have been retired (types.ts, WriterRetiredError). */
  private async fence(q: Queryable): Promise<void> {
    if ((await first(q, S.fenceWriter, [this.writer.instance])) === undefined) throw new WriterRetiredError(this.writer.instance);
  }

  // ---- buckets ----

  async createBucket(b: BucketRecord): Promise<void> {
    await this.tx(async (q) => {
      if ((await first(q, S.bucketExists, [b.name])) !== undefined) throw new StorageConflictError('BucketExists');
      await q.query(S.insertBucket, [b.name, b.region, b.createdAt, b.owner, JSON.stringify(b.config)]);
    });
  }

  async getBucket(name: string): Promise<BucketRecord | undefined> {
    const row = await first<BucketRow>(this.pool, S.getBucket, [name]);
    return row && toBucket(row);
  }

  async listBuckets(): Promise<BucketRecord[]> {
    return (await rows<BucketRow>(this.pool, S.listBuckets)).map(toBucket);
  }

  async deleteBucket(name: string): Promise<void> {
    // READ COMMITTED: the lock waits for every transaction adding a row to the bucket (they
    // hold it FOR SHARE), and the checks after it, each a fresh snapshot, see their rows.
    await transaction(this.pool, 'READ COMMITTED', async (q) => {
      if ((await first(q, S.lockBucket, [name])) === undefined) throw new StorageConflictError('NoSuchBucket');
      for (const check of [S.bucketHasObject, S.bucketHasVersion, S.bucketHasUpload]) {
        if ((await first(q, check, [name])) !== undefined) throw new StorageConflictError('BucketNotEmpty');
      }
      await q.query(S.deleteBucketCompleted, [name]);
      await q.query(S.deleteBucket, [name]);
    });
  }

  async setBucketConfig(name: string, item: string, value: string | undefined, check?: BucketConfigCheck): Promise<void> {
    await this.tx(async (q) => {
      // FOR UPDATE: a concurrent change of another item of this bucket waits, so `check` sees its result.
      const row = await first<BucketRow>(q, S.getBucketForUpdate, [name]);
      if (row === undefined) throw new StorageConflictError('NoSuchBucket');
      const config = JSON.parse(row.config) as Record<string, string>;
      check?.({ ...config });
      if (value === undefined) delete config[item];
      else config[item] = value;
      await q.query(S.setBucketConfig, [JSON.stringify(config), name]);
    });
  }

  // ---- objects ----

  async getObject(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    const row = await first<ObjectRow>(this.pool, S.getObject, [bucket, key]);
    return row && row.delete_marker === 0 ? toObject(row) : undefined;
  }

  async getObjectVersion(bucket: string, key: string, versionId: string | undefined, hint?: ReadHint): Promise<ObjectRecord | undefined> {
    if (versionId === undefined && hint?.prefetch === true) {
      // One round trip for a small GET: the row and its inline bytes, one snapshot.
      const row = await first<ObjectRow & { inline_data: Buffer | null }>(this.pool, S.getObjectPrefetch, [INLINE_MAX_BYTES, bucket, key]);
      if (row === undefined) return undefined;
      const rec = toObject(row);
      if (row.inline_data !== null) this.inlineBlobs.hold(rec.parts[0]!.blobId, row.inline_data);
      return rec;
    }
    // Two reads when the version is noncurrent: one snapshot, so a concurrent write cannot move it between them.
    const row = versionId === undefined
      ? await first<ObjectRow>(this.pool, S.getObject, [bucket, key])
      : await this.tx((q) => versionRow(q, bucket, key, versionId));
    return row && toObject(row);
  }

  async putObject(rec: ObjectRecord, cond: WriteCondition = { kind: 'none' }, check?: ReplaceCheck): Promise<ObjectRecord | undefined> {
    // One round trip and one statement for a new key: a function call that takes the lock
    // and writes only if the key has no row (with a staged inline blob's bytes), in its own
    // transaction. Otherwise two more: BEGIN, the lock and the read of the write's state;
    // the write and the COMMIT.
    const inline = this.inlineBlobs.stagedAmong(rec.parts.map((p) => p.blobId));
    const once = this.tryNewKey() ? newKeyWrite(this.writer.instance, rec, cond, inline) : undefined;
    if (once !== undefined) {
      const wrote = (await keyWriteOnce(this.pool, once)) === 1;
      this.newKeyShare = this.newKeyShare * (1 - NEW_KEY_WEIGHT) + (wrote ? NEW_KEY_WEIGHT : 0);
      if (wrote) {
        // A probe that found a new key: the next puts try again, until tries miss once more.
        this.newKeyShare = Math.max(this.newKeyShare, 0.5);
        this.unstage(inline);
        return undefined;
      }
    }
    const old = await this.keyTx<ObjectRecord | undefined, WriteState>(rec.bucket, rec.key, writeState(this.writer.instance, rec), (q, [state]) =>
      writeObject(q, this.writer.instance, rec, cond, check, { state: state!, last: true, inline }));
    this.unstage(inline);
    return old;
  }

  /**
   * Whether this put tries the one-statement write of a new key first. A try that finds the
   * key written costs an overwrite a round trip and an empty transaction, about as much CPU
   * as the write it saves a new key: while most recent tries found the key written, only one
   * put in NEW_KEY_PROBE tries, to notice when new keys come back.
   */
  private tryNewKey(): boolean {
    return this.newKeyShare >= 0.5 || ++this.skippedTries % NEW_KEY_PROBE === 0;
  }

  /** Drops staged bytes once the transaction that stored them committed (a failed one leaves them to discardPending). */
  private unstage(inline: ReadonlyArray<{ blobId: string }>): void {
    for (const b of inline) this.inlineBlobs.unstage(b.blobId);
  }

  async updateObject(bucket: string, key: string, patch: Patch, versionId?: string): Promise<boolean> {
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    const values = [
      patch.tags === undefined ? null : encodeObjectTags(patch.tags), json(patch.headers), json(patch.userMetadata), json(patch.sys),
      patch.lastModified ?? null, patch.etag ?? null, bucket, key,
    ];
    const id = versionId ?? null;
    return this.keyTx(bucket, key, undefined, async (q) =>
      (await changed(q, S.updateObject, [...values, id, id])) ||
      (versionId !== undefined && (await changed(q, S.updateVersion, [...values, versionId]))));
  }

  async replaceObjectSys(bucket: string, key: string, expected: Pick<ObjectRecord, 'sys' | 'etag' | 'versionId'>, sys: Record<string, unknown>, check?: ReplaceCheck): Promise<boolean> {
    // sys is stored as JSON.stringify(rec.sys) TEXT, so the text of what a caller read compares equal to the stored text.
    const values = [JSON.stringify(sys), bucket, key, JSON.stringify(expected.sys), expected.etag];
    const id = expected.versionId ?? null;
    // The check (object lock) reads the version under the key's lock, which every write of the key takes.
    const read = check ? { sql: S.getObject, values: [bucket, key] } : undefined;
    return this.keyTx<boolean, ObjectRow>(bucket, key, read, async (q, [current]) => {
      if (check) {
        const cur = live(current);
        const row = expected.versionId === undefined || cur?.version_id === expected.versionId
          ? cur
          : live(await first<ObjectRow>(q, S.getVersion, [bucket, key, expected.versionId]));
        if (row !== undefined) check(toObject(row));
      }
      return (await changed(q, S.replaceObjectSys, [...values, id, id])) ||
        (expected.versionId !== undefined && (await changed(q, S.replaceVersionSys, [...values, expected.versionId])));
    });
  }

  async replaceUploadSys(uploadId: string, expected: Record<string, unknown>, sys: Record<string, unknown>): Promise<boolean> {
    return changed(this.pool, S.replaceUploadSys, [JSON.stringify(sys), uploadId, JSON.stringify(expected)]);
  }

  async deleteObject(bucket: string, key: string, cond: WriteCondition = { kind: 'none' }): Promise<ObjectRecord | undefined> {
    return this.keyTx<ObjectRecord | undefined, ObjectRow>(bucket, key, { sql: S.getObject, values: [bucket, key] }, async (q, [row]) => {
      checkCondition(cond, live(row));
      if (row === undefined) return undefined;
      await removeCurrent(q, row);
      return toObject(row);
    });
  }

  async deleteObjectVersion(bucket: string, key: string, versionId: string, check?: ReplaceCheck, cond: WriteCondition = { kind: 'none' }): Promise<ObjectRecord | undefined> {
    // The check (object lock) runs on the row this transaction removes, under the key's lock:
    // a retention or hold set concurrently (replaceObjectSys) lands before the read or after the delete.
    return this.keyTx<ObjectRecord | undefined, ObjectRow>(bucket, key, { sql: S.getObject, values: [bucket, key] }, async (q, [current]) => {
      checkCondition(cond, live(current));
      if (current !== undefined && current.version_id === versionId) {
        check?.(toObject(current));
        await removeCurrent(q, current);
        return toObject(current);
      }
      const row = await first<ObjectRow>(q, S.getVersion, [bucket, key, versionId]);
      if (row === undefined) return undefined;
      check?.(toObject(row));
      await q.query(S.deleteVersion, [bucket, key, row.seq]);
      await releaseBlobs(q, row, new Set());
      return toObject(row);
    });
  }

  async listObjects(bucket: string, lq: ListObjectsQuery): Promise<ObjectRecord[]> {
    if (lq.limit <= 0) return [];
    const upper = prefixUpperBound(lq.prefix);
    // One lower bound only, so the primary key is read from it in order.
    const useAfter = lq.after !== undefined && compareUtf8(lq.after, lq.prefix) >= 0;
    const sql =
      `SELECT ${OBJECT_COLUMNS} FROM meta_objects WHERE bucket = ? AND key ${useAfter ? '>' : '>='} ?` +
      (upper !== undefined ? ' AND key < ?' : '') +
      ' AND delete_marker = 0 ORDER BY key LIMIT ?';
    const params: unknown[] = [bucket, useAfter ? lq.after : lq.prefix];
    if (upper !== undefined) params.push(upper);
    params.push(lq.limit);
    return (await rows<ObjectRow>(this.pool, numbered(sql), params)).map(toObject);
  }

  async listObjectVersions(bucket: string, lq: ListVersionsQuery): Promise<ObjectVersionRecord[]> {
    if (lq.limit <= 0) return [];
    return this.tx((q) => listVersions(q, bucket, lq));
  }

  // ---- multipart uploads ----

  async createUpload(u: MultipartUploadRecord): Promise<void> {
    await this.tx(async (q) => {
      // FOR SHARE: a deleteBucket (READ COMMITTED) waits for this, then sees the upload.
      if ((await first(q, S.bucketExistsForShare, [u.bucket])) === undefined) throw new StorageConflictError('NoSuchBucket');
      await q.query(S.insertUpload, [
        u.uploadId, u.bucket, u.key, u.initiated, u.owner, u.storageClass,
        JSON.stringify(u.headers), JSON.stringify(u.userMetadata), encodeObjectTags(u.tags),
        u.checksumAlgorithm ?? null, u.checksumType ?? null, JSON.stringify(u.sys),
      ]);
    });
  }

  async getUpload(bucket: string, key: string, uploadId: string): Promise<MultipartUploadRecord | undefined> {
    const row = await first<UploadRow>(this.pool, S.getUpload, [uploadId]);
    if (row === undefined || row.bucket !== bucket || row.key !== key) return undefined;
    return toUpload(row);
  }

  async listUploads(bucket: string, lq: ListUploadsQuery): Promise<MultipartUploadRecord[]> {
    if (lq.limit <= 0) return [];
    return this.tx(async (q) => {
      const where = ['bucket = ?'];
      const params: unknown[] = [bucket];
      const upper = prefixUpperBound(lq.prefix);
      if (lq.keyMarker !== undefined && compareUtf8(lq.keyMarker, lq.prefix) >= 0) {
        const marker = lq.uploadIdMarker === undefined ? undefined : await first<UploadRow>(q, S.getUpload, [lq.uploadIdMarker]);
        if (marker !== undefined && marker.bucket === bucket && marker.key === lq.keyMarker) {
          // Resume right after the marker upload in (key, initiated, upload_id) order.
          where.push('(key, initiated, upload_id) > (?, ?, ?)');
          params.push(marker.key, marker.initiated, marker.upload_id);
        } else if (lq.uploadIdMarker !== undefined) {
          // Unknown marker upload: S3 keeps the marker key's uploads with a greater upload id.
          where.push('(key > ? OR (key = ? AND upload_id > ?))');
          params.push(lq.keyMarker, lq.keyMarker, lq.uploadIdMarker);
        } else {
          where.push('key > ?');
          params.push(lq.keyMarker);
        }
      } else {
        where.push('key >= ?');
        params.push(lq.prefix);
      }
      if (upper !== undefined) {
        where.push('key < ?');
        params.push(upper);
      }
      params.push(lq.limit);
      const sql = `SELECT ${UPLOAD_COLUMNS} FROM meta_uploads WHERE ${where.join(' AND ')} ORDER BY key, initiated, upload_id LIMIT ?`;
      return (await rows<UploadRow>(q, numbered(sql), params)).map(toUpload);
    });
  }

  async putPart(p: PartRecord): Promise<void> {
    const inline = this.inlineBlobs.stagedAmong([p.blobId]);
    await this.tx(async (q) => {
      await this.fence(q);
      if ((await first(q, S.getUploadForShare, [p.uploadId])) === undefined) throw new StorageConflictError('NoSuchUpload');
      const old = await first<{ blob_id: string }>(q, S.getPartBlob, [p.uploadId, p.partNumber]);
      if (old !== undefined && old.blob_id !== p.blobId) await q.query(S.addGarbage, [old.blob_id]);
      for (const b of inline) await q.query(S.insertInline, [b.blobId, b.data]);
      await q.query(S.upsertPart, [p.uploadId, p.partNumber, p.blobId, p.size, p.etag, p.checksum ?? null, p.lastModified]);
      if (inline.length === 0) await q.query(S.clearPending, [p.blobId]);
    });
    this.unstage(inline);
  }

  async listParts(uploadId: string, afterPart: number, limit: number): Promise<PartRecord[]> {
    if (limit <= 0) return [];
    return (await rows<PartRow>(this.pool, S.listParts, [uploadId, afterPart, limit])).map(toPart);
  }

  async completeUpload(
    uploadId: string,
    rec: ObjectRecord,
    cond: WriteCondition = { kind: 'none' },
    completedAt: string = new Date().toISOString(),
    check?: ReplaceCheck,
  ): Promise<ObjectRecord | undefined> {
    // Under the key's lock; the upload FOR UPDATE, so of two completes (or a complete and an
    // abort) the second finds it gone, and a part upload either lands first or fails.
    return this.keyTx<ObjectRecord | undefined, UploadRow>(rec.bucket, rec.key, { sql: S.getUploadForUpdate, values: [uploadId] }, async (q, [up]) => {
      if (up === undefined || up.bucket !== rec.bucket || up.key !== rec.key) throw new StorageConflictError('NoSuchUpload');
      const current = new Set((await rows<{ blob_id: string }>(q, S.listPartBlobs, [uploadId])).map((r) => r.blob_id));
      // A part uploaded again since the caller read the parts: its old blob is garbage.
      if (!rec.parts.every((p) => current.has(p.blobId))) throw new StorageConflictError('InvalidPart');
      const old = await writeObject(q, this.writer.instance, rec, cond, check);
      const used = new Set(rec.parts.map((p) => p.blobId));
      const unused = [...current].filter((id) => !used.has(id));
      if (unused.length > 0) await q.query(S.addGarbageMany, [unused]);
      await q.query(S.deleteParts, [uploadId]);
      await q.query(S.deleteUpload, [uploadId]);
      await q.query(S.pruneCompleted, [new Date(Date.parse(completedAt) - COMPLETED_UPLOAD_RETENTION_MS).toISOString()]);
      await q.query(S.insertCompleted, [uploadId, rec.bucket, rec.key, completedAt, rec.etag, rec.parts[0]?.blobId ?? '']);
      return old;
    });
  }

  async getCompletedUpload(bucket: string, key: string, uploadId: string, notBefore: string): Promise<CompletedUploadRecord | undefined> {
    const row = await first<{ upload_id: string; bucket: string; key: string; completed_at: string; etag: string; blob_id: string }>(
      this.pool, S.getCompleted, [uploadId]);
    if (row === undefined || row.bucket !== bucket || row.key !== key || row.completed_at < notBefore) return undefined;
    return { uploadId: row.upload_id, bucket: row.bucket, key: row.key, completedAt: row.completed_at, etag: row.etag, blobId: row.blob_id };
  }

  async abortUpload(bucket: string, key: string, uploadId: string): Promise<boolean> {
    return this.tx(async (q) => {
      const up = await first<UploadRow>(q, S.getUpload, [uploadId]);
      if (up === undefined || up.bucket !== bucket || up.key !== key) return false;
      const blobs = (await rows<{ blob_id: string }>(q, S.listPartBlobs, [uploadId])).map((r) => r.blob_id);
      if (blobs.length > 0) await q.query(S.addGarbageMany, [blobs]);
      await q.query(S.deleteParts, [uploadId]);
      await q.query(S.deleteUpload, [uploadId]);
      return true;
    });
  }

  // ---- blob bookkeeping ----

  async heartbeatWriter(): Promise<boolean> {
    return changed(this.pool, S.heartbeatWriter, [this.writer.instance]);
  }

  async reclaimPending(which: PendingReclaim): Promise<number> {
    // READ COMMITTED, two statements: retire the writers, then move their marks. An object
    // write (READ COMMITTED) holds its writer row FOR KEY SHARE from its first read to its
    // commit: the retirement waits for it, and the move then finds its marks gone and the
    // blobs stay; a write that starts after the retirement finds its writer gone
    // (WriterRetiredError). A part upload (SERIALIZABLE) reads its writer row and deletes its
    // mark: if it commits first, likewise; if the move commits first, its delete of the mark
    // fails with 40001, and its retry finds its writer gone. Either way no record names a
    // reclaimed blob.
    return transaction(this.pool, 'READ COMMITTED', async (q) => {
      // A retired writer's transaction left open (its process paused mid-commit) must not
      // hold the sweep up for good: give up, and try again at the next one.
      await q.query(`SET LOCAL lock_timeout = '${RECLAIM_LOCK_TIMEOUT_MS}ms'`);
      if (which.kind === 'earlier-instances') {
        const retired = (await rows<{ instance: string }>(q, S.retireEarlierWriters, [this.writer.node, this.writer.instance])).map((r) => r.instance);
        return retired.length === 0 ? 0 : (await first<{ n: number }>(q, S.reclaimPendingOf, [retired]))!.n;
      }
      const retired = (await rows<{ instance: string }>(q, S.retireStaleWriters, [which.writerTimeoutMs, this.writer.instance])).map((r) => r.instance);
      const ofRetired = retired.length === 0 ? 0 : (await first<{ n: number }>(q, S.reclaimPendingOf, [retired]))!.n;
      return ofRetired + (await first<{ n: number }>(q, S.reclaimPendingOfNobody, [which.unknownWriterGraceMs]))!.n;
    });
  }

  async markPending(blobId: string): Promise<void> {
    await this.pool.query(S.addPending, [blobId, this.writer.instance]);
  }

  async discardPending(blobId: string): Promise<void> {
    // A staged blob has no mark and nothing in the database (unless its publishing commit
    // went through though the writer saw an error: then it is published, and stays).
    if (this.inlineBlobs.unstage(blobId)) return;
    await this.pool.query(S.discardPending, [blobId]);
  }

  async takeGarbage(includePending: boolean): Promise<string[]> {
    // Pending ids become garbage, so forgetGarbage() is the one way any id is dropped and a
    // crash between here and the deletes leaves them to the next start.
    if (includePending) {
      await this.pool.query(S.pendingToGarbage);
      await this.pool.query(S.retireOtherWriters, [this.writer.instance]);
    }
    return (await rows<{ blob_id: string }>(this.pool, S.listGarbage, [this.opts.garbageGraceMs ?? 0])).map((r) => r.blob_id);
  }

  async forgetGarbage(blobIds: string[]): Promise<void> {
    if (blobIds.length === 0) return;
    await this.pool.query(S.forgetGarbage, [blobIds]);
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('the store is closed');
    await this.pool.query('SELECT 1');
  }

  async bucketUsage(): Promise<BucketUsage[]> {
    return rows<BucketUsage>(this.pool, S.usage);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.opts.closePool) await this.pool.end();
  }
}
