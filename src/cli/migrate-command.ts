// `coffer migrate --data-dir DIR --to postgres://… [--blobs file:///…|s3://…] [--verify]`:
// an embedded deployment copied into a cluster's database and blob tier
// (backend/migrate/migrate.ts). Progress on stderr; the verification table and what the
// nodes need on stdout; exit 1 when the verification finds a difference.

import type { Command } from 'commander';
import { migrateDataDir, MigrateError, type MigrateProgress } from '../backend/migrate/migrate.js';
import { loadBlobsConfig, shownBlobs } from '../config/blobs.js';
import { loadConfig, rootKeyEnv } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import { loadMetadataUrl, shownMetadata } from '../config/metadata.js';
import { KmsJsonClient } from '../kms/external/kms-json-client.js';
import { isDatabaseUnavailable } from '../storage/postgres/unavailable.js';
import { isBlobTierUnavailable } from '../storage/blob-unavailable.js';
import { CliError, table } from './output.js';
import { ProgressReporter } from './progress.js';

interface MigrateCommandOptions {
  dataDir?: string;
  to?: string;
  blobs?: string;
  verify?: boolean;
  batchRows: string;
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('copy an embedded data directory (stopped) into a cluster: PostgreSQL for the metadata, KMS, IAM and usage, a shared blob tier for blobs over 64 KiB; resumable, verified')
    .option('--data-dir <dir>', 'the embedded data directory (default ./data, env COFFER_DATA_DIR); stop its server first')
    .requiredOption('--to <url>', 'the PostgreSQL database: postgres://user:password@host:5432/database (new and empty, or this migration to resume)')
    .option('--blobs <url>', "the cluster's blob tier, as the nodes' --blobs: file:///shared/path or s3://bucket/prefix?endpoint=…; omitted, blob files stay in the data directory (one node only)")
    .option('--verify', 'only verify a finished migration: counts and checksums of every table and blob')
    .option('--batch-rows <n>', 'rows per PostgreSQL transaction', '500')
    .action(async (o: MigrateCommandOptions) => {
      const config = loadConfig({ dataDir: o.dataDir });
      let url: string;
      let blobs;
      try {
        url = loadMetadataUrl(o.to) ?? '';
        blobs = loadBlobsConfig(o.blobs ?? process.env.COFFER_BLOBS, process.env);
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message.replace(/^invalid (metadata|COFFER_BLOBS)/, (_, w: string) => `invalid ${w === 'metadata' ? '--to' : '--blobs'}`), e.hint);
        throw e;
      }
      if (url === '') throw new CliError('--to names no database', 'give --to postgres://user:password@host:5432/database');
      const batchRows = Number(o.batchRows);
      if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 10_000) throw new CliError(`invalid --batch-rows: ${o.batchRows}`, 'use a whole number from 1 to 10000');
      const snapshot: MigrateProgress = { phase: 'copy', done: 0, total: 0, bytes: 0 };
      const tty = process.stderr.isTTY === true;
      let reporter: ProgressReporter | undefined;
      const startReporter = (unit: string) => {
        reporter?.stop();
        reporter = new ProgressReporter(process.stderr, () => ({ done: snapshot.done, total: snapshot.total, bytes: snapshot.bytes, counting: false }), { tty, intervalMs: tty ? 200 : 2000, unit });
        reporter.start();
      };
      let r;
      try {
        r = await migrateDataDir({
          dataDir: config.dataDir, metadataUrl: url, blobs, rootKeyEnv: rootKeyEnv(config, config.custodyEnv), externalKms: (s) => new KmsJsonClient(s),
          verifyOnly: o.verify === true, batchRows,
          progress: (p) => {
            if (reporter === undefined || p.phase !== snapshot.phase) startReporter(p.phase === 'copy' ? 'rows and blobs' : 'verification checks');
            Object.assign(snapshot, p);
          },
        });
      } catch (e) {
        if (e instanceof MigrateError) throw new CliError(e.message, e.hint);
        if (isDatabaseUnavailable(e)) throw new CliError(`the PostgreSQL database ${shownMetadata(url)} cannot be reached (${(e as Error).message})`, 'check its host, port, user and password, then run the same command again: a migration resumes where it stopped');
        if (isBlobTierUnavailable(e)) throw new CliError(`the blob tier ${shownBlobs(blobs)} cannot be reached (${(e as Error).message})`, 'check the --blobs setting and its credentials (COFFER_BLOB_S3_*), then run the same command again: a migration resumes where it stopped');
        throw e;
      } finally {
        reporter?.stop();
      }
      const where = shownBlobs(blobs);
      const head = r.alreadyFinished ? `${o.verify ? 'verified' : 'already migrated'}` : r.resumed ? 'finished the migration' : 'migrated';
      const rows = [['WHAT', 'SOURCE', 'TARGET', 'CONTENT'], ...r.verify.map((v) => [v.what, String(v.source), String(v.target), v.content])];
      process.stdout.write(
        `${head} ${config.dataDir} -> ${shownMetadata(url)}${where ? ` and ${where}` : ''}${r.alreadyFinished ? '' : `: ${r.rows} rows and ${r.blobs} blob files copied by this run`}\n\n` +
          table(rows) +
          `\n${r.ok ? 'verification: every count and checksum matches' : `VERIFICATION FAILED${r.badBlobs.length ? ` (blobs: ${r.badBlobs.join(', ')})` : ''}`}\n`,
      );
      if (!r.ok) {
        process.exitCode = 1;
        const othersDiffer = r.verify.some((v) => !v.ok && !v.what.endsWith(' account -> account'));
        if (r.accountMissing) {
          // Migrated by a release from before the account moved into the database: the one row --verify (which writes nothing) cannot add.
          const again = `coffer migrate --data-dir ${config.dataDir} --to ${shownMetadata(url)}${where ? ` --blobs ${where}` : ''}`;
          process.stderr.write(
            `coffer: error: the target database holds no account: ${config.dataDir} was migrated into it by a release from before the account moved into PostgreSQL\n` +
              `coffer: hint: run the migration again without --verify (\`${again}\`, the URL with its password): it copies nothing again, sets the account (${r.accountId}) and verifies; then start the nodes\n`,
          );
        }
        if (othersDiffer || !r.accountMissing) {
          process.stderr.write('coffer: error: the target does not match the source\ncoffer: hint: if nodes already run on the target, their writes show as differences; otherwise migrate again into a new, empty database\n');
        }
        return;
      }
      process.stdout.write(
        '\nbefore starting nodes on it:\n' +
          `  every node needs root key ${r.rootKey} ${r.keyChecked ? '(the configured key: checked, it opens custody.json)' : '(none is configured here, so it was not checked)'}: the same COFFER_ROOT_KEY, passphrase, token key or external KMS key as the embedded server; a node with another key refuses to start\n` +
          `  the account, ${r.accountId}, is in the database: every node adopts it (a node whose data directory names another account refuses to start)\n` +
          `  copy custody.json, and root.salt, root.kms.json or root.key where the data directory has them, into each node's data directory\n` +
          `  root credentials: give every node the same COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY, or copy root-credentials.json (it holds the generated ones) into each node's data directory\n` +
          `  start each node with COFFER_METADATA=${shownMetadata(url)}${where ? ` COFFER_BLOBS=${where}` : ` and --data-dir ${config.dataDir} (the blob files stay there: one node only)`}\n` +
          `  the audit log stays in ${config.dataDir}/audit: keep it with the data directory\n`,
      );
    });
}
