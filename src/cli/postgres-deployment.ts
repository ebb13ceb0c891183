// What the admin commands do on a deployment whose state is in PostgreSQL (--metadata or
// COFFER_METADATA, docs/CLUSTER.md): those that read an embedded data directory's SQLite
// files (check, backup, restore) refuse and say what to use instead — on PostgreSQL the
// database and the blob tier have their own tools — rather than quietly working on a data
// directory that holds only a node's audit log. docs/OPERATIONS.md, "On PostgreSQL".

import { shownMetadata } from '../config/metadata.js';
import { CliError } from './output.js';

export const METADATA_OPTION = '--metadata <url>';
export const METADATA_OPTION_HELP = 'the PostgreSQL database of a cluster (postgres://…; env COFFER_METADATA)';

const WHAT_INSTEAD: Record<'check' | 'backup' | 'restore', string> = {
  check: 'check the database with PostgreSQL\'s own tools (pg_amcheck, and the server\'s logs), and the blob tier with its own (a file system check of the shared directory; the S3 service\'s inventory); docs/CLUSTER.md, "Backups and checks"',
  backup: 'back the database up with pg_dump (pg_dump -Fc; or continuous archiving for a point in time) and the blob tier with its own tools (snapshots or rsync of the shared directory; versioning or replication of the S3 bucket), taking the database first; keep custody.json, root-credentials.json and the root key apart; docs/CLUSTER.md, "Backups and checks"',
  restore: 'restore the database with pg_restore into an empty database and the blob tier from its own backup, then start the nodes on them; docs/CLUSTER.md, "Backups and checks"',
};

/** Refuses `command` on a PostgreSQL deployment, naming the database (password masked) and what to use instead. */
export function refuseOnPostgres(command: 'check' | 'backup' | 'restore', metadata: string | undefined): void {
  if (metadata === undefined) return;
  throw new CliError(`coffer ${command} works on an embedded data directory's SQLite files; this deployment's state is in PostgreSQL (${shownMetadata(metadata)})`, WHAT_INSTEAD[command]);
}
