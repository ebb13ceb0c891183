// The two storage interfaces the S3 layer is written against. The embedded defaults
// are SQLite (sqlite-metadata-store.ts) and files (file-blob-store.ts); a PostgreSQL
// store or a remote blob backend implements the same interfaces and passes the same
// contract suites (test/storage/*.contract.ts). Nothing here knows about HTTP or S3 wire formats.
//
// Atomicity protocol (what makes an interrupted write leave the old object or the new,
// never a torn one):
//   1. blobs.create() reserves an id; the metadata store records it as *pending*
//      (markPending) before anything exists under that id: bytes may already stream into
//      the blob store's temporary area meanwhile (which recover() empties), but commit()
//      waits for the mark. A store may mark ids ahead, several in one commit, and give a
//      writer one of those (tiered-blob-store.ts, "Pending marks ahead"): the mark is then
//      durable before the writer starts; an id marked ahead and never used is a pending id
//      with nothing under it, reclaimed like any other.
//   2. the writer streams into the blob and commit()s it: bytes are fsync'd and the
//      blob is renamed into place (a small blob is instead stored by the metadata store
//      itself, MetadataStore.inlineBlobs, in a commit ahead of step 3's, or, where the
//      store can hold it until then, in step 3's own transaction: tiered-blob-store.ts).
//   3. one metadata transaction (putObject / completeMultipartUpload / putPart) makes
//      the new record visible, clears the pending marks of the blobs it references,
//      and moves the blobs of whatever it replaced to the *garbage* list.
//   4. garbage blobs are deleted after the commit (and again on start); one that an open
//      read still needs stays listed until that read ends (blob-readers.ts).
// On start, recover(): every pending blob and every garbage blob is deleted, and the
// blob store's temporary area is emptied.
//
// With several nodes on one database (docs/CLUSTER.md, "Pending blobs"), a pending mark
// names its *writer*: the server process (instance) that made it, on a node. A node's
// start reclaims only its own earlier instances' pending blobs; the job leader reclaims
// those of writers that stopped heartbeating. A writer whose row the leader removed is
// *retired*: its later publishing writes (putObject, putPart, completeUpload) fail with
// WriterRetiredError in their own transaction, so a blob reclaimed under a paused or
// partitioned writer is never published.

import type { Readable } from 'node:stream';
import type { ChecksumAlgorithm } from '../checksum/algorithm.js';
import type { ObjectTags } from './object-tags.js';

export type { ChecksumAlgorithm, ObjectTags };

export type ChecksumType = 'COMPOSITE' | 'FULL_OBJECT';

/** One stored checksum: the algorithm, its type and the base64 value as S3 returns it (composite values end in "-N"). */
export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  type: ChecksumType;
  value: string;
}

/** A contiguous run of an object's bytes held in one blob. A single-part object has one; a multipart object one per part. */
export interface ObjectPart {
  blobId: string;
  size: number;
  /** Part number for multipart objects (1-based), 0 for a single-part object. */
  partNumber: number;
  /** The part's ETag, quoted, as UploadPart returned it (or the object's ETag for a single part). */
  etag: string;
  /** The part's own checksum (base64), if one was computed. */
  checksum?: string;
}

export interface BucketRecord {
  name: string;
  region: string;
  /** ISO 8601 with milliseconds. */
  createdAt: string;
  owner: string;
  /** Bucket subresources stored as opaque JSON documents by name (e.g. "encryption", "policy", "tagging"). */
  config: Record<string, string>;
}

export interface ObjectRecord {
  bucket: string;
  key: string;
  size: number;
  /** Quoted ETag, e.g. "\"9b2cf535f27731c974343645a3985328\"" or "\"...-3\"". */
  etag: string;
  /** ISO 8601 with milliseconds. */
  lastModified: string;
  /** Content-Type, Content-Encoding, Cache-Control ... keyed by lower-case header name. */
  headers: Record<string, string>;
  /** User metadata without the x-amz-meta- prefix, keys lower-case. */
  userMetadata: Record<string, string>;
  /** In the order the client gave them (object-tags.ts). */
  tags: ObjectTags;
  checksum?: StoredChecksum;
  parts: ObjectPart[];
  /** Opaque per-object data owned by higher layers (e.g. the encryption envelope, JSON). */
  sys: Record<string, unknown>;
  owner: string;
  storageClass: string;
  /**
   * The version id (versioning.ts in s3/ makes them): "null" for the null version — every
   * object of a bucket that never had versioning enabled, and what a versioning-suspended
   * bucket writes. Records read from a store always carry it; a record written without one
   * is the null version.
   */
  versionId?: string;
  /** A delete marker: no body, no parts; when current, the key reads as absent. */
  deleteMarker?: boolean;
}

