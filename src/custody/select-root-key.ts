// The one place the root-key provider is chosen: a PKCS#11 token (COFFER_PKCS11_MODULE),
// else an external KMS (COFFER_EXTERNAL_KMS_ENDPOINT), else COFFER_ROOT_KEY, else the file named by
// COFFER_ROOT_KEY_FILE (the same base64 text; a systemd credential or a mounted secret),
// else COFFER_ROOT_PASSPHRASE, else <dataDir>/root.key (created on first start).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EnvRootKeyProvider, ROOT_KEY_ENV } from './env-root-key.js';
import { FILE_ROOT_KEY_WARNING, FileRootKeyProvider, ROOT_KEY_FILE } from './file-root-key.js';
import { PassphraseRootKeyProvider, ROOT_PASSPHRASE_ENV } from './passphrase-root-key.js';
import type { RootKeyProvider } from './root-key.js';
import { Pkcs11RootKeyProvider } from './pkcs11-root-key.js';
import { PKCS11_MODULE_ENV, pkcs11Settings, wantsPkcs11 } from './pkcs11-settings.js';
import { ExternalKmsRootKeyProvider, type ExternalKmsConnector } from './external-kms-root-key.js';
import { EXTERNAL_KMS_ENDPOINT_ENV, externalKmsSettings, wantsExternalKms } from './external-kms-settings.js';
import { RootKeyConfigError } from './errors.js';

export const ROOT_KEY_FILE_ENV = 'COFFER_ROOT_KEY_FILE';

export type RootKeySource = 'env' | 'passphrase' | 'file' | 'pkcs11' | 'external-kms';

/** Which provider `env` configures, without opening it. */
export function configuredSource(env: Record<string, string | undefined>): RootKeySource {
  if (wantsPkcs11(env)) return 'pkcs11';
  if (wantsExternalKms(env)) return 'external-kms';
  if (env[ROOT_KEY_ENV] !== undefined) return 'env';
  if (env[ROOT_KEY_FILE_ENV]) return 'env';
  if (env[ROOT_PASSPHRASE_ENV] !== undefined) return 'passphrase';
  return 'file';
}

export interface SelectedRootKey {
  provider: RootKeyProvider;
  source: RootKeySource;
  /** A root.key or root.salt was created by this call (a new data directory). */
  created: boolean;
  /** Lines for the caller to log at warn level; never contain secrets. */
  warnings: string[];
}

/**
 * Picks and opens the root-key provider. Throws RootKeyConfigError (with a hint) for a
 * malformed COFFER_ROOT_KEY, an empty or wrong passphrase, or an unsafe root.key.
 */
export async function selectRootKey(opts: {
  dataDir: string;
  env: Record<string, string | undefined>;
  create?: boolean;
  /** Makes the client of an external KMS (kms/external/kms-json-client.ts); custody/ does not sign requests itself. */
  externalKms?: ExternalKmsConnector;
}): Promise<SelectedRootKey> {
  const { dataDir, env } = opts;
  // create: false (open-custody.ts, once a data directory has a root key) never makes a root.key or root.salt.
  const create = opts.create ?? true;
  const warnings: string[] = [];
  const key = env[ROOT_KEY_ENV];
  const passphrase = env[ROOT_PASSPHRASE_ENV];
  const unusedFile = (used: string) => {
    const file = path.join(dataDir, ROOT_KEY_FILE);
    if (existsSync(file)) warnings.push(`${file} is not used because ${used} is set; delete it once no key material depends on it`);
  };
  if (wantsPkcs11(env)) {
    for (const other of [ROOT_KEY_ENV, ROOT_KEY_FILE_ENV, ROOT_PASSPHRASE_ENV]) if (env[other] !== undefined) warnings.push(`${other} is ignored because ${PKCS11_MODULE_ENV} is set`);
    // A token key is never created here: `coffer custody init --pkcs11 --create-key` does that.
    const { provider } = Pkcs11RootKeyProvider.open(pkcs11Settings(env));
    unusedFile(PKCS11_MODULE_ENV);
    return { provider, source: 'pkcs11', created: false, warnings };
  }
  if (wantsExternalKms(env)) {
    for (const other of [ROOT_KEY_ENV, ROOT_KEY_FILE_ENV, ROOT_PASSPHRASE_ENV]) if (env[other] !== undefined) warnings.push(`${other} is ignored because ${EXTERNAL_KMS_ENDPOINT_ENV} is set`);
    const settings = externalKmsSettings(env);
    if (!opts.externalKms) throw new RootKeyConfigError('this command cannot use an external KMS root key', `unset ${EXTERNAL_KMS_ENDPOINT_ENV}`);
    const { provider, created } = await ExternalKmsRootKeyProvider.open(dataDir, settings, opts.externalKms(settings), { create });
    unusedFile(EXTERNAL_KMS_ENDPOINT_ENV);
    return { provider, source: 'external-kms', created, warnings };
  }
  if (key !== undefined) {
    if (passphrase !== undefined) warnings.push(`${ROOT_PASSPHRASE_ENV} is ignored because ${ROOT_KEY_ENV} is set`);
    const provider = EnvRootKeyProvider.fromBase64(key);
    unusedFile(ROOT_KEY_ENV);
    return { provider, source: 'env', created: false, warnings };
  }
  const keyFile = env[ROOT_KEY_FILE_ENV];
  if (keyFile !== undefined && keyFile !== '') {
    if (passphrase !== undefined) warnings.push(`${ROOT_PASSPHRASE_ENV} is ignored because ${ROOT_KEY_FILE_ENV} is set`);
    const provider = EnvRootKeyProvider.fromBase64(readKeyFile(keyFile), `${ROOT_KEY_FILE_ENV} (${keyFile})`);
    unusedFile(ROOT_KEY_FILE_ENV);
    return { provider, source: 'env', created: false, warnings };
  }
  if (passphrase !== undefined) {
    const { provider, created } = await PassphraseRootKeyProvider.open(dataDir, passphrase, create);
    unusedFile(ROOT_PASSPHRASE_ENV);
    return { provider, source: 'passphrase', created, warnings };
  }
  const { provider, created } = await FileRootKeyProvider.open(dataDir, create);
  warnings.push(FILE_ROOT_KEY_WARNING);
  return { provider, source: 'file', created, warnings };
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new RootKeyConfigError(
      `${ROOT_KEY_FILE_ENV} names ${file}, which cannot be read (${code})`,
      code === 'ENOENT'
        ? `create it with: openssl rand -base64 32 > ${file} && chmod 600 ${file}`
        : `make it readable by the user running coffer (under systemd, LoadCredential= gives the service its own copy)`,
    );
  }
}
