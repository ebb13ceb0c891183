// The schema of the IAM database (<data-dir>/iam.sqlite) and its migrations, in the
// manner of src/storage/sqlite-schema.ts: the schema_version table holds the one version
// number of the whole database; opening runs every migration between its version and
// IAM_SCHEMA_VERSION in one transaction, and refuses a newer database.
//
// Table names leave room for what comes next, each by a migration: groups,
// group_members, group_policies, roles, role_policies, managed_policies,
// managed_policy_versions, *_policy_attachments, sessions (STS). `access_keys` holds
// users' long-term keys only; STS session keys will live with their sessions.
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

/** MIGRATIONS[n] takes a database from version n to n + 1. Append only; never edit a shipped step. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => db.exec(V1),
];

export const IAM_SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to IAM_SCHEMA_VERSION. Throws on a database written by a newer Coffer. */
export function migrateIam(db: Database.Database): void {
  runMigrations(db, MIGRATIONS, 'IAM database');
}
