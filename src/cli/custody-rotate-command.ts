// `coffer custody rotate` (a new root key of the same provider) and `coffer custody
// migrate --to PROVIDER` (a root key of another provider): re-seal every item sealed under
// the root key, offline under the data directory's lock, resumably, with progress on
// stderr (backend/reseal/root-key-rotation.ts). The current key is configured as for the
// server (environment); a migration's target by flags (credentials from the environment).

import type { Command } from 'commander';
import { pino } from 'pino';
import { openBackend } from '../backend/open-backend.js';
import { DataDirLockedError, lockDataDir } from '../backend/data-dir-lock.js';
import { rotateRootKey, type RotationTarget } from '../backend/reseal/root-key-rotation.js';
import { loadConfig, rootKeyEnv } from '../config/config.js';
import { readCustodyRecord } from '../custody/custody-record.js';
import { RootKeyConfigError } from '../custody/errors.js';
import { externalKmsSettings } from '../custody/external-kms-settings.js';
import { pkcs11Settings } from '../custody/pkcs11-settings.js';
import { configuredSource } from '../custody/select-root-key.js';
import { readAccountId } from '../iam/root-credentials.js';
import { KmsJsonClient } from '../kms/external/kms-json-client.js';
import { addExternalKmsOptions, addPkcs11Options } from './custody-command.js';
import { rootKeyFlagEnv, type RootKeyFlags } from '../config/root-key-flags.js';
import { CliError } from './output.js';
import { ProgressReporter } from './progress.js';
import { cancelOnline, onlineSettings, parseRate, runOnline } from './custody-online.js';

interface RotateOptions extends RootKeyFlags {
  dataDir?: string;
  newKeyLabel?: string;
  to?: string;
  online?: boolean;
  follow?: boolean;
  cancel?: boolean;
  endpoint?: string;
  region?: string;
  profile?: string;
  rate?: string;
}

/** The flags of --online (custody-online.ts). */
function addOnlineOptions(cmd: Command): Command {
  return cmd
    .option('--online', 'rotate the key of the running server at --endpoint while it serves (it re-seals; this command shows progress); credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile')
    .option('--follow', 'with --online: only follow (or report) the rotation the server runs, e.g. after it resumed one at a restart')
    .option('--cancel', 'with --online: cancel the cluster\'s rotation before its switch (e.g. one waiting for a node that will not get the new key); refused once any node seals under the new key')
    .option('--endpoint <url>', 'with --online: the server (default COFFER_ENDPOINT, AWS_ENDPOINT_URL, http://127.0.0.1:9000)')
    .option('--region <region>', 'with --online: the region the server signs in (default AWS_REGION, us-east-1)')
    .option('--profile <name>', 'with --online: the AWS profile with the credentials')
    .option('--rate <items>', 're-seal at most this many items per second (online: spares a busy server; offline: spares a shared disk)');
}

const TARGETS = ['file', 'pkcs11', 'external-kms'] as const;
type TargetName = (typeof TARGETS)[number];
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

export function registerRotateCommands(custody: Command): void {
  addOnlineOptions(
    custody
      .command('rotate')
      .description('re-seal everything under a new root key of the same provider (offline: stop the server first, or --online; resumable)')
      .option('--data-dir <dir>', 'the data directory (default ./data, env COFFER_DATA_DIR)')
      .option('--new-key-label <label>', 'PKCS#11: the new key\'s label (default: the current label with a date)'),
  ).action((o: RotateOptions) => (o.online ? online(o, 'rotate') : o.cancel ? cancelOffline() : run(o, 'rotate')));
  addOnlineOptions(
    addExternalKmsOptions(
      addPkcs11Options(
        custody
          .command('migrate')
          .description('re-seal everything under a root key of another provider (offline: stop the server first, or --online; resumable)')
          .requiredOption('--to <provider>', `the new provider: ${TARGETS.join(', ')}`)
          .option('--data-dir <dir>', 'the data directory (default ./data, env COFFER_DATA_DIR)'),
      ),
    ),
  ).action((o: RotateOptions) => (o.online ? online(o, 'migrate') : o.cancel ? cancelOffline() : run(o, 'migrate')));
}

function cancelOffline(): Promise<void> {
  throw new CliError('--cancel needs --online: an offline rotation is not cancelled, it is finished by running the same command again');
}

async function online(o: RotateOptions, command: 'rotate' | 'migrate'): Promise<void> {
  const opts = { endpoint: o.endpoint, region: o.region, profile: o.profile, rate: o.rate, follow: o.follow === true };
  if (o.cancel) return cancelOnline(opts, process.env);
  if (command === 'rotate') return runOnline('rotate', opts, o.newKeyLabel ? { newKeyLabel: o.newKeyLabel } : {}, process.env);
  const name = o.to as TargetName;
  if (!TARGETS.includes(name)) throw new CliError(`unknown provider ${JSON.stringify(o.to)}`, `use --to ${TARGETS.join(' | ')}`);
  return runOnline('migrate', opts, { to: name, settings: onlineSettings(name, { ...process.env, ...rootKeyFlagEnv(o) }) }, process.env);
}

