// The IAM tables in a shared PostgreSQL database (docs/CLUSTER.md), the twin of
// sqlite-iam-schema.ts (its V1 and V2 as one step), names prefixed `iam_`. Component
// 'iam' in schema_migrations (src/storage/postgres/migrate.ts); append steps, never edit
// a shipped one.
//
// Names of users, groups, roles and policies are unique without regard to case, as
// SQLite's COLLATE NOCASE made them: text columns are COLLATE "C", under which lower()
// folds exactly ASCII (as NOCASE does), and unique indexes on lower(name) hold the rule;
// lookups and orderings use the same expression (`ci` below), so they seek those indexes.
// Records that refer to a user, group or role store its name as created; the foreign
// keys follow a rename (ON UPDATE CASCADE). Times are BIGINT epoch milliseconds.

import type { PgMigration } from '../../storage/postgres/migrate.js';

/** A parameter folded as the name indexes fold names: `ci(1)` is lower($1 COLLATE "C"). */
export const ci = (n: number): string => `lower($${n}::text COLLATE "C")`;

const V1 = `
CREATE TABLE iam_users (
  user_name   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  user_id     TEXT COLLATE "C" NOT NULL UNIQUE,
  arn         TEXT NOT NULL,
  path        TEXT COLLATE "C" NOT NULL,
  create_date BIGINT NOT NULL,
  tags        TEXT NOT NULL                    -- JSON [{Key, Value}], in the caller's order
);
CREATE UNIQUE INDEX iam_users_by_name ON iam_users (lower(user_name));

CREATE TABLE iam_access_keys (
  access_key_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  user_name         TEXT COLLATE "C" NOT NULL REFERENCES iam_users (user_name) ON UPDATE CASCADE,
  status            TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
  create_date       BIGINT NOT NULL,
  sealed_secret     BYTEA NOT NULL,            -- sealed under the root key; never log
  last_used_date    BIGINT,
  last_used_service TEXT,
  last_used_region  TEXT
);
CREATE INDEX iam_access_keys_by_user ON iam_access_keys (lower(user_name), create_date, access_key_id);

CREATE TABLE iam_user_policies (
  user_name   TEXT COLLATE "C" NOT NULL REFERENCES iam_users (user_name) ON UPDATE CASCADE,
  policy_name TEXT COLLATE "C" NOT NULL,
  document    TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_user_policies_by_name ON iam_user_policies (lower(user_name), lower(policy_name));

CREATE TABLE iam_groups (
  group_name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  group_id    TEXT COLLATE "C" NOT NULL UNIQUE,
  arn         TEXT NOT NULL,
  path        TEXT COLLATE "C" NOT NULL,
  create_date BIGINT NOT NULL
);
CREATE UNIQUE INDEX iam_groups_by_name ON iam_groups (lower(group_name));

CREATE TABLE iam_group_members (
  group_name TEXT COLLATE "C" NOT NULL REFERENCES iam_groups (group_name) ON UPDATE CASCADE,
  user_name  TEXT COLLATE "C" NOT NULL REFERENCES iam_users (user_name) ON UPDATE CASCADE,
  PRIMARY KEY (group_name, user_name)
);
CREATE INDEX iam_group_members_by_group ON iam_group_members (lower(group_name));
CREATE INDEX iam_group_members_by_user ON iam_group_members (lower(user_name));

CREATE TABLE iam_group_policies (
  group_name  TEXT COLLATE "C" NOT NULL REFERENCES iam_groups (group_name) ON UPDATE CASCADE,
  policy_name TEXT COLLATE "C" NOT NULL,
  document    TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_group_policies_by_name ON iam_group_policies (lower(group_name), lower(policy_name));

CREATE TABLE iam_roles (
  role_name            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  role_id              TEXT COLLATE "C" NOT NULL UNIQUE,
  arn                  TEXT NOT NULL,
  path                 TEXT COLLATE "C" NOT NULL,
  create_date          BIGINT NOT NULL,
  assume_role_policy   TEXT NOT NULL,
  description          TEXT,
  max_session_duration INTEGER NOT NULL,
  tags                 TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_roles_by_name ON iam_roles (lower(role_name));

CREATE TABLE iam_role_policies (
  role_name   TEXT COLLATE "C" NOT NULL REFERENCES iam_roles (role_name) ON UPDATE CASCADE,
  policy_name TEXT COLLATE "C" NOT NULL,
  document    TEXT NOT NULL
);
CREATE UNIQUE INDEX iam_role_policies_by_name ON iam_role_policies (lower(role_name), lower(policy_name));

CREATE TABLE iam_managed_policies (
  arn             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  policy_name     TEXT COLLATE "C" NOT NULL,
  policy_id       TEXT COLLATE "C" NOT NULL UNIQUE,
  path            TEXT COLLATE "C" NOT NULL,
  description     TEXT,
  default_version TEXT COLLATE "C" NOT NULL,
  next_version    INTEGER NOT NULL,
  create_date     BIGINT NOT NULL,
  update_date     BIGINT NOT NULL
);
CREATE UNIQUE INDEX iam_managed_policies_by_name ON iam_managed_policies (lower(policy_name));

CREATE TABLE iam_policy_versions (
  policy_arn  TEXT COLLATE "C" NOT NULL REFERENCES iam_managed_policies (arn),
  version_id  TEXT COLLATE "C" NOT NULL,
  document    TEXT NOT NULL,
  create_date BIGINT NOT NULL,
  PRIMARY KEY (policy_arn, version_id)
);

CREATE TABLE iam_policy_attachments (
  target      TEXT NOT NULL CHECK (target IN ('user', 'group', 'role')),
  target_name TEXT COLLATE "C" NOT NULL,
  policy_arn  TEXT COLLATE "C" NOT NULL REFERENCES iam_managed_policies (arn),
  PRIMARY KEY (target, target_name, policy_arn)
);
CREATE INDEX iam_policy_attachments_by_target ON iam_policy_attachments (target, lower(target_name));
CREATE INDEX iam_policy_attachments_by_policy ON iam_policy_attachments (policy_arn);

CREATE TABLE iam_sessions (
  access_key_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  sealed_secret BYTEA NOT NULL,               -- secret key and session token, sealed under the root key; never log
  principal     TEXT NOT NULL,                -- JSON, versioned (src/iam/credentials.ts)
  create_date   BIGINT NOT NULL,
  expires_at    BIGINT NOT NULL
);
CREATE INDEX iam_sessions_by_expiry ON iam_sessions (expires_at);
`;

