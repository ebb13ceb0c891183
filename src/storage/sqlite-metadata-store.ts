// The embedded metadata store: one SQLite database (better-sqlite3) in WAL mode, which
// also holds the inline blob tier (sqlite-inline-blobs.ts, on the same connection).
//
// Durability: synchronous=NORMAL (the default here) survives a crash of the process at
// any point; a power loss or kernel crash may lose the last few commits (never tears
// one). Pass { synchronous: 'FULL' } (the server does when fsync is on) to make every
// commit survive power loss too: SQLite fsyncs the WAL before the commit returns, so a
// write is durable before anyone can see it.
//
// Group commit (with FULL): an fsync per write would cap small PUTs at the disk's sync
// rate, so writes are queued and every write queued in one turn of the event loop runs in
// one transaction, each in its own savepoint (a write that fails rolls back alone and
// rejects alone), under one COMMIT and so one fsync. Each write's promise settles after
// that COMMIT; if the COMMIT fails, every write of the batch fails and none is visible.
//
// WAL checkpoints run on a second connection in a worker thread (sqlite-checkpointer.ts),
// nudged every CHECKPOINT_EVERY commits; the writing connection keeps a high
// wal_autocheckpoint only as a fallback that bounds the WAL if the worker falls behind.
//
// Bucket records are cached (getBucket runs on every request): every bucket write is a
// method of this class and clears the cache, so this assumes no other process writes the
// buckets table of the same database (the server is the one process that does).
//
// better-sqlite3 is synchronous: each method does all its work in one go (one
// transaction when it takes more than one statement) and returns a settled Promise. The
// interface is async so a networked store (PostgreSQL) can implement it later.

import { openSqlite, synchronousLevel } from './sqlite-database.js';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type {
  BlobWriterIdentity,
  BucketRecord,
  BucketUsage,
  CompletedUploadRecord,
  ListObjectsQuery,
  ListVersionsQuery,
  ObjectVersionRecord,
  ListUploadsQuery,
  MetadataStore,
  MultipartUploadRecord,
  ObjectRecord,
  PartRecord,
  ReplaceCheck,
  BucketConfigCheck,
  PendingReclaim,
  WriteCondition,
} from './types.js';
import { COMPLETED_UPLOAD_RETENTION_MS, StorageConflictError, WriterRetiredError } from './types.js';
import { compareUtf8, prefixUpperBound } from './key-order.js';
import { encodeObjectTags } from './object-tags.js';
import type { CheckpointerData } from './sqlite-checkpointer.js';
import {
  OBJECT_COLUMNS,
  UPLOAD_COLUMNS,
  prepareStatements,
  toBucket,
  toObject,
  toPart,
  toUpload,
} from './sqlite-rows.js';
import type { BucketRow, ObjectRow, PartRow, Stmt, UploadRow } from './sqlite-rows.js';
import { migrate } from './sqlite-schema.js';
import { SqliteVersions, checkCondition, live } from './sqlite-versions.js';
import { SqliteInlineBlobs } from './sqlite-inline-blobs.js';
import { reclaimPending } from './sqlite-pending.js';
import { isStorageFull } from './storage-full.js';

export interface SqliteMetadataStoreOptions {
  /** 'NORMAL' (default): survives a process crash. 'FULL': also survives power loss, at an fsync per (group) commit. */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long a writer waits for another process's lock before failing, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Checkpoint the WAL in a worker thread (default true); false checkpoints on the writing connection. */
  backgroundCheckpoint?: boolean;
  /**
   * Space held for a full disk (disk-reserve.ts): a write that frees space (a delete) and
   * fails for want of it releases the reserve and runs once more.
   */
  reserve?: { release(): boolean };
  /** Who this store's pending marks belong to (default: node 'local', a fresh instance). */
  writer?: BlobWriterIdentity;
}

