// The schema of the IAM database (<data-dir>/iam.sqlite) and its migrations, in the
// manner of src/storage/sqlite-schema.ts: the schema_version table holds the one version
// number of the whole database; opening runs every migration between its version and
// IAM_SCHEMA_VERSION in one transaction, and refuses a newer database.
//
// V1: users, access keys, user inline policies. V2: groups (members, inline
// policies), roles (trust policy, inline policies), managed policies with versions and
// attachments, STS sessions. `access_keys` holds users' long-term keys only; STS
// session keys live with their sessions.
//
// User and policy names use COLLATE NOCASE (IAM names are ASCII and unique without
// regard to case; NOCASE folds exactly ASCII). Times are INTEGER epoch milliseconds.

import { runMigrations } from '../../storage/sqlite-database.js';
import type Database from 'better-sqlite3';

const V1 = `
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE users (
  user_name   TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
  user_id     TEXT NOT NULL UNIQUE,
  arn         TEXT NOT NULL,
  path        TEXT NOT NULL,
  create_date INTEGER NOT NULL,
  tags        TEXT NOT NULL                  -- JSON [{Key, Value}], in the caller's order
) WITHOUT ROWID;

CREATE TABLE access_keys (
  access_key_id     TEXT NOT NULL PRIMARY KEY,
  user_name         TEXT NOT NULL COLLATE NOCASE REFERENCES users(user_name),
  status            TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
  create_date       INTEGER NOT NULL,
  sealed_secret     BLOB NOT NULL,           -- sealed under the root key; never log
  last_used_date    INTEGER,
  last_used_service TEXT,
  last_used_region  TEXT
) WITHOUT ROWID;
CREATE INDEX access_keys_by_user ON access_keys (user_name, create_date, access_key_id);

CREATE TABLE user_policies (
  user_name   TEXT NOT NULL COLLATE NOCASE REFERENCES users(user_name),
  policy_name TEXT NOT NULL COLLATE NOCASE,
  document    TEXT NOT NULL,
  PRIMARY KEY (user_name, policy_name)
) WITHOUT ROWID;
`;

// Groups, roles, managed policies and STS sessions. Attachments and memberships name
// their user, group or role as created; managed policies are keyed by ARN.
const V2 = `
CREATE TABLE groups (
  group_name  TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
  group_id    TEXT NOT NULL UNIQUE,
  arn         TEXT NOT NULL,
  path        TEXT NOT NULL,
  create_date INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE group_members (
  group_name TEXT NOT NULL COLLATE NOCASE REFERENCES groups(group_name),
  user_name  TEXT NOT NULL COLLATE NOCASE REFERENCES users(user_name),
  PRIMARY KEY (group_name, user_name)
) WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members (user_name, group_name);

CREATE TABLE group_policies (
  group_name  TEXT NOT NULL COLLATE NOCASE REFERENCES groups(group_name),
  policy_name TEXT NOT NULL COLLATE NOCASE,
  document    TEXT NOT NULL,
  PRIMARY KEY (group_name, policy_name)
) WITHOUT ROWID;

CREATE TABLE roles (
  role_name            TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
  role_id              TEXT NOT NULL UNIQUE,
  arn                  TEXT NOT NULL,
  path                 TEXT NOT NULL,
  create_date          INTEGER NOT NULL,
  assume_role_policy   TEXT NOT NULL,
  description          TEXT,
  max_session_duration INTEGER NOT NULL,
  tags                 TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE role_policies (
  role_name   TEXT NOT NULL COLLATE NOCASE REFERENCES roles(role_name),
  policy_name TEXT NOT NULL COLLATE NOCASE,
  document    TEXT NOT NULL,
  PRIMARY KEY (role_name, policy_name)
) WITHOUT ROWID;

CREATE TABLE managed_policies (
  arn             TEXT NOT NULL PRIMARY KEY,
  policy_name     TEXT NOT NULL COLLATE NOCASE UNIQUE,
  policy_id       TEXT NOT NULL UNIQUE,
  path            TEXT NOT NULL,
  description     TEXT,
  default_version TEXT NOT NULL,
  next_version    INTEGER NOT NULL,
  create_date     INTEGER NOT NULL,
  update_date     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE managed_policy_versions (
  policy_arn  TEXT NOT NULL REFERENCES managed_policies(arn),
  version_id  TEXT NOT NULL,
  document    TEXT NOT NULL,
  create_date INTEGER NOT NULL,
  PRIMARY KEY (policy_arn, version_id)
) WITHOUT ROWID;

CREATE TABLE policy_attachments (
  target      TEXT NOT NULL CHECK (target IN ('user', 'group', 'role')),
  target_name TEXT NOT NULL COLLATE NOCASE,
  policy_arn  TEXT NOT NULL REFERENCES managed_policies(arn),
  PRIMARY KEY (target, target_name, policy_arn)
) WITHOUT ROWID;
CREATE INDEX policy_attachments_by_policy ON policy_attachments (policy_arn);

CREATE TABLE sessions (
  access_key_id TEXT NOT NULL PRIMARY KEY,
  sealed_secret BLOB NOT NULL,            -- secret key and session token, sealed under the root key; never log
  principal     TEXT NOT NULL,            -- JSON, versioned (src/iam/credentials.ts)
  create_date   INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
`;

/** MIGRATIONS[n] takes a database from version n to n + 1. Append only; never edit a shipped step. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
  (db) => db.exec(V2),
];

export const IAM_SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to IAM_SCHEMA_VERSION. Throws on a database written by a newer Coffer. */
export function migrateIam(db: Database.Database): void {
  runMigrations(db, MIGRATIONS, 'IAM database');
}
