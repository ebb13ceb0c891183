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

/** MIGRATIONS[n] takes a database from version n to n + 1. Append only; never edit a shipped step. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
  (db) => db.exec(V2),
  (db) => db.exec(V3),
  (db) => db.exec(V4),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION. Throws on a database written by a newer Coffer. */
export function migrate(db: Database.Database): void {
  runMigrations(db, MIGRATIONS, 'metadata database');
}