interface QueuedWrite {
  fn: () => unknown;
  /** A delete: may release the reserve on a full disk (once). */
  frees: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Writes between nudges to the checkpointer worker. */
const CHECKPOINT_EVERY = 512;
/** WAL pages after which the writing connection checkpoints by itself: the fallback when a worker runs, else SQLite's default. */
const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

export class SqliteMetadataStore implements MetadataStore {
  /** Statements built from a query shape at run time (listings), prepared once per shape. */
  private readonly dynamic = new Map<string, Stmt>();
  private readonly s: ReturnType<typeof prepareStatements>;
  /** Version bookkeeping (sqlite-versions.ts), on the same statements. */
  private readonly v: SqliteVersions;
  /** One transaction wrapper for every write; the callback is its argument. */
  private readonly txRunner: Database.Transaction<(fn: () => unknown) => unknown>;
  /** Writes waiting for the next group commit (only with synchronous=FULL). */
  private queued: QueuedWrite[] = [];
  private closed = false;
  private checkpointer: Worker | undefined;
  private commits = 0;
  /** Existing buckets by name; cleared by createBucket, deleteBucket and setBucketConfig. */
  private readonly buckets = new Map<string, BucketRecord>();

  readonly inlineBlobs: SqliteInlineBlobs;
  readonly writer: BlobWriterIdentity;

  private constructor(
    private readonly db: Database.Database,
    private readonly groupCommit: boolean,
    private readonly reserve: { release(): boolean } | undefined,
    writer: BlobWriterIdentity | undefined,
  ) {
    this.s = prepareStatements(db);
    this.v = new SqliteVersions(this.s, (sql) => this.cached(sql));
    this.txRunner = db.transaction((fn: () => unknown) => fn());
    this.writer = writer ?? { node: 'local', instance: randomUUID() };
    this.inlineBlobs = new SqliteInlineBlobs(db, (fn) => this.write(fn), this.writer.instance);
    const now = Date.now();
    this.s.registerWriter.run(this.writer.instance, this.writer.node, now, now);
  }

  /** A publishing write's first step: the writer must not have been retired (types.ts, WriterRetiredError). */
  private fence(): void {
    if (this.s.writerExists.get(this.writer.instance) === undefined) throw new WriterRetiredError(this.writer.instance);
  }

  static open(path: string, opts: SqliteMetadataStoreOptions = {}): SqliteMetadataStore {
    const synchronous = opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL';
    const db = openSqlite(path, opts, migrate);
    let store: SqliteMetadataStore;
    try {
      store = new SqliteMetadataStore(db, synchronous === 'FULL', opts.reserve, opts.writer);
    } catch (e) {
      db.close();
      throw e;
    }
    if ((opts.backgroundCheckpoint ?? true) && !db.memory) store.startCheckpointer({ path: db.name, synchronous });
    return store;
  }

  /** The live connection's synchronous level: FULL fsyncs the WAL at every commit. */
  get synchronous(): 'NORMAL' | 'FULL' {
    return synchronousLevel(this.db);
  }

  // ---- buckets ----

  async createBucket(b: BucketRecord): Promise<void> {
    await this.write(() => {
      this.buckets.clear();
      if (this.s.bucketExists.get(b.name) !== undefined) throw new StorageConflictError('BucketExists');
      this.s.insertBucket.run(b.name, b.region, b.createdAt, b.owner, JSON.stringify(b.config));
    });
  }

  async getBucket(name: string): Promise<BucketRecord | undefined> {
    let b = this.buckets.get(name);
    if (b === undefined) {
      const row = this.s.getBucket.get(name) as BucketRow | undefined;
      if (row === undefined) return undefined; // absent names are not cached: the map stays as small as the bucket list
      b = toBucket(row);
      this.buckets.set(name, b);
    }
    // A copy: a caller that edits its record must not edit the cache.
    return { ...b, config: { ...b.config } };
  }

  async listBuckets(): Promise<BucketRecord[]> {
    return (this.s.listBuckets.all() as BucketRow[]).map(toBucket);
  }

  async deleteBucket(name: string): Promise<void> {
    await this.freeingWrite(() => {
      this.buckets.clear();
      if (this.s.bucketExists.get(name) === undefined) throw new StorageConflictError('NoSuchBucket');
      if (this.s.bucketHasObject.get(name) !== undefined || this.s.bucketHasVersion.get(name) !== undefined || this.s.bucketHasUpload.get(name) !== undefined) {
        throw new StorageConflictError('BucketNotEmpty');
      }
      this.s.deleteBucketCompleted.run(name);
      this.s.deleteBucket.run(name);
    });
  }

