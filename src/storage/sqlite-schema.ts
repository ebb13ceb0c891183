// The SQLite metadata schema and its migrations. The schema_version table holds the one
// version number of the whole database; opening a database runs every migration between
// its version and SCHEMA_VERSION in one transaction, and refuses a newer database.
//
// Key columns use BINARY collation (SQLite's default, spelled out here on purpose):
// TEXT compares by memcmp of its UTF-8 bytes, which is S3's key order. Never use LIKE
// on keys: it is case-insensitive and treats % and _ as wildcards.

import { runMigrations } from './sqlite-database.js';
import type Database from 'better-sqlite3';

const V1 = `
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE buckets (
  name        TEXT NOT NULL COLLATE BINARY PRIMARY KEY,
  region      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  owner       TEXT NOT NULL,
  config      TEXT NOT NULL            -- JSON object: subresource name -> document
) WITHOUT ROWID;

CREATE TABLE objects (
  bucket        TEXT NOT NULL COLLATE BINARY REFERENCES buckets(name),
  key           TEXT NOT NULL COLLATE BINARY,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  last_modified TEXT NOT NULL,
  owner         TEXT NOT NULL,
  storage_class TEXT NOT NULL,
  headers       TEXT NOT NULL,         -- JSON object
  user_meta     TEXT NOT NULL,         -- JSON object
  tags          TEXT NOT NULL,         -- JSON object
  checksum      TEXT,                  -- JSON StoredChecksum or NULL
  parts         TEXT NOT NULL,         -- JSON ObjectPart[]
  sys           TEXT NOT NULL,         -- JSON object
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

CREATE TABLE uploads (
  upload_id          TEXT NOT NULL PRIMARY KEY,
  bucket             TEXT NOT NULL COLLATE BINARY REFERENCES buckets(name),
  key                TEXT NOT NULL COLLATE BINARY,
  initiated          TEXT NOT NULL,
  owner              TEXT NOT NULL,
  storage_class      TEXT NOT NULL,
  headers            TEXT NOT NULL,
  user_meta          TEXT NOT NULL,
  tags               TEXT NOT NULL,
  checksum_algorithm TEXT,
  checksum_type      TEXT,
  sys                TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE TABLE parts (
  upload_id     TEXT NOT NULL REFERENCES uploads(upload_id),
  part_number   INTEGER NOT NULL,
  blob_id       TEXT NOT NULL,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  checksum      TEXT,
  last_modified TEXT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;

-- Blobs reserved by a write that has not committed its metadata yet.
CREATE TABLE pending_blobs (blob_id TEXT NOT NULL PRIMARY KEY) WITHOUT ROWID;
-- Blobs no record references any more, to be deleted.
CREATE TABLE garbage_blobs (blob_id TEXT NOT NULL PRIMARY KEY) WITHOUT ROWID;
`;

// The inline blob tier (sqlite-inline-blobs.ts; TieredBlobStore puts small blobs there). A rowid
// table on purpose: rows of up to 64 KiB are far past the size where WITHOUT ROWID pays.
// The version bump also keeps an older Coffer, which cannot read these blobs, from
// opening the database.
const V2 = `
CREATE TABLE inline_blobs (
  blob_id TEXT NOT NULL PRIMARY KEY,
  data    BLOB NOT NULL
);
`;

// Completed multipart uploads, remembered for a day so a repeated CompleteMultipartUpload
// answers as the first did (types.ts CompletedUploadRecord). Pruned by completed_at.
const V3 = `
CREATE TABLE completed_uploads (
  upload_id    TEXT NOT NULL PRIMARY KEY,
  bucket       TEXT NOT NULL COLLATE BINARY,
  key          TEXT NOT NULL COLLATE BINARY,
  completed_at TEXT NOT NULL,
  etag         TEXT NOT NULL,
  blob_id      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed_at);
`;

// Objects and bytes per bucket, kept by triggers in the same transaction as the object row
// they count, so a write and its count commit together; the one-time backfill counts the
// objects already stored when a database is upgraded.
const V4 = `
CREATE TABLE bucket_usage (
  bucket  TEXT NOT NULL COLLATE BINARY PRIMARY KEY,
  objects INTEGER NOT NULL,
  bytes   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO bucket_usage (bucket, objects, bytes) SELECT name, 0, 0 FROM buckets;
UPDATE bucket_usage SET
  objects = (SELECT count(*) FROM objects o WHERE o.bucket = bucket_usage.bucket),
  bytes = (SELECT coalesce(sum(size), 0) FROM objects o WHERE o.bucket = bucket_usage.bucket);
CREATE TRIGGER bucket_usage_bucket_insert AFTER INSERT ON buckets BEGIN
  INSERT OR IGNORE INTO bucket_usage (bucket, objects, bytes) VALUES (NEW.name, 0, 0);
END;
CREATE TRIGGER bucket_usage_bucket_delete AFTER DELETE ON buckets BEGIN
  DELETE FROM bucket_usage WHERE bucket = OLD.name;
END;
CREATE TRIGGER bucket_usage_object_insert AFTER INSERT ON objects BEGIN
  UPDATE bucket_usage SET objects = objects + 1, bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_usage_object_delete AFTER DELETE ON objects BEGIN
  UPDATE bucket_usage SET objects = objects - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
END;
CREATE TRIGGER bucket_usage_object_update AFTER UPDATE OF bucket, size ON objects BEGIN
  UPDATE bucket_usage SET objects = objects - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
  UPDATE bucket_usage SET objects = objects + 1, bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
END;
`;