// IamStore.version() across nodes: one row whose counter every write of what a credential or
// an identity policy depends on moves on, in the writing transaction itself (a statement
// trigger), so a node that reads it after another node's write was answered sees the move.
// Not counted: STS sessions (read on every request anyway) and an access key's last-used
// columns (written as keys are used, and nothing is cached from them).
const VERSIONED = ['iam_users', 'iam_user_policies', 'iam_groups', 'iam_group_members', 'iam_group_policies', 'iam_roles',
  'iam_role_policies', 'iam_managed_policies', 'iam_policy_versions', 'iam_policy_attachments'];
const V2 = `
CREATE TABLE iam_version (
  id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL
);
INSERT INTO iam_version VALUES (1, 1);
CREATE FUNCTION iam_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE iam_version SET version = version + 1 WHERE id = 1;
  RETURN NULL;
END $$;
${VERSIONED.map((t) => `CREATE TRIGGER ${t}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION iam_version_bump();`).join('\n')}
CREATE TRIGGER iam_access_keys_version AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF access_key_id, user_name, status, sealed_secret
  ON iam_access_keys FOR EACH STATEMENT EXECUTE FUNCTION iam_version_bump();
`;

/** migrations[n] takes the IAM tables from version n to n + 1. */
export const PG_IAM_MIGRATIONS: readonly PgMigration[] = [V1, V2];