/** The version id of the null version. */
export const NULL_VERSION_ID = 'null';

/** One entry of a version listing: a version or a delete marker, and whether it is the key's current one. */
export interface ObjectVersionRecord extends ObjectRecord {
  versionId: string;
  isLatest: boolean;
}

export interface ListVersionsQuery {
  prefix: string;
  /** Resume after this key: with versionIdMarker, after that version of this key (then the key's older versions come next). */
  keyMarker?: string;
  /** A version of keyMarker; a marker that names no version of it resumes after the whole key. */
  versionIdMarker?: string;
  limit: number;
}

export interface MultipartUploadRecord {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: string;
  owner: string;
  headers: Record<string, string>;
  userMetadata: Record<string, string>;
  /** From x-amz-tagging, in its order (object-tags.ts). */
  tags: ObjectTags;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: ChecksumType;
  sys: Record<string, unknown>;
  storageClass: string;
}

export interface PartRecord extends ObjectPart {
  uploadId: string;
  lastModified: string;
}

/**
 * What a completed multipart upload made, kept for COMPLETED_UPLOAD_RETENTION_MS so that a
 * repeated CompleteMultipartUpload (an SDK retrying after a lost response) answers as the
 * first did. The ETag and first blob id identify the object the upload made: once the key
 * is overwritten or deleted they no longer match the current object, and the record is moot.
 */
export interface CompletedUploadRecord {
  uploadId: string;
  bucket: string;
  key: string;
  /** ISO 8601 with milliseconds: when the upload completed. */
  completedAt: string;
  etag: string;
  blobId: string;
}

/** How long completed uploads are remembered (24 h): older records are pruned by later completions and never returned. */
export const COMPLETED_UPLOAD_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface ListObjectsQuery {
  prefix: string;
  /** Return keys strictly greater than this (UTF-8 binary order). */
  after?: string;
  limit: number;
}

export interface ListUploadsQuery {
  prefix: string;
  /** Return (key, uploadId) pairs strictly after this key (and, when given, this upload id for the same key). */
  keyMarker?: string;
  uploadIdMarker?: string;
  limit: number;
}

export class StorageConflictError extends Error {
  constructor(readonly kind: 'BucketExists' | 'BucketNotEmpty' | 'NoSuchBucket' | 'NoSuchUpload' | 'InvalidPart' | 'PreconditionFailed', message?: string) {
    super(message ?? kind);
  }
}

/**
 * A publishing write of a writer the job leader declared dead (no heartbeat for longer than
 * the writer timeout) and whose pending blobs it reclaimed: nothing of the write is kept.
 * The process must be restarted to write again (it starts as a new writer).
 */
export class WriterRetiredError extends Error {
  override readonly name = 'WriterRetiredError';
  constructor(readonly instance: string) {
    super('this server was declared dead by the cluster (no heartbeat in time) and may not publish writes: restart it');
  }
}

/** Who makes pending marks: one server process (instance), on a node (stable across restarts). */
export interface BlobWriterIdentity {
  /** The node: stable across its restarts (cluster/node-identity.ts). */
  node: string;
  /** This process: fresh at every start. */
  instance: string;
}

/** Which pending blobs reclaimPending moves to garbage. */
export type PendingReclaim =
  /** This node's earlier instances' (a restart: their writes were interrupted); their writer rows go too. */
  | { kind: 'earlier-instances' }
  /**
   * Writers (of any node, never this store's own) whose last heartbeat is older than
   * `writerTimeoutMs` and than 4 of their own heartbeat periods, with their writer rows; and pending blobs of no known writer
   * (marked by an older release, or before the writer columns existed) more than
   * `unknownWriterGraceMs` old. Ages are by the database's clock.
   */
  | { kind: 'abandoned'; writerTimeoutMs: number; unknownWriterGraceMs: number };

