// Opens what the offline commands (`coffer user`, `coffer hadoop`) need from a data
// directory — the account, the root key, the IAM store — without starting the server
// (SQLite's WAL lets both run at once). They read the store directly; their IAM changes
// go through changes() (cli/iam-changes.ts), which records each one in the audit trail.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, rootKeyEnv } from './config/config.js';
import { readAccountId } from './iam/root-credentials.js';
import { openCustody } from './custody/open-custody.js';
import { findSealedSample } from './backend/custody-probe.js';
import type { RootKeyProvider } from './custody/root-key.js';
import { KmsJsonClient } from './kms/external/kms-json-client.js';
import type { IamStore } from './iam/store/types.js';
import { openStoresBesideServer } from './backend/open-backend.js';
import { openIamChanges, type IamChanges } from './cli/iam-changes.js';

export interface AdminContext {
  dataDir: string;
  accountId: string;
  rootKey: RootKeyProvider;
  /** For reads; a change goes through changes(). */
  iam: IamStore;
  /**
   * The IAM writes, each with its audit record: through the live server that holds the data
   * directory, else under its lock (taken at the first call, until close()).
   */
  changes(): Promise<IamChanges>;
  close(): Promise<void>;
}

export async function openDataDir(flagDir: string | undefined): Promise<AdminContext> {
  const config = loadConfig({ dataDir: flagDir });
  if (!existsSync(join(config.dataDir, 'root-credentials.json'))) {
    throw new ConfigError(`${config.dataDir} is not a Coffer data directory`, 'start the server once with `coffer server --data-dir DIR`, or pass --data-dir / COFFER_DATA_DIR');
  }
  const accountId = await readAccountId(config.dataDir);
  const stores = openStoresBesideServer(config.dataDir, ['iam']);
  let rootKey;
  try {
    rootKey = await openCustody({ dataDir: config.dataDir, env: rootKeyEnv(config, config.custodyEnv), findSealed: () => findSealedSample({ iam: stores.iam }), externalKms: (s) => new KmsJsonClient(s) });
  } catch (e) {
    await stores.close();
    throw e;
  }
  const provider = rootKey.provider;
  let changes: Promise<IamChanges> | undefined;
  return {
    dataDir: config.dataDir, accountId, rootKey: provider, iam: stores.iam,
    changes: () => (changes ??= openIamChanges({ dataDir: config.dataDir, accountId, rootKey: provider, iam: stores.iam, config })),
    close: async () => {
      try {
        if (changes) await (await changes.catch(() => undefined))?.close();
      } finally {
        provider.close?.();
        await stores.close();
      }
    },
  };
}
