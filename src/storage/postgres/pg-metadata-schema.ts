// The metadata store's tables in a shared PostgreSQL database (docs/CLUSTER.md), the twin
// of sqlite-schema.ts at its latest version: the same columns, one row per key in
// meta_objects (its current version, maybe a delete marker) and the noncurrent versions in
// meta_object_versions, newest first per key. Names are prefixed `meta_` because the stores
// share one database. Component 'metadata' in schema_migrations (migrate.ts); append
// steps, never edit a shipped one.
//
// Keys, bucket names and every other text the store orders or compares are COLLATE "C":
// byte order of their UTF-8, S3's key order (SQLite's BINARY), whatever the database's
// own collation. JSON documents are TEXT, not JSONB, so the text a caller read compares
// equal to the stored text (replaceObjectSys). Times are the records' ISO 8601 strings.
// delete_marker and shares_blobs are 0/1 INTEGERs, as in SQLite, so the row mappers of
// sqlite-rows.ts serve both stores. `seq` comes from a sequence (no hot clock row).
// The per-bucket counts are kept by triggers in the transaction of the row they count.

import type { PgMigration } from './migrate.js';

const V1 = `
CREATE TABLE meta_buckets (
  name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  region      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  owner       TEXT NOT NULL,
  config      TEXT NOT NULL
);

CREATE TABLE meta_objects (
  bucket        TEXT COLLATE "C" NOT NULL REFERENCES meta_buckets (name),
  key           TEXT COLLATE "C" NOT NULL,
  size          BIGINT NOT NULL,
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
  version_id    TEXT COLLATE "C" NOT NULL,
  delete_marker INTEGER NOT NULL,
  seq           BIGINT NOT NULL,
  shares_blobs  INTEGER NOT NULL,
  PRIMARY KEY (bucket, key)
);

CREATE TABLE meta_object_versions (
  bucket        TEXT COLLATE "C" NOT NULL REFERENCES meta_buckets (name),
  key           TEXT COLLATE "C" NOT NULL,
  size          BIGINT NOT NULL,
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
  version_id    TEXT COLLATE "C" NOT NULL,
  delete_marker INTEGER NOT NULL,
  seq           BIGINT NOT NULL,
  shares_blobs  INTEGER NOT NULL
);
CREATE UNIQUE INDEX meta_object_versions_order ON meta_object_versions (bucket, key, seq DESC);
CREATE UNIQUE INDEX meta_object_versions_by_id ON meta_object_versions (bucket, key, version_id);
CREATE SEQUENCE meta_version_seq;

CREATE TABLE meta_uploads (
  upload_id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  bucket             TEXT COLLATE "C" NOT NULL REFERENCES meta_buckets (name),
  key                TEXT COLLATE "C" NOT NULL,
  initiated          TEXT COLLATE "C" NOT NULL,
  owner              TEXT NOT NULL,
  storage_class      TEXT NOT NULL,
  headers            TEXT NOT NULL,
  user_meta          TEXT NOT NULL,
  tags               TEXT NOT NULL,
  checksum_algorithm TEXT,
  checksum_type      TEXT,
  sys                TEXT NOT NULL
);
CREATE INDEX meta_uploads_by_key ON meta_uploads (bucket, key, initiated, upload_id);

CREATE TABLE meta_parts (
  upload_id     TEXT COLLATE "C" NOT NULL REFERENCES meta_uploads (upload_id),
  part_number   INTEGER NOT NULL,
  blob_id       TEXT NOT NULL,
  size          BIGINT NOT NULL,
  etag          TEXT NOT NULL,
  checksum      TEXT,
  last_modified TEXT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);

CREATE TABLE meta_completed_uploads (
  upload_id    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  bucket       TEXT COLLATE "C" NOT NULL,
  key          TEXT COLLATE "C" NOT NULL,
  completed_at TEXT COLLATE "C" NOT NULL,
  etag         TEXT NOT NULL,
  blob_id      TEXT NOT NULL
);
CREATE INDEX meta_completed_uploads_by_time ON meta_completed_uploads (completed_at);
CREATE INDEX meta_completed_uploads_by_bucket ON meta_completed_uploads (bucket);

CREATE TABLE meta_pending_blobs (blob_id TEXT NOT NULL PRIMARY KEY);
CREATE TABLE meta_garbage_blobs (blob_id TEXT NOT NULL PRIMARY KEY);
CREATE TABLE meta_inline_blobs (
  blob_id TEXT NOT NULL PRIMARY KEY,
  data    BYTEA NOT NULL
);

CREATE TABLE meta_bucket_usage (
  bucket  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  objects BIGINT NOT NULL,
  bytes   BIGINT NOT NULL
);

CREATE FUNCTION meta_usage_of_bucket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO meta_bucket_usage (bucket, objects, bytes) VALUES (NEW.name, 0, 0) ON CONFLICT DO NOTHING;
  ELSE
    DELETE FROM meta_bucket_usage WHERE bucket = OLD.name;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER meta_usage_bucket AFTER INSERT OR DELETE ON meta_buckets FOR EACH ROW EXECUTE FUNCTION meta_usage_of_bucket();

-- Stored versions, current and noncurrent, and their bytes; delete markers are no objects.
CREATE FUNCTION meta_usage_of_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE meta_bucket_usage SET objects = objects - (1 - OLD.delete_marker), bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE meta_bucket_usage SET objects = objects + (1 - NEW.delete_marker), bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER meta_usage_object AFTER INSERT OR DELETE OR UPDATE OF bucket, size, delete_marker ON meta_objects
  FOR EACH ROW EXECUTE FUNCTION meta_usage_of_version();
CREATE TRIGGER meta_usage_object_version AFTER INSERT OR DELETE ON meta_object_versions
  FOR EACH ROW EXECUTE FUNCTION meta_usage_of_version();
`;