  async setBucketConfig(name: string, item: string, value: string | undefined, check?: BucketConfigCheck): Promise<void> {
    await this.write(() => {
      this.buckets.clear();
      const row = this.s.getBucket.get(name) as BucketRow | undefined;
      if (row === undefined) throw new StorageConflictError('NoSuchBucket');
      const config = JSON.parse(row.config) as Record<string, string>;
      check?.({ ...config });
      if (value === undefined) delete config[item];
      else config[item] = value;
      this.s.setBucketConfig.run(JSON.stringify(config), name);
    });
  }

  // ---- objects ----

  async getObject(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    const row = this.s.getObject.get(bucket, key) as ObjectRow | undefined;
    return row && row.delete_marker === 0 ? toObject(row) : undefined;
  }

  async getObjectVersion(bucket: string, key: string, versionId: string | undefined): Promise<ObjectRecord | undefined> {
    const row = this.v.versionRow(bucket, key, versionId);
    return row && toObject(row);
  }

  async putObject(rec: ObjectRecord, cond: WriteCondition = { kind: 'none' }, check?: ReplaceCheck): Promise<ObjectRecord | undefined> {
    return this.write(() => {
      this.fence();
      return this.v.writeObject(rec, cond, check);
    });
  }

  async updateObject(
    bucket: string,
    key: string,
    patch: Partial<Pick<ObjectRecord, 'tags' | 'headers' | 'userMetadata' | 'sys' | 'lastModified' | 'etag'>>,
    versionId?: string,
  ): Promise<boolean> {
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    const values = [
      patch.tags === undefined ? null : encodeObjectTags(patch.tags), json(patch.headers), json(patch.userMetadata), json(patch.sys),
      patch.lastModified ?? null, patch.etag ?? null, bucket, key,
    ];
    const id = versionId ?? null;
    return this.write(() =>
      this.s.updateObject.run(...values, id, id).changes > 0 ||
      (versionId !== undefined && this.s.updateVersion.run(...values, versionId).changes > 0));
  }

  async replaceObjectSys(bucket: string, key: string, expected: Pick<ObjectRecord, 'sys' | 'etag' | 'versionId'>, sys: Record<string, unknown>, check?: ReplaceCheck): Promise<boolean> {
    // sys is stored as JSON.stringify(rec.sys) and read back with JSON.parse, so the text of
    // what a caller read compares equal to the stored text, in one statement (atomic).
    const values = [JSON.stringify(sys), bucket, key, JSON.stringify(expected.sys), expected.etag];
    const id = expected.versionId ?? null;
    return this.write(() => {
      const row = check && live(this.v.versionRow(bucket, key, expected.versionId));
      if (row) check?.(toObject(row));
      return this.s.replaceObjectSys.run(...values, id, id).changes > 0 ||
        (expected.versionId !== undefined && this.s.replaceVersionSys.run(...values, expected.versionId).changes > 0);
    });
  }

  async replaceUploadSys(uploadId: string, expected: Record<string, unknown>, sys: Record<string, unknown>): Promise<boolean> {
    return this.write(() => this.db.prepare('UPDATE uploads SET sys = ? WHERE upload_id = ? AND sys = ?').run(JSON.stringify(sys), uploadId, JSON.stringify(expected)).changes > 0);
  }

  async deleteObject(bucket: string, key: string, cond: WriteCondition = { kind: 'none' }): Promise<ObjectRecord | undefined> {
    return this.freeingWrite(() => {
      const row = this.s.getObject.get(bucket, key) as ObjectRow | undefined;
      checkCondition(cond, live(row));
      if (row === undefined) return undefined;
      this.v.removeCurrent(row);
      return toObject(row);
    });
  }

  async deleteObjectVersion(bucket: string, key: string, versionId: string, check?: ReplaceCheck, cond: WriteCondition = { kind: 'none' }): Promise<ObjectRecord | undefined> {
    return this.freeingWrite(() => {
      const current = this.s.getObject.get(bucket, key) as ObjectRow | undefined;
      checkCondition(cond, live(current));
      if (current !== undefined && current.version_id === versionId) {
        const rec = toObject(current);
        check?.(rec);
        this.v.removeCurrent(current);
        return rec;
      }
      const row = this.s.getVersion.get(bucket, key, versionId) as ObjectRow | undefined;
      if (row === undefined) return undefined;
      check?.(toObject(row));
      this.s.deleteVersion.run(bucket, key, row.seq);
      this.v.releaseBlobs(row, new Set());
      return toObject(row);
    });
  }

