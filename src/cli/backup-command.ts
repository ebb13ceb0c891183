// `coffer backup --to DIR` and `coffer restore --from DIR --data-dir D` (backend/backup.ts):
// progress on stderr, a summary on stdout, and whether the root key is in the backup.

import type { Command } from 'commander';
import { backupDataDir, BackupError, restoreDataDir } from '../backend/backup.js';
import { loadConfig, rootKeyEnv } from '../config/config.js';
import { shownBlobs } from '../config/blobs.js';
import { KmsJsonClient } from '../kms/external/kms-json-client.js';
import { CliError } from './output.js';
import { ProgressReporter } from './progress.js';
import { METADATA_OPTION, METADATA_OPTION_HELP, refuseOnPostgres } from './postgres-deployment.js';

function progressOn(unit: string) {
  const s = { done: 0, total: 0, counting: false };
  const tty = process.stderr.isTTY === true;
  const reporter = new ProgressReporter(process.stderr, () => ({ ...s, bytes: 0 }), { tty, intervalMs: tty ? 200 : 2000, unit });
  return { reporter, update: (done: number, total: number) => Object.assign(s, { done, total }) };
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('copy a data directory (online: the server may run) with a manifest of counts and checksums; the root key only with --include-root-key')
    .requiredOption('--to <dir>', 'a new or empty directory')
    .option('--data-dir <dir>', 'the data directory (default ./data, env COFFER_DATA_DIR)')
    .option('--include-root-key', 'also copy root.key (then protect the backup as the key itself)')
    .option(METADATA_OPTION, METADATA_OPTION_HELP + ': refused, with what to use instead')
    .action(async (o: { to: string; dataDir?: string; includeRootKey?: boolean; metadata?: string }) => {
      const config = loadConfig({ dataDir: o.dataDir, metadata: o.metadata });
      refuseOnPostgres('backup', config.metadata);
      const p = progressOn('blobs');
      p.reporter.start();
      try {
        const externalBlobs = config.blobs.kind === 'data-dir' ? undefined : shownBlobs(config.blobs);
        const m = await backupDataDir({ dataDir: config.dataDir, to: o.to, includeRootKey: o.includeRootKey === true, externalBlobs, progress: p.update }).finally(() => p.reporter.stop());
        const bytes = m.files.reduce((n, f) => n + f.bytes, 0);
        const rows = (db: string, t: string) => m.rows[db]?.[t] ?? 0;
        process.stdout.write(
          `backed up ${config.dataDir} to ${o.to}: ${m.files.length} files, ${bytes} bytes; ${rows('metadata.sqlite', 'buckets')} buckets, ${rows('metadata.sqlite', 'objects')} objects, ${rows('kms.sqlite', 'keys')} KMS keys, ${rows('iam.sqlite', 'users')} users\n` +
            (m.includesRootKey
              ? `  the backup INCLUDES the root key ${m.rootKey} (root.key): anyone with it can read every key and object in it; keep it as safe as the key\n`
              : `  the backup does NOT include the root key ${m.rootKey}: keep the key (root.key, COFFER_ROOT_KEY, passphrase, token or external KMS key) separately; a restore needs it\n`) +
            '  it holds root-credentials.json (the root secret): keep it private\n' +
            (m.externalBlobs ? `  blobs over 64 KiB are NOT in it: they live in ${m.externalBlobs}; back that store up with its own tools\n` : ''),
        );
        if (m.missingBlobs.length) process.stderr.write(`coffer: warning: ${m.missingBlobs.length} blobs were deleted while the backup ran (their objects were deleted): ${m.missingBlobs.slice(0, 5).join(', ')}${m.missingBlobs.length > 5 ? ', …' : ''}\n`);
      } catch (e) {
        if (e instanceof BackupError) throw new CliError(e.message, e.hint);
        throw e;
      }
    });
  program
    .command('restore')
    .description('restore a backup into a new or empty data directory, after checking its manifest and root key')
    .requiredOption('--from <dir>', 'a directory written by coffer backup')
    .requiredOption('--data-dir <dir>', 'the new data directory')
    .option(METADATA_OPTION, METADATA_OPTION_HELP + ': refused, with what to use instead')
    .action(async (o: { from: string; dataDir: string; metadata?: string }) => {
      const config = loadConfig({ dataDir: o.dataDir, metadata: o.metadata });
      refuseOnPostgres('restore', config.metadata);
      const p = progressOn('files');
      p.reporter.start();
      try {
        const { manifest, keyChecked } = await restoreDataDir({ from: o.from, dataDir: config.dataDir, env: rootKeyEnv(config, config.custodyEnv), externalKms: (s) => new KmsJsonClient(s), progress: p.update }).finally(() => p.reporter.stop());
        process.stdout.write(
          `restored ${manifest.files.length} files from ${o.from} into ${config.dataDir} (backup of ${manifest.createdAt})\n` +
            (keyChecked
              ? `  root key ${manifest.rootKey} checked: it opens the custody record\n`
              : `  the backup holds no root key and none is configured: put the root key ${manifest.rootKey} in place (root.key, or COFFER_ROOT_KEY) before starting; the server refuses any other\n`) +
            (manifest.externalBlobs ? `  blobs over 64 KiB were not in the backup: start the server with --blobs ${manifest.externalBlobs}\n` : ''),
        );
      } catch (e) {
        if (e instanceof BackupError) throw new CliError(e.message, e.hint);
        throw e;
      }
    });
}
