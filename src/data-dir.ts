// Opens what the offline commands (`coffer user`, `coffer hadoop`) need from a data
// directory — the account, the root key, the IAM store — without starting the server
// (SQLite's WAL lets both run at once).

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

export interface AdminContext {
  dataDir: string;
  accountId: string;
  rootKey: RootKeyProvider;
  iam: IamStore;
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
  return { dataDir: config.dataDir, accountId, rootKey: rootKey.provider, iam: stores.iam, close: async () => {
    rootKey.provider.close?.();
    await stores.close();
  } };
}
