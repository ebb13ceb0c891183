// The schema of the KMS database (<data-dir>/kms.sqlite) and its migrations, in the
// manner of src/storage/sqlite-schema.ts: the schema_version table holds the one version
// number of the whole database; opening runs every migration between its version and
// KMS_SCHEMA_VERSION in one transaction, and refuses a newer database.
//
// Times are INTEGER epoch milliseconds. Sealed material is a BLOB, opaque here.
// `seq` and `position` record insertion order explicitly (rowids may be renumbered by
// VACUUM in a table without an INTEGER PRIMARY KEY).

import { runMigrations } from '../../storage/sqlite-database.js';
import type Database from 'better-sqlite3';

const V1 = `
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE keys (
  key_id               TEXT NOT NULL PRIMARY KEY,
  arn                  TEXT NOT NULL,
  account_id           TEXT NOT NULL,
  region               TEXT NOT NULL,
  description          TEXT NOT NULL,
  key_usage            TEXT NOT NULL,
  key_spec             TEXT NOT NULL,
  origin               TEXT NOT NULL,
  key_manager          TEXT NOT NULL,
  state                TEXT NOT NULL,
  creation_date        INTEGER NOT NULL,
  deletion_date        INTEGER,
  pending_window_days  INTEGER,
  policy               TEXT NOT NULL,         -- the "default" key policy, JSON text
  rotation_enabled     INTEGER NOT NULL,      -- 0 or 1
  rotation_period_days INTEGER,
  next_rotation_date   INTEGER,
  on_demand_rotations  INTEGER NOT NULL,
  current_version      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX keys_by_creation ON keys (creation_date, key_id);
CREATE INDEX keys_by_deletion ON keys (deletion_date, key_id) WHERE deletion_date IS NOT NULL;
CREATE INDEX keys_by_rotation ON keys (next_rotation_date, key_id) WHERE next_rotation_date IS NOT NULL;

CREATE TABLE key_materials (
  key_id        TEXT NOT NULL REFERENCES keys(key_id),
  version       INTEGER NOT NULL,
  material_id   TEXT NOT NULL,
  sealed        BLOB NOT NULL,                -- sealed under the root key; never log
  created_at    INTEGER NOT NULL,
  rotation_type TEXT,
  PRIMARY KEY (key_id, version)
) WITHOUT ROWID;

CREATE TABLE aliases (
  alias_name        TEXT NOT NULL PRIMARY KEY,
  key_id            TEXT NOT NULL REFERENCES keys(key_id),
  creation_date     INTEGER NOT NULL,
  last_updated_date INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX aliases_by_key ON aliases (key_id, alias_name);

CREATE TABLE grants (
  grant_id           TEXT NOT NULL PRIMARY KEY,
  seq                INTEGER NOT NULL UNIQUE,  -- creation order, across keys
  key_id             TEXT NOT NULL REFERENCES keys(key_id),
  name               TEXT,
  grantee_principal  TEXT NOT NULL,
  retiring_principal TEXT,
  issuing_account    TEXT NOT NULL,
  operations         TEXT NOT NULL,            -- JSON string[]
  constraints        TEXT,                     -- JSON GrantConstraints or NULL
  creation_date      INTEGER NOT NULL,
  grant_token        TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE INDEX grants_by_key ON grants (key_id, seq);
CREATE INDEX grants_by_retiring_principal ON grants (retiring_principal, seq) WHERE retiring_principal IS NOT NULL;
CREATE UNIQUE INDEX grants_by_name ON grants (key_id, name) WHERE name IS NOT NULL;

CREATE TABLE key_tags (
  key_id    TEXT NOT NULL REFERENCES keys(key_id),
  tag_key   TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  position  INTEGER NOT NULL,                  -- order the tag key was first added
  PRIMARY KEY (key_id, tag_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX key_tags_by_position ON key_tags (key_id, position);
`;

// Imported key material (Origin EXTERNAL): the current material's expiry, a version
// waiting for on-demand rotation, and the import tokens not used yet (JSON ImportTokenRef[]).
const V2 = `
ALTER TABLE keys ADD COLUMN expiration_model TEXT;
ALTER TABLE keys ADD COLUMN valid_to INTEGER;
ALTER TABLE keys ADD COLUMN pending_version INTEGER;
ALTER TABLE keys ADD COLUMN import_tokens TEXT;
CREATE INDEX keys_by_valid_to ON keys (valid_to, key_id) WHERE valid_to IS NOT NULL;
`;

// Each key record's revision, moved on by every write of it: writes of a record read
// earlier land only if nobody wrote it since (KmsKeyRecord.revision).
const V3 = `
ALTER TABLE keys ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
`;

/** MIGRATIONS[n] takes a database from version n to n + 1. Append only; never edit a shipped step. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
  (db) => db.exec(V2),
  (db) => db.exec(V3),
];

export const KMS_SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to KMS_SCHEMA_VERSION. Throws on a database written by a newer Coffer. */
export function migrateKms(db: Database.Database): void {
  runMigrations(db, MIGRATIONS, 'KMS database');
}
