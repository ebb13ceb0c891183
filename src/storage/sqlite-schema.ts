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

/** MIGRATIONS[n] takes a database from version n to n + 1. Append only; never edit a shipped step. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
  (db) => db.exec(V2),
  (db) => db.exec(V3),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to SCHEMA_VERSION. Throws on a database written by a newer Coffer. */
export function migrate(db: Database.Database): void {
  runMigrations(db, MIGRATIONS, 'metadata database');
}