/** A write condition checked inside the committing transaction (S3 conditional writes). */
export type WriteCondition =
  | { kind: 'none' }
  | { kind: 'ifNoneMatchStar' }
  | { kind: 'ifMatch'; etag: string };

/**
 * A synchronous check a store runs inside a write's transaction on the version the write would
 * remove, before changing anything; it throws to refuse (the S3 layer's object lock).
 */
export type ReplaceCheck = (rec: ObjectRecord) => void;

/** Throws to refuse a bucket config change, given the config documents the bucket has at that moment. */
export type BucketConfigCheck = (config: Record<string, string>) => void;

/** Bytes start to end of a blob, both inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Blobs small enough to live beside the metadata (the inline tier: tiered-blob-store.ts
 * keeps every blob of up to 64 KiB here). It is part of the metadata store because of
 * step 2 of the protocol above: the bytes must be durable before the metadata commit that
 * publishes them, and a store that commits both in order gets that for free.
 */
export interface InlineBlobStore {
  /**
   * Stores the bytes and marks the blob pending (as markPending does), in one commit that
   * is ordered before every later commit of this store: whatever survives a crash with a
   * later commit (the putObject naming the blob) survives with this one. A blob still
   * pending at start-up is deleted by recovery like any other.
   */
  putPending(blobId: string, data: Buffer): Promise<void>;
  /**
   * Instead of putPending, where the store offers it: holds the bytes in memory for the
   * publishing write that names the blob (putObject, putPart), which stores them in its own
   * transaction, so the blob and the record that names it commit as one and the blob needs
   * no pending mark (nothing of it is in the database before that commit). False when the
   * store will not hold them (its bound on held bytes is reached): then call putPending.
   * Held bytes read back through get; discardPending or delete drops them.
   */
  stage?(blobId: string, data: Buffer): boolean;
  /** The bytes [start, end] of an inline blob (whole when range is omitted; clipped at its end); undefined if there is none. */
  get(blobId: string, range?: ByteRange): Promise<Buffer | undefined>;
  /**
   * The same, at once: only a store that reads without a round trip (the embedded one)
   * offers it, for the GET fast path (BlobStore.readSmall); others serve reads through get.
   */
  getNow?(blobId: string, range?: ByteRange): Buffer | undefined;
  /**
   * For a store without getNow: the bytes of an inline blob that getObjectVersion fetched
   * with its record for the read about to follow (its `prefetch` hint), at once and only
   * once; undefined when none is at hand, which says nothing about whether the blob exists.
   */
  takePrefetched?(blobId: string, range?: ByteRange): Buffer | undefined;
  /** Deletes an inline blob; false if there was none. */
  delete(blobId: string): Promise<boolean>;
}

/**
 * What a caller of getObjectVersion will do next. `prefetch`: read the object's body: a store
 * whose inline tier is behind a round trip may fetch a small object's inline blob in the same
 * query and hand it to InlineBlobStore.takePrefetched. A store is free to ignore it.
 */
export interface ReadHint {
  prefetch?: boolean;
}

/** What one bucket holds: its objects and their bytes (metrics: coffer_bucket_objects, coffer_bucket_bytes). */
export interface BucketUsage {
  bucket: string;
  objects: number;
  bytes: number;
}

export interface MetadataStore {
  // Buckets. Keys are compared as UTF-8 bytes everywhere (S3's lexicographic order).
  createBucket(b: BucketRecord): Promise<void>; // StorageConflictError('BucketExists')
  getBucket(name: string): Promise<BucketRecord | undefined>;
  listBuckets(): Promise<BucketRecord[]>; // sorted by name
  /** Deletes an empty bucket; StorageConflictError('BucketNotEmpty') if it holds objects (any version, delete markers too) or uploads, 'NoSuchBucket' if absent. */
  deleteBucket(name: string): Promise<void>;
  /**
   * Sets (value) or removes (undefined) one bucket config document. 'NoSuchBucket' if absent.
   * `check`, when given, runs in the same transaction on the bucket's config as it is then (before
   * the change); what it throws refuses the change: a setting that depends on another (object lock
   * and versioning) is decided against the other's committed value, not a read made earlier.
   */
  setBucketConfig(name: string, item: string, value: string | undefined, check?: BucketConfigCheck): Promise<void>;