// Pending marks name their writer (one server process) and carry their time, by the
// database's clock; writers heartbeat in meta_blob_writers (docs/CLUSTER.md, "Pending
// blobs"). Marks made before this step, or by a node of an older release during a rolling
// upgrade, have writer '' and are reclaimed only after the unknown-writer grace period.
const V2 = `
ALTER TABLE meta_pending_blobs
  ADD COLUMN writer TEXT NOT NULL DEFAULT '',
  ADD COLUMN created_at BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
CREATE INDEX meta_pending_blobs_by_writer ON meta_pending_blobs (writer);
CREATE TABLE meta_blob_writers (
  instance     TEXT NOT NULL PRIMARY KEY,
  node         TEXT NOT NULL,
  started_at   BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  -- The writer's own heartbeat period (0: it beats only when asked): it is judged dead only
  -- after 4 of its own periods, whatever shorter timeout the leader uses.
  heartbeat_ms BIGINT NOT NULL
);
CREATE INDEX meta_blob_writers_by_node ON meta_blob_writers (node);
`;

// Per-bucket counts in slots. V1 kept one row per bucket that every write and delete in the
// bucket updated in its SERIALIZABLE transaction: concurrent writers to one bucket, on one
// node or several, conflicted on that row (40001) until their retries ran out and answered
// 500. Now each transaction adds its change to the slot of its own connection (its backend
// pid modulo 64): concurrent transactions run on distinct connections, so they touch
// distinct rows, and an update that changes no indexed column touches no shared index page.
// meta_bucket_usage becomes the view that sums the slots (same columns as before).
const V3 = `
CREATE TABLE meta_bucket_usage_slots (
  bucket  TEXT COLLATE "C" NOT NULL,
  slot    SMALLINT NOT NULL,
  objects BIGINT NOT NULL,
  bytes   BIGINT NOT NULL,
  PRIMARY KEY (bucket, slot)
);
INSERT INTO meta_bucket_usage_slots (bucket, slot, objects, bytes) SELECT bucket, 0, objects, bytes FROM meta_bucket_usage;
DROP TABLE meta_bucket_usage;
CREATE VIEW meta_bucket_usage AS
  SELECT bucket, sum(objects)::bigint AS objects, sum(bytes)::bigint AS bytes FROM meta_bucket_usage_slots GROUP BY bucket;

CREATE OR REPLACE FUNCTION meta_usage_of_bucket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO meta_bucket_usage_slots (bucket, slot, objects, bytes) VALUES (NEW.name, 0, 0, 0) ON CONFLICT DO NOTHING;
  ELSE
    DELETE FROM meta_bucket_usage_slots WHERE bucket = OLD.name;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION meta_usage_add(b TEXT, d_objects BIGINT, d_bytes BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO meta_bucket_usage_slots AS u (bucket, slot, objects, bytes) VALUES (b, pg_backend_pid() % 64, d_objects, d_bytes)
    ON CONFLICT (bucket, slot) DO UPDATE SET objects = u.objects + EXCLUDED.objects, bytes = u.bytes + EXCLUDED.bytes;
END $$;

CREATE OR REPLACE FUNCTION meta_usage_of_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    PERFORM meta_usage_add(OLD.bucket, -(1 - OLD.delete_marker), -OLD.size);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM meta_usage_add(NEW.bucket, 1 - NEW.delete_marker, NEW.size);
  END IF;
  RETURN NULL;
END $$;
`;

// Garbage carries the time it became garbage, by the database's clock: a blob that metadata
// stopped naming may still be streaming to a client of another node, so it is deleted only
// after the grace period (COFFER_BLOB_GC_GRACE_SECONDS; docs/CLUSTER.md, "Garbage and
// readers on other nodes"). Rows listed before this step get the time of the step, so they
// wait out the grace too. Blobs no metadata ever named (pending ones reclaimed or discarded)
// are written with 0: nothing can be reading them.
const V4 = `
ALTER TABLE meta_garbage_blobs
  ADD COLUMN added_at BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
CREATE INDEX meta_garbage_blobs_by_age ON meta_garbage_blobs (added_at);
`;