  async listObjects(bucket: string, q: ListObjectsQuery): Promise<ObjectRecord[]> {
    if (q.limit <= 0) return [];
    const upper = prefixUpperBound(q.prefix);
    // One lower bound only, so SQLite seeks straight to it in the primary key.
    const useAfter = q.after !== undefined && compareUtf8(q.after, q.prefix) >= 0;
    const sql =
      `SELECT ${OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key ${useAfter ? '>' : '>='} ?` +
      (upper !== undefined ? ' AND key < ?' : '') +
      ' AND delete_marker = 0 ORDER BY key LIMIT ?';
    const params: unknown[] = [bucket, useAfter ? q.after : q.prefix];
    if (upper !== undefined) params.push(upper);
    params.push(q.limit);
    return (this.cached(sql).all(...params) as ObjectRow[]).map(toObject);
  }

  async listObjectVersions(bucket: string, q: ListVersionsQuery): Promise<ObjectVersionRecord[]> {
    return this.v.list(bucket, q);
  }

  // ---- multipart uploads ----

  async createUpload(u: MultipartUploadRecord): Promise<void> {
    await this.write(() => {
      if (this.s.bucketExists.get(u.bucket) === undefined) throw new StorageConflictError('NoSuchBucket');
      this.s.insertUpload.run(
        u.uploadId, u.bucket, u.key, u.initiated, u.owner, u.storageClass,
        JSON.stringify(u.headers), JSON.stringify(u.userMetadata), encodeObjectTags(u.tags),
        u.checksumAlgorithm ?? null, u.checksumType ?? null, JSON.stringify(u.sys),
      );
    });
  }

  async getUpload(bucket: string, key: string, uploadId: string): Promise<MultipartUploadRecord | undefined> {
    const row = this.s.getUpload.get(uploadId) as UploadRow | undefined;
    if (row === undefined || row.bucket !== bucket || row.key !== key) return undefined;
    return toUpload(row);
  }

  async listUploads(bucket: string, q: ListUploadsQuery): Promise<MultipartUploadRecord[]> {
    if (q.limit <= 0) return [];
    const where = ['bucket = ?'];
    const params: unknown[] = [bucket];
    const upper = prefixUpperBound(q.prefix);
    if (q.keyMarker !== undefined && compareUtf8(q.keyMarker, q.prefix) >= 0) {
      const marker = q.uploadIdMarker === undefined ? undefined : (this.s.getUpload.get(q.uploadIdMarker) as UploadRow | undefined);
      if (marker !== undefined && marker.bucket === bucket && marker.key === q.keyMarker) {
        // Resume right after the marker upload in (key, initiated, upload_id) order.
        where.push('(key, initiated, upload_id) > (?, ?, ?)');
        params.push(marker.key, marker.initiated, marker.upload_id);
      } else if (q.uploadIdMarker !== undefined) {
        // Unknown marker upload: S3 keeps the marker key's uploads with a greater upload id.
        where.push('(key > ? OR (key = ? AND upload_id > ?))');
        params.push(q.keyMarker, q.keyMarker, q.uploadIdMarker);
      } else {
        where.push('key > ?');
        params.push(q.keyMarker);
      }
    } else {
      where.push('key >= ?');
      params.push(q.prefix);
    }
    if (upper !== undefined) {
      where.push('key < ?');
      params.push(upper);
    }
    params.push(q.limit);
    const sql = `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE ${where.join(' AND ')} ORDER BY key, initiated, upload_id LIMIT ?`;
    return (this.cached(sql).all(...params) as UploadRow[]).map(toUpload);
  }

  async putPart(p: PartRecord): Promise<void> {
    await this.write(() => {
      this.fence();
      if (this.s.getUpload.get(p.uploadId) === undefined) throw new StorageConflictError('NoSuchUpload');
      const old = this.s.getPartBlob.get(p.uploadId, p.partNumber) as { blob_id: string } | undefined;
      if (old !== undefined && old.blob_id !== p.blobId) this.s.addGarbage.run(old.blob_id);
      this.s.upsertPart.run(p.uploadId, p.partNumber, p.blobId, p.size, p.etag, p.checksum ?? null, p.lastModified);
      this.s.clearPending.run(p.blobId);
    });
  }

  async listParts(uploadId: string, afterPart: number, limit: number): Promise<PartRecord[]> {
    if (limit <= 0) return [];
    return (this.s.listParts.all(uploadId, afterPart, limit) as PartRow[]).map(toPart);
  }