async function run(o: RotateOptions, command: 'rotate' | 'migrate'): Promise<void> {
  const config = loadConfig({ dataDir: o.dataDir });
  const dataDir = config.dataDir;
  let lock;
  try {
    lock = lockDataDir(dataDir);
  } catch (e) {
    if (e instanceof DataDirLockedError) throw new CliError(`${e.message}`, `stop the server first: ${command} works offline (${e.hint}); or let the running server do it: coffer custody ${command} --online`);
    throw e;
  }
  try {
    const record = await readCustodyRecord(dataDir);
    if (!record) throw new CliError(`${dataDir} has no custody.json`, 'start the server once with its current root key (it records the key), then run this command again');
    const recordedKind = record.rootKey.slice(0, record.rootKey.indexOf(':'));
    let env = rootKeyEnv(config, config.custodyEnv);
    let to: RotationTarget;
    if (command === 'rotate') to = rotateTarget(env, o, record.rotation?.keyLabel);
    else {
      const name = o.to as TargetName;
      if (!TARGETS.includes(name)) throw new CliError(`unknown provider ${JSON.stringify(o.to)}`, `use --to ${TARGETS.join(' | ')}`);
      const targetEnv = { ...env, ...rootKeyFlagEnv(o) };
      // The target's variables configure the target only, unless the directory already uses that provider.
      const prefix = name === 'pkcs11' ? 'COFFER_PKCS11_' : name === 'external-kms' ? 'COFFER_EXTERNAL_KMS_' : undefined;
      if (prefix && recordedKind !== name) env = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith(prefix)));
      to = name === 'file' ? { target: 'file' } : name === 'pkcs11' ? { target: 'pkcs11', settings: pkcs11Settings(targetEnv) } : { target: 'external-kms', settings: externalKmsSettings(targetEnv) };
    }
    const itemsPerSecond = parseRate(o.rate);
    const backend = await openBackend(config, pino({ level: 'silent' }));
    const snapshot = { done: 0, total: 0, counting: true };
    const tty = process.stderr.isTTY === true;
    const progress = new ProgressReporter(process.stderr, () => ({ ...snapshot, bytes: 0 }), { tty, intervalMs: tty ? 200 : 1000, unit: 'items' });
    progress.start();
    let r;
    try {
      r = await rotateRootKey({
        dataDir, env, to, externalKms: (s) => new KmsJsonClient(s), stores: backend, audit: backend.audit, accountId: await readAccountId(dataDir),
        progress: (done, total, counting) => Object.assign(snapshot, { done, total, counting }),
        ...(itemsPerSecond ? { itemsPerSecond } : {}),
      });
    } finally {
      progress.stop();
      await backend.close();
    }
    {
      const c = r.counts;
      process.stdout.write(
        `${r.resumed ? 'finished the rotation' : command === 'rotate' ? 'rotated' : 'migrated'}: root key ${r.from} -> ${r.to}${r.toWhere ? ` (${r.toWhere})` : ''}\n` +
          `  ${r.resealed} items re-sealed now, of ${c.kmsMaterial} KMS key material versions, ${c.accessKeys} access keys, ${c.sessions} STS sessions, ${c.objects} SSE-S3 objects, ${c.uploads} uploads\n` +
          r.notes.map((n) => `  ${n}\n`).join(''),
      );
    }
  } catch (e) {
    if (e instanceof RootKeyConfigError) throw new CliError(e.message, e.hint);
    throw e;
  } finally {
    lock.release();
  }
}

function rotateTarget(env: Record<string, string | undefined>, o: RotateOptions, resumeLabel: string | undefined): RotationTarget {
  const source = configuredSource(env);
  switch (source) {
    case 'file':
      return { target: 'file' };
    case 'external-kms':
      return { target: 'external-kms', settings: externalKmsSettings(env) };
    case 'pkcs11': {
      const s = pkcs11Settings(env);
      return { target: 'pkcs11', settings: { ...s, keyLabel: resumeLabel ?? o.newKeyLabel ?? `${s.keyLabel}-${stamp()}` } };
    }
    case 'env':
    case 'passphrase':
      throw new CliError(
        `${source === 'env' ? 'COFFER_ROOT_KEY' : 'COFFER_ROOT_PASSPHRASE'} cannot be rotated in place: Coffer cannot set a variable`,
        'move to a provider Coffer can make a key in: coffer custody migrate --to file | pkcs11 | external-kms',
      );
  }
}
