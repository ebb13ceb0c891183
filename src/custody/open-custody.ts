// Safety at start: the configured root key must be the one that sealed the data directory.
// custody.json (custody-record.ts) names that key; a start with another key, with a
// missing root.key, or with a passphrase on a directory sealed by another provider is
// refused before a root.key or root.salt is written and before the server listens.
//
//   record present: configured kind = recorded kind, no file is created, the provider's
//                   id = the recorded id, and the provider opens the recorded canary.
//   no record:      (a new data directory, or one from before custody.json) one sealed
//                   item found by the caller (KMS material, an access key secret, an
//                   SSE-S3 object key) must open with the configured key; a root.key or
//                   root.salt already present is never replaced by another provider's
//                   file; then the record is written.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { CUSTODY_FILE, opensCanary, readCustodyRecord, writeCustodyRecord, type CustodyRecord } from './custody-record.js';
import { RootKeyConfigError } from './errors.js';
import { ROOT_KEY_ENV } from './env-root-key.js';
import { ROOT_KEY_FILE } from './file-root-key.js';
import { ROOT_PASSPHRASE_ENV, SALT_FILE } from './passphrase-root-key.js';
import type { RootKeyProvider } from './root-key.js';
import { EXTERNAL_KMS_FILE, type ExternalKmsConnector } from './external-kms-root-key.js';
import { configuredSource, selectRootKey, type RootKeySource, type SelectedRootKey } from './select-root-key.js';

/** One item sealed under the root key, found by the caller in its stores. */
export interface SealedSample {
  /** What it is, for messages: e.g. `KMS key 1234abcd-... version 1`. Never secret. */
  what: string;
  /** Opens the item with `provider` (and forgets the plaintext); throws if it does not open. */
  open(provider: RootKeyProvider): Promise<void>;
}

const MIGRATE_HINT = 'keep the provider this data directory was sealed with, or move it to another provider with `coffer custody migrate --to PROVIDER` (docs/OPERATIONS.md)';

const KIND_TEXT: Record<string, string> = {
  key: `a 256-bit root key (${ROOT_KEY_FILE} in the data directory, or ${ROOT_KEY_ENV})`,
  passphrase: `a passphrase (${ROOT_PASSPHRASE_ENV} with ${SALT_FILE})`,
  pkcs11: 'a key in a PKCS#11 token',
  'external-kms': `a data key from an external KMS (${EXTERNAL_KMS_FILE})`,
};

const SOURCE_TEXT: Record<RootKeySource, string> = {
  env: ROOT_KEY_ENV,
  file: ROOT_KEY_FILE,
  passphrase: ROOT_PASSPHRASE_ENV,
  pkcs11: 'the PKCS#11 provider',
  'external-kms': 'the external-KMS provider',
};

const kindOf = (id: string) => id.slice(0, id.indexOf(':'));
const kindSourceOf = (source: RootKeySource) => (source === 'env' || source === 'file' ? 'key' : source);

function expects(record: CustodyRecord): string {
  const kind = kindOf(record.rootKey);
  return `this data directory was sealed under root key ${record.rootKey}, ${KIND_TEXT[kind] ?? `provider ${kind}`}${record.where ? ` (${record.where})` : ''}`;
}

/**
 * Opens the configured root key and checks it against the data directory (see above).
 * Throws RootKeyConfigError saying which provider and fingerprint the data expects.
 */