  async completeUpload(
    uploadId: string,
    rec: ObjectRecord,
    cond: WriteCondition = { kind: 'none' },
    completedAt: string = new Date().toISOString(),
    check?: ReplaceCheck,
  ): Promise<ObjectRecord | undefined> {
    return this.write(() => {
      this.fence();
      const up = this.s.getUpload.get(uploadId) as UploadRow | undefined;
      if (up === undefined || up.bucket !== rec.bucket || up.key !== rec.key) throw new StorageConflictError('NoSuchUpload');
      const current = new Set((this.s.listPartBlobs.all(uploadId) as { blob_id: string }[]).map((r) => r.blob_id));
      // A part uploaded again since the caller read the parts: its old blob is garbage.
      if (!rec.parts.every((p) => current.has(p.blobId))) throw new StorageConflictError('InvalidPart');
      const old = this.v.writeObject(rec, cond, check);
      const used = new Set(rec.parts.map((p) => p.blobId));
      for (const blob_id of current) {
        if (!used.has(blob_id)) this.s.addGarbage.run(blob_id);
      }
      this.s.deleteParts.run(uploadId);
      this.s.deleteUpload.run(uploadId);
      this.s.pruneCompleted.run(new Date(Date.parse(completedAt) - COMPLETED_UPLOAD_RETENTION_MS).toISOString());
      this.s.insertCompleted.run(uploadId, rec.bucket, rec.key, completedAt, rec.etag, rec.parts[0]?.blobId ?? '');
      return old;
    });
  }

  async getCompletedUpload(bucket: string, key: string, uploadId: string, notBefore: string): Promise<CompletedUploadRecord | undefined> {
    const row = this.s.getCompleted.get(uploadId) as
      | { upload_id: string; bucket: string; key: string; completed_at: string; etag: string; blob_id: string }
      | undefined;
    if (row === undefined || row.bucket !== bucket || row.key !== key || row.completed_at < notBefore) return undefined;
    return { uploadId: row.upload_id, bucket: row.bucket, key: row.key, completedAt: row.completed_at, etag: row.etag, blobId: row.blob_id };
  }

  async abortUpload(bucket: string, key: string, uploadId: string): Promise<boolean> {
    return this.freeingWrite(() => {
      const up = this.s.getUpload.get(uploadId) as UploadRow | undefined;
      if (up === undefined || up.bucket !== bucket || up.key !== key) return false;
      for (const { blob_id } of this.s.listPartBlobs.all(uploadId) as { blob_id: string }[]) this.s.addGarbage.run(blob_id);
      this.s.deleteParts.run(uploadId);
      this.s.deleteUpload.run(uploadId);
      return true;
    });
  }

  // ---- blob bookkeeping ----

  async heartbeatWriter(): Promise<boolean> {
    return this.write(() => this.s.heartbeatWriter.run(Date.now(), this.writer.instance).changes > 0);
  }

  async reclaimPending(which: PendingReclaim): Promise<number> {
    return this.freeingWrite(() => reclaimPending(this.s, this.writer, which, Date.now()));
  }

  async markPending(blobId: string): Promise<void> {
    await this.write(() => this.s.addPending.run(blobId, this.writer.instance, Date.now()));
  }

  async discardPending(blobId: string): Promise<void> {
    await this.write(() => {
      // No pending mark: the write did publish it (its commit went through though the writer
      // saw an error), or it is garbage already. Only a blob still pending is the failed write's.
      if (this.s.clearPending.run(blobId).changes > 0) this.s.addGarbage.run(blobId);
    });
  }

  async takeGarbage(includePending: boolean): Promise<string[]> {
    if (includePending) {
      // Pending ids become garbage, so forgetGarbage() is the one way any id is dropped and a
      // crash between here and the deletes leaves them to the next start.
      await this.freeingWrite(() => {
        this.s.pendingToGarbage.run();
        this.s.clearAllPending.run();
        this.s.retireOtherWriters.run(this.writer.instance);
      });
    }
    return this.s.listGarbage.all() as string[];
  }