  // Objects. Each key has a history of versions, newest first; the newest is the *current*
  // version, which may be a delete marker. Versions are ordered by when they were written,
  // whatever their ids (the null version's place is where it was last written).
  /** The current version, unless it is a delete marker (then, as when there is none, undefined). */
  getObject(bucket: string, key: string): Promise<ObjectRecord | undefined>;
  /**
   * One version by id (delete markers included), or with versionId undefined the current
   * version even when it is a delete marker. Finding the current version does not depend on
   * the length of the key's history.
   */
  getObjectVersion(bucket: string, key: string, versionId: string | undefined, hint?: ReadHint): Promise<ObjectRecord | undefined>;
  /**
   * Atomically makes `rec` (a version or a delete marker) the current version of its key, after
   * checking `cond` against the current one (a delete marker counts as absent):
   * StorageConflictError('PreconditionFailed') when it fails, 'NoSuchBucket' when the bucket is gone.
   * The previous current version stays in the history as a noncurrent version, unless it has
   * rec's version id (the null version, rewritten); any other version with rec's version id is
   * removed too (a write of the null version replaces the null version wherever it is). Clears
   * the pending marks of rec's blobs and moves the blobs of removed versions that no remaining
   * version uses to garbage. Returns the version rec replaced (removed), if any.
   * `check`, when given, is called in the same transaction, before any change, with the version
   * the write would remove (the one carrying rec's version id), if there is one: if it throws,
   * nothing changes and the call rejects with its error (object lock: a lock set on the null
   * version while a write of it was on its way cannot be overwritten). It must be synchronous.
   */
  putObject(rec: ObjectRecord, cond?: WriteCondition, check?: ReplaceCheck): Promise<ObjectRecord | undefined>;
  /**
   * Updates only tags / headers / userMetadata / sys of an existing version (the current one,
   * not a delete marker, when versionId is undefined), no blob change. Returns false if absent.
   */
  updateObject(bucket: string, key: string, patch: Partial<Pick<ObjectRecord, 'tags' | 'headers' | 'userMetadata' | 'sys' | 'lastModified' | 'etag'>>, versionId?: string): Promise<boolean>;
  /**
   * Replaces the `sys` of a version only if its `sys` and ETag are exactly `expected`'s (the
   * record a caller read: a concurrent overwrite, delete or sys change wins). The version is
   * expected.versionId's, or the current one when that is undefined. No blob change. Returns
   * false when the version is absent or no longer matches.
   * `check`, when given, is called in the same transaction, before the comparison and any change,
   * with that version as it is then (a delete marker or an absent version is not checked); it
   * throws to refuse (object lock: a retention or hold set since the caller's read). It must be synchronous.
   */
  replaceObjectSys(bucket: string, key: string, expected: Pick<ObjectRecord, 'sys' | 'etag' | 'versionId'>, sys: Record<string, unknown>, check?: ReplaceCheck): Promise<boolean>;
  /**
   * Removes the current version (in a bucket that never had versioning enabled: the object) and
   * moves its blobs to garbage; the next newest version, if any, becomes current. Returns the
   * removed record. With an ifMatch `cond` (S3's conditional delete) it first checks, in the same
   * transaction, that the object exists and its ETag matches (any ETag for "*"):
   * StorageConflictError('PreconditionFailed') otherwise.
   */
  deleteObject(bucket: string, key: string, cond?: WriteCondition): Promise<ObjectRecord | undefined>;
  /**
   * Removes one version (or delete marker) for good; when it was current the next newest becomes
   * current. Blobs no remaining version uses go to garbage. Returns the removed record.
   * `check`, when given, is called with the version in the removing transaction, before any
   * change: if it throws, nothing is removed and the call rejects with its error (object lock:
   * a lock set concurrently cannot slip between the check and the removal). It must be synchronous.
   * `cond`, when an ifMatch, is checked first in the same transaction against the key's *current*
   * version (S3's conditional delete: "evaluations only apply to the current version"), a delete
   * marker counting as absent: StorageConflictError('PreconditionFailed') when it fails.
   */
  deleteObjectVersion(bucket: string, key: string, versionId: string, check?: ReplaceCheck, cond?: WriteCondition): Promise<ObjectRecord | undefined>;
  /** Current versions that are not delete markers, key starting with prefix and > after, ascending, at most limit. */
  listObjects(bucket: string, q: ListObjectsQuery): Promise<ObjectRecord[]>;
  /** Versions and delete markers, by key ascending then newest first, starting with prefix, after the markers, at most limit. */
  listObjectVersions(bucket: string, q: ListVersionsQuery): Promise<ObjectVersionRecord[]>;

