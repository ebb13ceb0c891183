// Row shapes, prepared statements and row <-> record mapping of the SQLite metadata
// store (sqlite-metadata-store.ts). Statements are prepared once per connection.

import type Database from 'better-sqlite3';
import { decodeObjectTags, encodeObjectTags } from './object-tags.js';
import { NULL_VERSION_ID } from './types.js';
import type { BucketRecord, MultipartUploadRecord, ObjectPart, ObjectRecord, PartRecord } from './types.js';

export interface ObjectRow {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  last_modified: string;
  owner: string;
  storage_class: string;
  headers: string;
  user_meta: string;
  tags: string;
  checksum: string | null;
  parts: string;
  sys: string;
  version_id: string;
  delete_marker: number;
  seq: number;
  shares_blobs: number;
}

export interface UploadRow {
  upload_id: string;
  bucket: string;
  key: string;
  initiated: string;
  owner: string;
  storage_class: string;
  headers: string;
  user_meta: string;
  tags: string;
  checksum_algorithm: string | null;
  checksum_type: string | null;
  sys: string;
}

export interface PartRow {
  upload_id: string;
  part_number: number;
  blob_id: string;
  size: number;
  etag: string;
  checksum: string | null;
  last_modified: string;
}

export interface BucketRow {
  name: string;
  region: string;
  created_at: string;
  owner: string;
  config: string;
}

export type Stmt = Database.Statement<unknown[], unknown>;

export const OBJECT_COLUMNS =
  'bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys, version_id, delete_marker, seq, shares_blobs';
export const UPLOAD_COLUMNS =
  'upload_id, bucket, key, initiated, owner, storage_class, headers, user_meta, tags, checksum_algorithm, checksum_type, sys';