// A new key's PUT as one statement (pg-metadata-sql.ts, putNewObject; transaction.ts,
// keyWriteOnce): the key's advisory lock, then one statement that writes the row (and
// clears its blobs' pending marks, or stores its one inline blob) only when the key has no
// row, in the caller's implicit transaction. Sent alone, in autocommit, it is one
// transaction with one statement where BEGIN, the lock, that statement and COMMIT were four.
// Each statement of a VOLATILE function takes its own snapshot at READ COMMITTED, so the
// write sees every commit of the lock's previous holder, as it did after the lock
// statement before. At another isolation level (a database whose default is SERIALIZABLE)
// one snapshot would serve the whole transaction, older than the lock: it answers 0 and
// the caller writes in full, in its own explicit READ COMMITTED transaction.
// Returns the rows written: 1, or 0 when it wrote nothing.
const V5 = `
CREATE FUNCTION meta_put_new_object(
  p_lock BIGINT, p_writer TEXT, p_blob_ids TEXT[], p_inline_id TEXT, p_inline_data BYTEA,
  p_bucket TEXT, p_key TEXT, p_size BIGINT, p_etag TEXT, p_last_modified TEXT, p_owner TEXT, p_storage_class TEXT,
  p_headers TEXT, p_user_meta TEXT, p_tags TEXT, p_checksum TEXT, p_parts TEXT, p_sys TEXT, p_version_id TEXT,
  p_delete_marker INT
) RETURNS INT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n INT;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RETURN 0;
  END IF;
  PERFORM pg_advisory_xact_lock(p_lock);
  IF p_inline_id IS NULL THEN
    WITH ok AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM meta_blob_writers WHERE instance = p_writer FOR KEY SHARE)
           AND EXISTS (SELECT 1 FROM meta_buckets WHERE name = p_bucket FOR SHARE)
           AND NOT EXISTS (SELECT 1 FROM meta_objects WHERE bucket = p_bucket AND key = p_key)
           AND NOT EXISTS (SELECT 1 FROM meta_object_versions WHERE bucket = p_bucket AND key = p_key AND version_id = p_version_id)),
         cleared AS (DELETE FROM meta_pending_blobs WHERE blob_id = ANY(p_blob_ids) AND EXISTS (SELECT 1 FROM ok))
    INSERT INTO meta_objects (bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys, version_id, delete_marker, seq, shares_blobs)
      SELECT p_bucket, p_key, p_size, p_etag, p_last_modified, p_owner, p_storage_class, p_headers, p_user_meta, p_tags, p_checksum,
        p_parts, p_sys, p_version_id, p_delete_marker, nextval('meta_version_seq'), 0 FROM ok;
  ELSE
    WITH ok AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM meta_blob_writers WHERE instance = p_writer FOR KEY SHARE)
           AND EXISTS (SELECT 1 FROM meta_buckets WHERE name = p_bucket FOR SHARE)
           AND NOT EXISTS (SELECT 1 FROM meta_objects WHERE bucket = p_bucket AND key = p_key)
           AND NOT EXISTS (SELECT 1 FROM meta_object_versions WHERE bucket = p_bucket AND key = p_key AND version_id = p_version_id)),
         blob AS (INSERT INTO meta_inline_blobs (blob_id, data) SELECT p_inline_id, p_inline_data FROM ok ON CONFLICT DO NOTHING)
    INSERT INTO meta_objects (bucket, key, size, etag, last_modified, owner, storage_class, headers, user_meta, tags, checksum, parts, sys, version_id, delete_marker, seq, shares_blobs)
      SELECT p_bucket, p_key, p_size, p_etag, p_last_modified, p_owner, p_storage_class, p_headers, p_user_meta, p_tags, p_checksum,
        p_parts, p_sys, p_version_id, p_delete_marker, nextval('meta_version_seq'), 0 FROM ok;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
`;

// The per-bucket counts' trigger adds to its slot itself (V3's meta_usage_add, inlined): a
// PL/pgSQL call from a PL/pgSQL trigger cost as much as the upsert it made (pg_stat_statements
// with track = all, 4,000 small PUTs: 56 µs per call, 25 µs of them the upsert). Same rows,
// same slots; meta_usage_add stays for nothing else calls it, and a shipped step is never edited.
const V6 = `
CREATE OR REPLACE FUNCTION meta_usage_of_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO meta_bucket_usage_slots AS u (bucket, slot, objects, bytes)
      VALUES (OLD.bucket, pg_backend_pid() % 64, -(1 - OLD.delete_marker), -OLD.size)
      ON CONFLICT (bucket, slot) DO UPDATE SET objects = u.objects + EXCLUDED.objects, bytes = u.bytes + EXCLUDED.bytes;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO meta_bucket_usage_slots AS u (bucket, slot, objects, bytes)
      VALUES (NEW.bucket, pg_backend_pid() % 64, 1 - NEW.delete_marker, NEW.size)
      ON CONFLICT (bucket, slot) DO UPDATE SET objects = u.objects + EXCLUDED.objects, bytes = u.bytes + EXCLUDED.bytes;
  END IF;
  RETURN NULL;
END $$;
`;

/** migrations[n] takes the metadata tables from version n to n + 1 (component 'metadata'). */
export const PG_METADATA_MIGRATIONS: readonly PgMigration[] = [V1, V2, V3, V4, V5, V6];