  // Multipart uploads.
  createUpload(u: MultipartUploadRecord): Promise<void>; // 'NoSuchBucket'
  getUpload(bucket: string, key: string, uploadId: string): Promise<MultipartUploadRecord | undefined>;
  listUploads(bucket: string, q: ListUploadsQuery): Promise<MultipartUploadRecord[]>; // ordered by key, then initiated, then uploadId
  /** Adds or replaces a part ('NoSuchUpload' if the upload is gone); the replaced part's blob goes to garbage, the new one's pending mark is cleared. */
  putPart(p: PartRecord): Promise<void>;
  /** Parts ordered by part number, those > afterPart, at most limit. */
  listParts(uploadId: string, afterPart: number, limit: number): Promise<PartRecord[]>;
  /**
   * In one transaction: checks the upload exists ('NoSuchUpload') and that every blob of rec.parts is still
   * one of its parts' ('InvalidPart': a part uploaded again since they were read), checks cond, writes `rec` as the object
   * (as putObject, `check` included), deletes the upload and its parts, moving blobs of parts not used by rec to garbage.
   */
  completeUpload(uploadId: string, rec: ObjectRecord, cond?: WriteCondition, completedAt?: string, check?: ReplaceCheck): Promise<ObjectRecord | undefined>;
  /**
   * (Part of completeUpload's transaction: it also records a CompletedUploadRecord dated `completedAt`,
   * default now, and forgets those completed more than COMPLETED_UPLOAD_RETENTION_MS before it.)
   * The completion record of an upload of this bucket and key completed at or after `notBefore`; undefined otherwise.
   */
  getCompletedUpload(bucket: string, key: string, uploadId: string, notBefore: string): Promise<CompletedUploadRecord | undefined>;
  /**
   * Root-key rotation (backend/reseal/): replaces an upload's `sys` only if it is still
   * `expected`. False if absent or changed.
   */
  replaceUploadSys(uploadId: string, expected: Record<string, unknown>, sys: Record<string, unknown>): Promise<boolean>;
  /** Deletes the upload and moves all its part blobs to garbage. Returns false if absent. */
  abortUpload(bucket: string, key: string, uploadId: string): Promise<boolean>;

  // Blob bookkeeping for crash safety. Pending marks carry this store's writer (opened with one).
  /** The writer this store marks pending blobs as and fences its publishing writes with. */
  readonly writer: BlobWriterIdentity;
  /**
   * Refreshes this writer's heartbeat (the store does so by itself on a timer where other
   * nodes may judge it). False when the writer was retired (see WriterRetiredError).
   */
  heartbeatWriter(): Promise<boolean>;
  /** Moves the chosen pending blobs to garbage (see PendingReclaim); returns how many. */
  reclaimPending(which: PendingReclaim): Promise<number>;
  markPending(blobId: string): Promise<void>;
  /**
   * Drops a pending mark and puts the blob in garbage (a write that failed before its commit).
   * A blob no longer pending is left: its commit went through though the writer saw an error
   * (the answer lost with the connection), or it is garbage already.
   */
  discardPending(blobId: string): Promise<void>;
  /**
   * Blob ids to delete: garbage, plus (only when includePending: the start of the only
   * server on this store, embedded mode) all pending ones, whoever's.
   */
  takeGarbage(includePending: boolean): Promise<string[]>;
  /** Forget garbage ids once their blobs are deleted. */
  forgetGarbage(blobIds: string[]): Promise<void>;

  /** The small blobs kept with the metadata (see InlineBlobStore). */
  readonly inlineBlobs: InlineBlobStore;

  /** Readiness: resolves when the store answers a query; rejects with the cause. */
  ping(): Promise<void>;
  /** Objects and bytes stored per bucket, kept up to date by every object write and delete (not a scan). */
  bucketUsage(): Promise<BucketUsage[]>;
  close(): Promise<void>;
}

