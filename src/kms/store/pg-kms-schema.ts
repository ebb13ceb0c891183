// The KMS's tables in a shared PostgreSQL database (docs/CLUSTER.md), the twin of
// sqlite-kms-schema.ts: the same columns and indexes, names prefixed `kms_` because the
// stores share one database. Component 'kms' in schema_migrations
// (src/storage/postgres/migrate.ts); append steps, never edit a shipped one.
//
// Times are BIGINT epoch milliseconds; sealed material is BYTEA, opaque here. Text that
// the store orders or compares is COLLATE "C" (byte order, as SQLite's BINARY), whatever
// the database's own collation. `seq` (an identity) and `position` record insertion order.

import type { PgMigration } from '../../storage/postgres/migrate.js';

const V1 = `
CREATE TABLE kms_keys (
  key_id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  arn                  TEXT NOT NULL,
  account_id           TEXT NOT NULL,
  region               TEXT NOT NULL,
  description          TEXT NOT NULL,
  key_usage            TEXT NOT NULL,
  key_spec             TEXT NOT NULL,
  origin               TEXT NOT NULL,
  key_manager          TEXT NOT NULL,
  state                TEXT NOT NULL,
  creation_date        BIGINT NOT NULL,
  deletion_date        BIGINT,
  pending_window_days  INTEGER,
  policy               TEXT NOT NULL,
  rotation_enabled     BOOLEAN NOT NULL,
  rotation_period_days INTEGER,
  next_rotation_date   BIGINT,
  on_demand_rotations  INTEGER NOT NULL,
  current_version      INTEGER NOT NULL
);
CREATE INDEX kms_keys_by_creation ON kms_keys (creation_date, key_id);
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_date, key_id) WHERE deletion_date IS NOT NULL;
CREATE INDEX kms_keys_by_rotation ON kms_keys (next_rotation_date, key_id) WHERE next_rotation_date IS NOT NULL;

CREATE TABLE kms_key_materials (
  key_id        TEXT COLLATE "C" NOT NULL REFERENCES kms_keys (key_id),
  version       INTEGER NOT NULL,
  material_id   TEXT NOT NULL,
  sealed        BYTEA NOT NULL,               -- sealed under the root key; never log
  created_at    BIGINT NOT NULL,
  rotation_type TEXT,
  PRIMARY KEY (key_id, version)
);

CREATE TABLE kms_aliases (
  alias_name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  key_id            TEXT COLLATE "C" NOT NULL REFERENCES kms_keys (key_id),
  creation_date     BIGINT NOT NULL,
  last_updated_date BIGINT NOT NULL
);
CREATE INDEX kms_aliases_by_key ON kms_aliases (key_id, alias_name);

CREATE TABLE kms_grants (
  grant_id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  seq                BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,  -- creation order, across keys
  key_id             TEXT COLLATE "C" NOT NULL REFERENCES kms_keys (key_id),
  name               TEXT COLLATE "C",
  grantee_principal  TEXT NOT NULL,
  retiring_principal TEXT COLLATE "C",
  issuing_account    TEXT NOT NULL,
  operations         TEXT NOT NULL,            -- JSON string[]
  constraints        TEXT,                     -- JSON GrantConstraints or NULL
  creation_date      BIGINT NOT NULL,
  grant_token        TEXT COLLATE "C" NOT NULL UNIQUE
);
CREATE INDEX kms_grants_by_key ON kms_grants (key_id, seq);
CREATE INDEX kms_grants_by_retiring_principal ON kms_grants (retiring_principal, seq) WHERE retiring_principal IS NOT NULL;
CREATE UNIQUE INDEX kms_grants_by_name ON kms_grants (key_id, name) WHERE name IS NOT NULL;

CREATE TABLE kms_key_tags (
  key_id    TEXT COLLATE "C" NOT NULL REFERENCES kms_keys (key_id),
  tag_key   TEXT COLLATE "C" NOT NULL,
  tag_value TEXT NOT NULL,
  position  INTEGER NOT NULL,                  -- order the tag key was first added
  PRIMARY KEY (key_id, tag_key)
);
CREATE UNIQUE INDEX kms_key_tags_by_position ON kms_key_tags (key_id, position);
`;

// Imported key material (Origin EXTERNAL), as SQLite's V2: the current material's expiry,
// a version waiting for on-demand rotation, the import tokens not used yet (JSON).
const V2 = `
ALTER TABLE kms_keys ADD COLUMN expiration_model TEXT;
ALTER TABLE kms_keys ADD COLUMN valid_to BIGINT;
ALTER TABLE kms_keys ADD COLUMN pending_version INTEGER;
ALTER TABLE kms_keys ADD COLUMN import_tokens TEXT;
CREATE INDEX kms_keys_by_valid_to ON kms_keys (valid_to, key_id) WHERE valid_to IS NOT NULL;
`;

// Each key record's revision, moved on by every write of it (as SQLite's V3): a write of a
// record read earlier lands only if no node wrote it since (KmsKeyRecord.revision).
const V3 = `
ALTER TABLE kms_keys ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
`;

/** migrations[n] takes the KMS tables from version n to n + 1. */
export const PG_KMS_MIGRATIONS: readonly PgMigration[] = [V1, V2, V3];
