// What `coffer hadoop` reads on a cluster (--metadata postgres://…, COFFER_METADATA;
// docs/CLUSTER.md): the account, IAM, KMS and bucket records from the cluster's database
// instead of a data directory's SQLite files, which on a node hold none of them. The root
// key is the one the nodes are given (COFFER_ROOT_KEY, COFFER_ROOT_PASSPHRASE with a node's
// data directory for its salt, a PKCS#11 token or an external KMS), checked against an item
// the database holds sealed under it: a wrong key is refused here rather than writing a
// configuration whose credentials no node can check. The root credentials come from the
// environment only (COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY), as the
// nodes are given them. Nothing is written to the data directory; in the database, only the
// metadata store's writer row (never heartbeating, retired by the job leader) — and the
// stores' schema steps if this release is newer than the nodes', as any node would apply.

import type { CofferConfig } from '../config/config.js';
import { ConfigError, rootKeyEnv } from '../config/config.js';
import { shownMetadata } from '../config/metadata.js';
import { selectRootKey } from '../custody/select-root-key.js';
import { findSealedSample } from '../backend/custody-probe.js';
import { KmsJsonClient } from '../kms/external/kms-json-client.js';
import { PgIamStore } from '../iam/store/pg-iam-store.js';
import { PgKmsStore } from '../kms/store/pg-kms-store.js';
import { PgMetadataStore } from '../storage/postgres/pg-metadata-store.js';
import { openPgPool } from '../storage/postgres/pool.js';
import { rootPrincipal, type RootAccount } from '../iam/root-credentials.js';
import type { KmsStore } from '../kms/store/types.js';
import type { MetadataStore } from '../storage/types.js';
import type { AdminContext } from '../data-dir.js';

export interface ViewStores {
  admin: AdminContext;
  root: RootAccount | undefined;
  kmsStore: KmsStore;
  meta: MetadataStore;
  closeStores(): Promise<void>;
}

/** The stores of a cluster's database, on a small pool of their own. */
export async function openClusterView(config: CofferConfig & { metadata: string }, env: NodeJS.ProcessEnv): Promise<ViewStores> {
  const where = shownMetadata(config.metadata);
  const pool = openPgPool(config.metadata, { max: 2, applicationName: 'coffer hadoop' });
  const opened: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const s of opened.reverse()) await s.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  };
  try {
    let accountId: string | undefined;
    try {
      // Read before any store is opened: a database no node has run on is left as it is.
      accountId = (await pool.query<{ account_id: string }>('SELECT account_id FROM account WHERE id = 1')).rows[0]?.account_id;
    } catch (e) {
      if ((e as { code?: unknown }).code !== '42P01') {
        throw new ConfigError(`the PostgreSQL database of --metadata (${where}) cannot be read: ${(e as Error).message}`, 'check that it is reachable and is the database the nodes run on (COFFER_METADATA)');
      }
    }
    if (accountId === undefined) {
      throw new ConfigError(`the PostgreSQL database of --metadata (${where}) holds no Coffer account yet`, 'start a node on it first (`coffer server --metadata postgres://…`), or give the database the nodes run on');
    }
    const iam = await PgIamStore.open(pool);
    opened.push(iam);
    const kmsStore = await PgKmsStore.open(pool);
    opened.push(kmsStore);
    // A writer that never heartbeats and marks nothing pending: the job leader retires its row.
    const meta = await PgMetadataStore.open(pool, { heartbeatMs: 0, writer: { node: 'coffer-hadoop', instance: `coffer-hadoop-${process.pid}-${Date.now()}` } });
    opened.push(meta);
    // A passphrase's salt is in a node's data directory (--data-dir); every other source needs none. create: false writes nothing.
    const selected = await selectRootKey({ dataDir: config.dataDir, env: rootKeyEnv(config, config.custodyEnv), create: false, externalKms: (s) => new KmsJsonClient(s) });
    const rootKey = selected.provider;
    opened.push({ close: async () => rootKey.close?.() });
    const sample = await findSealedSample({ kms: kmsStore, iam, meta });
    if (sample) {
      try {
        await sample.open(rootKey);
      } catch {
        throw new ConfigError(`${sample.what} in the database of --metadata (${where}) does not open with the configured root key ${rootKey.id}`, 'give the root key the nodes run with (COFFER_ROOT_KEY, COFFER_ROOT_PASSPHRASE with --data-dir of a node, or the PKCS#11 or external KMS settings)');
      }
    }
    const root: RootAccount | undefined = config.rootAccessKeyId && config.rootSecretAccessKey
      ? { accountId, generated: false, credential: { accessKeyId: config.rootAccessKeyId, secretAccessKey: config.rootSecretAccessKey, principal: rootPrincipal(accountId) } }
      : undefined;
    // A cluster's IAM changes go through a node, whose trail records them (the command refuses --user here).
    const admin: AdminContext = {
      dataDir: config.dataDir, accountId, rootKey, iam, close: async () => undefined,
      changes: () => Promise.reject(new Error('IAM changes on a cluster are made through a node, not in its database')),
    };
    return { admin, root, kmsStore, meta, closeStores: close };
  } catch (e) {
    await close();
    throw e;
  }
}