export function prepareStatements(db: Database.Database) {
  const p = (sql: string): Stmt => db.prepare(sql);
  return {
    bucketExists: p('SELECT 1 FROM buckets WHERE name = ?'),
    getBucket: p('SELECT name, region, created_at, owner, config FROM buckets WHERE name = ?'),
    listBuckets: p('SELECT name, region, created_at, owner, config FROM buckets ORDER BY name'),
    insertBucket: p('INSERT INTO buckets (name, region, created_at, owner, config) VALUES (?, ?, ?, ?, ?)'),
    deleteBucket: p('DELETE FROM buckets WHERE name = ?'),
    setBucketConfig: p('UPDATE buckets SET config = ? WHERE name = ?'),
    bucketHasObject: p('SELECT 1 FROM objects WHERE bucket = ? LIMIT 1'),
    bucketHasVersion: p('SELECT 1 FROM object_versions WHERE bucket = ? LIMIT 1'),
    bucketHasUpload: p('SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1'),

    getObject: p(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?`),
    upsertObject: p(
      `INSERT INTO objects (${OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (bucket, key) DO UPDATE SET
         size = excluded.size, etag = excluded.etag, last_modified = excluded.last_modified,
         owner = excluded.owner, storage_class = excluded.storage_class, headers = excluded.headers,
         user_meta = excluded.user_meta, tags = excluded.tags, checksum = excluded.checksum,
         parts = excluded.parts, sys = excluded.sys, version_id = excluded.version_id,
         delete_marker = excluded.delete_marker, seq = excluded.seq, shares_blobs = excluded.shares_blobs`,
    ),
    updateObject: p(
      `UPDATE objects SET tags = COALESCE(?, tags), headers = COALESCE(?, headers), user_meta = COALESCE(?, user_meta),
         sys = COALESCE(?, sys), last_modified = COALESCE(?, last_modified), etag = COALESCE(?, etag)
       WHERE bucket = ? AND key = ? AND delete_marker = 0 AND (? IS NULL OR version_id = ?)`,
    ),
    updateVersion: p(
      `UPDATE object_versions SET tags = COALESCE(?, tags), headers = COALESCE(?, headers), user_meta = COALESCE(?, user_meta),
         sys = COALESCE(?, sys), last_modified = COALESCE(?, last_modified), etag = COALESCE(?, etag)
       WHERE bucket = ? AND key = ? AND delete_marker = 0 AND version_id = ?`,
    ),
    replaceObjectSys: p('UPDATE objects SET sys = ? WHERE bucket = ? AND key = ? AND sys = ? AND etag = ? AND delete_marker = 0 AND (? IS NULL OR version_id = ?)'),
    replaceVersionSys: p('UPDATE object_versions SET sys = ? WHERE bucket = ? AND key = ? AND sys = ? AND etag = ? AND delete_marker = 0 AND version_id = ?'),
    deleteObject: p('DELETE FROM objects WHERE bucket = ? AND key = ?'),

    nextSeq: p('UPDATE version_clock SET n = n + 1 RETURNING n').pluck(),
    getVersion: p(`SELECT ${OBJECT_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?`),
    newestVersion: p(`SELECT ${OBJECT_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1`),
    insertVersion: p(`INSERT INTO object_versions (${OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    deleteVersion: p('DELETE FROM object_versions WHERE bucket = ? AND key = ? AND seq = ?'),
    sharedVersionParts: p('SELECT parts FROM object_versions WHERE bucket = ? AND key = ? AND shares_blobs = 1').pluck(),
    olderVersionsOf: p(`SELECT ${OBJECT_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND seq < ? ORDER BY seq DESC LIMIT ?`),

    insertUpload: p(`INSERT INTO uploads (${UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    getUpload: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?`),
    deleteUpload: p('DELETE FROM uploads WHERE upload_id = ?'),
    getPartBlob: p('SELECT blob_id FROM parts WHERE upload_id = ? AND part_number = ?'),
    upsertPart: p(
      `INSERT INTO parts (upload_id, part_number, blob_id, size, etag, checksum, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (upload_id, part_number) DO UPDATE SET
         blob_id = excluded.blob_id, size = excluded.size, etag = excluded.etag,
         checksum = excluded.checksum, last_modified = excluded.last_modified`,
    ),
    listParts: p(
      `SELECT upload_id, part_number, blob_id, size, etag, checksum, last_modified FROM parts
       WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?`,
    ),
    listPartBlobs: p('SELECT blob_id FROM parts WHERE upload_id = ?'),
    deleteParts: p('DELETE FROM parts WHERE upload_id = ?'),

    insertCompleted: p('INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, completed_at, etag, blob_id) VALUES (?, ?, ?, ?, ?, ?)'),
    getCompleted: p('SELECT upload_id, bucket, key, completed_at, etag, blob_id FROM completed_uploads WHERE upload_id = ?'),
    pruneCompleted: p('DELETE FROM completed_uploads WHERE completed_at < ?'),
    deleteBucketCompleted: p('DELETE FROM completed_uploads WHERE bucket = ?'),

    addPending: p('INSERT OR IGNORE INTO pending_blobs (blob_id, writer, created_at) VALUES (?, ?, ?)'),
    registerWriter: p('INSERT OR IGNORE INTO blob_writers (instance, node, started_at, heartbeat_at, heartbeat_ms) VALUES (?, ?, ?, ?, 0)'),
    heartbeatWriter: p('UPDATE blob_writers SET heartbeat_at = ? WHERE instance = ?'),
    writerExists: p('SELECT 1 FROM blob_writers WHERE instance = ?').pluck(),
    earlierWriters: p('SELECT instance FROM blob_writers WHERE node = ? AND instance <> ?').pluck(),
    staleWriters: p('SELECT instance FROM blob_writers WHERE heartbeat_at < ? - max(?, 4 * heartbeat_ms) AND instance <> ?').pluck(),
    deleteWriter: p('DELETE FROM blob_writers WHERE instance = ?'),
    retireOtherWriters: p('DELETE FROM blob_writers WHERE instance <> ?'),
    pendingOfToGarbage: p('INSERT OR IGNORE INTO garbage_blobs (blob_id) SELECT blob_id FROM pending_blobs WHERE writer = ?'),
    clearPendingOf: p('DELETE FROM pending_blobs WHERE writer = ?'),
    orphanPending: p('SELECT blob_id FROM pending_blobs pb WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM blob_writers w WHERE w.instance = pb.writer)').pluck(),
    clearPending: p('DELETE FROM pending_blobs WHERE blob_id = ?'),
    clearAllPending: p('DELETE FROM pending_blobs'),
    pendingToGarbage: p('INSERT OR IGNORE INTO garbage_blobs (blob_id) SELECT blob_id FROM pending_blobs'),
    addGarbage: p('INSERT OR IGNORE INTO garbage_blobs (blob_id) VALUES (?)'),
    listGarbage: p('SELECT blob_id FROM garbage_blobs').pluck(),
    forgetGarbage: p('DELETE FROM garbage_blobs WHERE blob_id = ?'),
  };
}

export function toBucket(r: BucketRow): BucketRecord {
  return { name: r.name, region: r.region, createdAt: r.created_at, owner: r.owner, config: JSON.parse(r.config) };
}

export function toObject(r: ObjectRow): ObjectRecord {
  const rec: ObjectRecord = {
    bucket: r.bucket,
    key: r.key,
    size: r.size,
    etag: r.etag,
    lastModified: r.last_modified,
    headers: JSON.parse(r.headers),
    userMetadata: JSON.parse(r.user_meta),
    tags: decodeObjectTags(r.tags),
    parts: JSON.parse(r.parts) as ObjectPart[],
    sys: JSON.parse(r.sys),
    owner: r.owner,
    storageClass: r.storage_class,
  };
  if (r.checksum !== null) rec.checksum = JSON.parse(r.checksum);
  rec.versionId = r.version_id;
  if (r.delete_marker !== 0) rec.deleteMarker = true;
  return rec;
}

/** The parameters of upsertObject / insertVersion, in OBJECT_COLUMNS order. */
export function objectParams(rec: ObjectRecord, seq: number, sharesBlobs: boolean): unknown[] {
  return [
    rec.bucket, rec.key, rec.size, rec.etag, rec.lastModified, rec.owner, rec.storageClass,
    JSON.stringify(rec.headers), JSON.stringify(rec.userMetadata), encodeObjectTags(rec.tags),
    rec.checksum === undefined ? null : JSON.stringify(rec.checksum), JSON.stringify(rec.parts), JSON.stringify(rec.sys),
    rec.versionId ?? NULL_VERSION_ID, rec.deleteMarker ? 1 : 0, seq, sharesBlobs ? 1 : 0,
  ];
}

/** A row's values as they are, for moving it between objects and object_versions. */
export function rowParams(r: ObjectRow, sharesBlobs = r.shares_blobs): unknown[] {
  return [
    r.bucket, r.key, r.size, r.etag, r.last_modified, r.owner, r.storage_class, r.headers, r.user_meta, r.tags,
    r.checksum, r.parts, r.sys, r.version_id, r.delete_marker, r.seq, sharesBlobs,
  ];
}

export function toUpload(r: UploadRow): MultipartUploadRecord {
  const u: MultipartUploadRecord = {
    uploadId: r.upload_id,
    bucket: r.bucket,
    key: r.key,
    initiated: r.initiated,
    owner: r.owner,
    headers: JSON.parse(r.headers),
    userMetadata: JSON.parse(r.user_meta),
    tags: decodeObjectTags(r.tags),
    sys: JSON.parse(r.sys),
    storageClass: r.storage_class,
  };
  if (r.checksum_algorithm !== null) u.checksumAlgorithm = r.checksum_algorithm as MultipartUploadRecord['checksumAlgorithm'];
  if (r.checksum_type !== null) u.checksumType = r.checksum_type as MultipartUploadRecord['checksumType'];
  return u;
}

export function toPart(r: PartRow): PartRecord {
  const p: PartRecord = {
    uploadId: r.upload_id,
    partNumber: r.part_number,
    blobId: r.blob_id,
    size: r.size,
    etag: r.etag,
    lastModified: r.last_modified,
  };
  if (r.checksum !== null) p.checksum = r.checksum;
  return p;
}