export async function openCustody(opts: {
  dataDir: string;
  env: Record<string, string | undefined>;
  findSealed: () => Promise<SealedSample | undefined>;
  externalKms?: ExternalKmsConnector;
}): Promise<SelectedRootKey> {
  const { dataDir, env, externalKms } = opts;
  const source = configuredSource(env);
  const keyFile = path.join(dataDir, ROOT_KEY_FILE);
  const saltFile = path.join(dataDir, SALT_FILE);
  const record = await readCustodyRecord(dataDir);

  if (record?.rotation) {
    throw new RootKeyConfigError(
      `refusing to start: a root-key rotation from ${record.rootKey} to ${record.rotation.to} began at ${record.rotation.startedAt} and has not finished`,
      'run the same `coffer custody rotate` (or `coffer custody migrate`) command again to finish it; both root keys are needed until it reports completion',
    );
  }
  if (record) {
    const refuse = (but: string, hint = `configure that root key again; ${MIGRATE_HINT}`) =>
      new RootKeyConfigError(`refusing to start: ${expects(record)}, but ${but}`, hint);
    if (kindOf(record.rootKey) !== kindSourceOf(source)) throw refuse(`${SOURCE_TEXT[source]} is configured`);
    if (source === 'file' && !existsSync(keyFile)) {
      throw refuse(`${keyFile} is missing`, `restore ${ROOT_KEY_FILE} from a backup (or give its bytes as ${ROOT_KEY_ENV}); Coffer does not create a new root key for a data directory that has one`);
    }
    if (source === 'passphrase' && !existsSync(saltFile)) throw refuse(`${saltFile} is missing`, `restore ${SALT_FILE} from a backup`);
    if (source === 'external-kms' && !existsSync(path.join(dataDir, EXTERNAL_KMS_FILE))) throw refuse(`${path.join(dataDir, EXTERNAL_KMS_FILE)} is missing`, `restore ${EXTERNAL_KMS_FILE} from a backup`);
    const selected = await selectRootKey({ dataDir, env, create: false, externalKms });
    if (selected.provider.id !== record.rootKey) throw refuse(`the configured root key (${SOURCE_TEXT[source]}) is ${selected.provider.id}`);
    if (!(await opensCanary(record, selected.provider))) {
      throw refuse(`the configured root key ${selected.provider.id} does not open the canary in ${CUSTODY_FILE} (same name, other key?)`);
    }
    return selected;
  }

  // No record: a new data directory, or one from before custody.json.
  const sample = await opts.findSealed();
  const hasKeyFile = existsSync(keyFile);
  const hasSalt = existsSync(saltFile);
  const legacy = (what: string, hint: string) => new RootKeyConfigError(`refusing to start: ${what}`, hint);
  if (source === 'file' && !hasKeyFile && (sample || hasSalt)) {
    throw legacy(
      `${keyFile} is missing, but this data directory holds ${sample ? `${sample.what}, sealed under a root key` : `${SALT_FILE} (it was sealed under a passphrase)`}; a new root key would open none of it`,
      `restore ${ROOT_KEY_FILE} from a backup, or configure the root key it was sealed with (${ROOT_KEY_ENV} or ${ROOT_PASSPHRASE_ENV})`,
    );
  }
  if (source === 'passphrase' && !hasSalt && (sample || hasKeyFile)) {
    throw legacy(
      `${ROOT_PASSPHRASE_ENV} is set, but this data directory is sealed under ${hasKeyFile ? keyFile : 'another root key'}; a passphrase would start a new ${SALT_FILE}, a different root key`,
      `unset ${ROOT_PASSPHRASE_ENV} and ${MIGRATE_HINT}`,
    );
  }
  if (source === 'external-kms' && !existsSync(path.join(dataDir, EXTERNAL_KMS_FILE)) && (sample || hasKeyFile || hasSalt)) {
    throw legacy(
      `an external KMS is configured, but this data directory is already sealed under ${hasKeyFile ? keyFile : hasSalt ? 'a passphrase' : 'another root key'}; a new data key would open none of it`,
      `unset COFFER_EXTERNAL_KMS_ENDPOINT and ${MIGRATE_HINT}`,
    );
  }
  const selected = await selectRootKey({ dataDir, env, externalKms });
  if (sample) {
    try {
      await sample.open(selected.provider);
    } catch (e) {
      const why = (e as { kind?: unknown }).kind === 'wrong-key' ? `: ${(e as Error).message}` : '';
      throw legacy(
        `${sample.what} does not open with the configured root key ${selected.provider.id} (${SOURCE_TEXT[source]})${why}`,
        `configure the root key this data directory was sealed with; ${MIGRATE_HINT}`,
      );
    }
  }
  const written = await writeCustodyRecord(dataDir, selected.provider, selected.provider.where);
  // Another start may have written it first: check what is on disk.
  if (written.rootKey !== selected.provider.id || !(await opensCanary(written, selected.provider))) {
    throw new RootKeyConfigError(`refusing to start: ${expects(written)}, but the configured root key is ${selected.provider.id}`, MIGRATE_HINT);
  }
  return selected;
}