  async forgetGarbage(blobIds: string[]): Promise<void> {
    if (blobIds.length === 0) return;
    // Bookkeeping, not a delete: the blobs are gone already (or never had a file, a failed
    // PUT's), so this frees nothing and must not spend the reserve. On a full disk it fails
    // and the ids stay listed for the next collection or start.
    await this.write(() => {
      for (const id of blobIds) this.s.forgetGarbage.run(id);
    });
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('the store is closed');
    this.db.prepare('SELECT count(*) FROM sqlite_master').get();
  }

  async bucketUsage(): Promise<BucketUsage[]> {
    return this.db.prepare('SELECT bucket, objects, bytes FROM bucket_usage ORDER BY bucket').all() as BucketUsage[];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush(); // writes already queued commit before the connection closes
    const worker = this.checkpointer;
    this.checkpointer = undefined;
    if (worker !== undefined) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.ref(); // keep the event loop alive until the worker has closed its connection
      worker.postMessage('close');
      await exited;
    }
    this.db.close();
  }

  // ---- internals ----

  /**
   * Runs fn in a write transaction and settles once that transaction has committed: at
   * once with NORMAL, at the next group commit with FULL (see the header).
   */
  private write<T>(fn: () => T, frees = false): Promise<T> {
    if (!this.groupCommit) {
      try {
        return Promise.resolve(this.tx(fn));
      } catch (e) {
        if (frees && isStorageFull(e) && this.reserve?.release()) return this.write(fn);
        return Promise.reject(e);
      }
    }
    return new Promise<T>((resolve, reject) => this.enqueue({ fn, frees, resolve: resolve as (value: unknown) => void, reject }));
  }

  /** A write that frees space (a delete): on a full disk it may release the reserve and run again. */
  private freeingWrite<T>(fn: () => T): Promise<T> {
    return this.write(fn, true);
  }

  private enqueue(w: QueuedWrite): void {
    if (this.queued.length === 0) setImmediate(() => this.flush());
    this.queued.push(w);
  }

  /** Whether a failed write runs again: a delete on a full disk, once the reserve gave its space back. */
  private retryOnFull(w: QueuedWrite, error: unknown): boolean {
    if (!w.frees || !isStorageFull(error) || !this.reserve?.release()) return false;
    this.enqueue({ ...w, frees: false });
    return true;
  }

  /** One group commit: every queued write, each in a savepoint, under one COMMIT. */
  private flush(): void {
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.tx(() => {
        for (const w of batch) {
          try {
            // Called inside a transaction, better-sqlite3's wrapper is a savepoint.
            outcomes.push({ ok: true, value: this.txRunner(w.fn) });
          } catch (error) {
            // An error SQLite answers by rolling back the whole transaction (a full disk, an
            // I/O error) must fail the batch: later writes would otherwise autocommit alone.
            if (!this.db.inTransaction) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      }, batch.length);
    } catch (error) {
      // Released once for the batch: every delete in it runs again.
      const released = batch.some((w) => w.frees) && isStorageFull(error) && (this.reserve?.release() ?? false);
      for (const w of batch) {
        if (released && w.frees) this.enqueue({ ...w, frees: false });
        else w.reject(error);
      }
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.value);
      else if (!this.retryOnFull(w, o.error)) w.reject(o.error);
    });
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: takes the write lock up front, so another process can't make it fail half-way with SQLITE_BUSY). */
  private tx<T>(fn: () => T, writes = 1): T {
    const result = this.txRunner.immediate(fn) as T;
    this.committed(writes);
    return result;
  }

  /** Counts writes, not commits: the worker is nudged every CHECKPOINT_EVERY writes however they were grouped. */
  private committed(writes: number): void {
    if ((this.commits += writes) < CHECKPOINT_EVERY) return;
    this.commits = 0;
    this.checkpointer?.postMessage('checkpoint');
  }

  private startCheckpointer(data: CheckpointerData): void {
    const worker = new Worker(new URL('./sqlite-checkpointer.js', import.meta.url), { workerData: data });
    worker.unref(); // never keeps the process alive; close() stops it
    const fallback = () => {
      if (this.checkpointer !== worker) return;
      this.checkpointer = undefined;
      if (!this.closed) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    };
    worker.on('error', fallback); // the writer goes back to checkpointing by itself
    worker.on('exit', fallback);
    this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    this.checkpointer = worker;
  }

  private cached(sql: string): Stmt {
    let st = this.dynamic.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      this.dynamic.set(sql, st);
    }
    return st;
  }
}