// Versioning (s3 ListObjectVersions, versionId). `objects` keeps one row per key: its current
// version, which may be a delete marker (delete_marker = 1; ListObjects skips those), so a
// GET or a listing of current objects reads one row per key however long its history.
// Noncurrent versions live in `object_versions`, newest first per key ((bucket, key, seq
// DESC) is the primary key, so ListObjectVersions reads them in listing order and finding a
// key's next newest version is one seek); version ids are unique per key (an index).
// `seq` orders versions by when they were written, whatever their ids: it comes from the
// one-row `version_clock`. `shares_blobs` marks versions whose blobs another version of the
// same key may also use (a copy onto itself that kept the old version): only then does
// removing a version look at the others before freeing its blobs.
// Every existing object becomes its key's current version with version id "null", seq 0.
// The per-bucket counts (V4) then count stored object versions, current and noncurrent, and
// their bytes; delete markers hold no bytes and are not counted as objects.
const V5 = `
ALTER TABLE objects ADD COLUMN version_id TEXT NOT NULL DEFAULT 'null';
ALTER TABLE objects ADD COLUMN delete_marker INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN shares_blobs INTEGER NOT NULL DEFAULT 0;

CREATE TABLE object_versions (
  bucket        TEXT NOT NULL COLLATE BINARY REFERENCES buckets(name),
  key           TEXT NOT NULL COLLATE BINARY,
  seq           INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  etag          TEXT NOT NULL,
  last_modified TEXT NOT NULL,
  owner         TEXT NOT NULL,
  storage_class TEXT NOT NULL,
  headers       TEXT NOT NULL,
  user_meta     TEXT NOT NULL,
  tags          TEXT NOT NULL,
  checksum      TEXT,
  parts         TEXT NOT NULL,
  sys           TEXT NOT NULL,
  version_id    TEXT NOT NULL,
  delete_marker INTEGER NOT NULL,
  shares_blobs  INTEGER NOT NULL,
  PRIMARY KEY (bucket, key, seq DESC)
) WITHOUT ROWID;
CREATE UNIQUE INDEX object_versions_by_id ON object_versions (bucket, key, version_id);

CREATE TABLE version_clock (n INTEGER NOT NULL);
INSERT INTO version_clock (n) VALUES (0);

DROP TRIGGER bucket_usage_object_insert;
DROP TRIGGER bucket_usage_object_delete;
DROP TRIGGER bucket_usage_object_update;
CREATE TRIGGER bucket_usage_object_insert AFTER INSERT ON objects BEGIN
  UPDATE bucket_usage SET objects = objects + (NEW.delete_marker = 0), bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_usage_object_delete AFTER DELETE ON objects BEGIN
  UPDATE bucket_usage SET objects = objects - (OLD.delete_marker = 0), bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
END;
CREATE TRIGGER bucket_usage_object_update AFTER UPDATE OF bucket, size, delete_marker ON objects BEGIN
  UPDATE bucket_usage SET objects = objects - (OLD.delete_marker = 0), bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
  UPDATE bucket_usage SET objects = objects + (NEW.delete_marker = 0), bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_usage_version_insert AFTER INSERT ON object_versions BEGIN
  UPDATE bucket_usage SET objects = objects + (NEW.delete_marker = 0), bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_usage_version_delete AFTER DELETE ON object_versions BEGIN
  UPDATE bucket_usage SET objects = objects - (OLD.delete_marker = 0), bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
END;
`;

// Pending marks name their writer and time (the twin of pg-metadata-schema.ts V2; with
// SQLite one server owns the file, so start-up still reclaims every mark: types.ts).
const V6 = `
ALTER TABLE pending_blobs ADD COLUMN writer TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_blobs ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX pending_blobs_by_writer ON pending_blobs (writer);
CREATE TABLE blob_writers (
  instance     TEXT NOT NULL PRIMARY KEY,
  node         TEXT NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** MIGRATIONS[n] takes a database from version n to n + 1. Append only; never edit a shipped step. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
  (db) => db.exec(V2),
  (db) => db.exec(V3),
  (db) => db.exec(V4),
  (db) => db.exec(V5),
  (db) => db.exec(V6),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION. Throws on a database written by a newer Coffer. */
export function migrate(db: Database.Database): void {
  runMigrations(db, MIGRATIONS, 'metadata database');
}

/** Brings a new database to an older schema version: for tests of a migration from that version. */
export function migrateTo(db: Database.Database, version: number): void {
  runMigrations(db, MIGRATIONS.slice(0, version), 'metadata database');
}
