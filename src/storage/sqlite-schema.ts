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
const V4 = `
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

/** Brings a new database to an older schema version: for tests of a migration from that version. */
export function migrateTo(db: Database.Database, version: number): void {
  runMigrations(db, MIGRATIONS.slice(0, version), 'metadata database');
}