/** A blob being written. Nothing is visible at `blobId` until commit() resolves. */
export interface BlobWriter {
  /**
   * The blob's id. A writer that marks its own pending (marksPending) may exchange it for
   * an id marked ahead while it writes; read it once commit() or abort() has settled.
   */
  readonly blobId: string;
  /**
   * True when the writer records the blob's pending mark itself, in the same transaction
   * that makes its first byte durable (a store that keeps small blobs in the metadata
   * database); the caller then skips markPending and saves a commit.
   */
  readonly marksPending?: boolean;
  /** Writes a chunk (backpressure: resolves when the chunk may be reused). */
  write(chunk: Buffer): Promise<void>;
  /** Makes the bytes durable (fsync) and moves them into place. Returns the total size. */
  commit(): Promise<number>;
  /** Throws away everything written. Safe to call after a failed write or twice. */
  abort(): Promise<void>;
}

/** The bytes of BlobStore.readWhole, perhaps in a buffer the store lends. */
export interface WholeRead {
  readonly data: Buffer;
  /**
   * Gives the buffer back for another read, once nothing will look at `data` again (for a
   * response: once it has been handed to the socket whole, its 'finish'). At most once. Never
   * calling it is fine: the buffer is then left to the garbage collector.
   */
  release(): void;
}

export interface BlobStore {
  /** Reserves a fresh blob id and opens a writer for it. */
  create(): Promise<BlobWriter>;
  /**
   * Streams bytes [start, end] inclusive (whole blob when omitted). Errors if the blob is
   * missing. `lend`: the reader writes every chunk to a socket with lentRelease(chunk) as the
   * write's callback (io/lent.ts), so the store may lend it buffers it reuses.
   */
  read(blobId: string, range?: ByteRange, opts?: { lend?: boolean }): Readable;
  /**
   * Optional fast path for small blobs: the bytes [start, end] of a blob the store holds in
   * memory-speed storage (the inline tier of tiered-blob-store.ts), at once; undefined when
   * it does not (then use read()).
   */
  readSmall?(blobId: string, range?: ByteRange): Buffer | undefined;
  /**
   * Optional: the path of the local file that holds this blob of `size` bytes, for a reader
   * that reads it on another thread (the encrypted GET's decrypt worker); undefined when the
   * blob is not such a file (then use read()). Only valid while the blob is held
   * (blob-readers.ts), and a reader must treat a missing or short file as read() would.
   */
  localFile?(blobId: string, size: number): string | undefined;
  /**
   * Optional, with localFile: true when its files are written with O_DIRECT, so a reader of
   * them should read with O_DIRECT too (they are not in the page cache; io/direct-read.ts).
   */
  readonly readsDirect?: boolean;
  /**
   * Optional, with readsDirect: a reader of its files calls this when the kernel refused
   * O_DIRECT for `file` (EINVAL: it lives where direct I/O is not taken at our alignment) and
   * it read the file buffered instead; the store warns once. A function value, so a reader
   * can pass it along without binding it.
   */
  readonly directReadRefused?: (file: string) => void;
  /**
   * Optional, with localFile: the error such a reader reports for `e`, a read error of that
   * file, as read() would report it (a shared directory unreachable as a whole is
   * BlobTierUnavailableError, 503, not a missing blob).
   */
  localFileError?(e: unknown): unknown | Promise<unknown>;
  /**
   * Optional fast path for a range of up to about 1 MiB: its bytes read into one buffer by
   * one read, for a response sent in one write (no stream, and one trip to the I/O pool per
   * step instead of a stream's start-up and its ticks). Undefined when the store has none for
   * this blob or range (then use read()); the promise rejects as read() would fail: a missing
   * blob, or a file shorter than the range. The buffer may be one the store lends and reuses
   * (WholeRead.release).
   */
  readWhole?(blobId: string, range: ByteRange): Promise<WholeRead> | undefined;
  /** Deletes a committed blob; deleting a missing blob is not an error. */
  delete(blobId: string): Promise<void>;
  /** Removes leftovers of writes that never committed (temporary files). */
  cleanTemporary(): Promise<void>;
  /** Readiness: resolves when blobs can be written and read back (a probe file, removed again); rejects with the cause. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
