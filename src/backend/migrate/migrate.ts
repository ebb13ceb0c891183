// `coffer migrate`: an embedded deployment (a data directory's SQLite databases and blob
// files) copied into a cluster's PostgreSQL database and blob tier (docs/CLUSTER.md,
// "Migrating an embedded deployment"). The order of a run:
//
//   1. refuse what cannot be migrated: a data directory a server holds (its lock, taken for
//      the whole run), one without custody.json or with a root-key rotation in progress, a
//      configured root key that is not the one custody.json names, schemas that differ
//      from this build's plan (tables.ts)
//   2. create the target's tables (each PostgreSQL store's own migrations) and the
//      migration record (migrate-state.ts); refuse a target that holds anything unless it
//      is this same migration resuming, from an unchanged source, to the same blob tier
//   3. set the cluster's account (the table `account`; every node adopts it) to the data
//      directory's; copy the metadata tables, then the blob files, then the KMS, IAM and
//      usage tables, each resumably (copy-rows.ts, copy-blobs.ts); move the target's
//      sequences past the copied rows; mark the migration finished
//   4. verify (verify.ts): the account, counts and content digests of every table, every
//      blob's SHA-256
//
// Sealed bytes (KMS key material, access key secrets, STS sessions, SSE-S3 object keys)
// are copied as they are: the nodes of the target need the same root key. Nothing in the
// data directory is written (the databases are opened read-only); only its lock file comes
// and goes.

import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { shownBlobs, type BlobsConfig } from '../../config/blobs.js';
import { opensCanary, readCustodyRecord, type CustodyRecord } from '../../custody/custody-record.js';
import { RootKeyConfigError } from '../../custody/errors.js';
import type { ExternalKmsConnector } from '../../custody/external-kms-root-key.js';
import { ROOT_KEY_FILE } from '../../custody/file-root-key.js';
import { configuredSource, selectRootKey } from '../../custody/select-root-key.js';
import { readAccountId } from '../../iam/root-credentials.js';
import { PgClusterAccount } from '../../iam/store/pg-cluster-account.js';
import { PgIamStore } from '../../iam/store/pg-iam-store.js';
import { PgKmsStore } from '../../kms/store/pg-kms-store.js';
import { PgUsageStore } from '../../metering/pg-usage-store.js';
import { PgMetadataStore } from '../../storage/postgres/pg-metadata-store.js';
import { openPgPool } from '../../storage/postgres/pool.js';
import type { LargeBlobTier } from '../../storage/tiered-blob-store.js';
import { DataDirLockedError, lockDataDir } from '../data-dir-lock.js';
import { copiedBlobs, copyBlobs, listBlobs, openTargetTier } from './copy-blobs.js';
import { copyTable, setSequences, sourceCount, stepName } from './copy-rows.js';
import { MigrateState, type SourceIdentity } from './migrate-state.js';
import { checkSchemas, MigrateError, SOURCE_FILES, TABLES, type Component } from './tables.js';
import { verifyAccount, verifyBlobs, verifyTables, type VerifyRow } from './verify.js';

export { MigrateError };

export interface MigrateProgress {
  phase: 'copy' | 'verify';
  done: number;
  total: number;
  bytes: number;
}

export interface MigrateOptions {
  dataDir: string;
  /** postgres://… */
  metadataUrl: string;
  blobs: BlobsConfig;
  /** The root-key environment, as the server reads it: used only to check the key. */
  rootKeyEnv: Record<string, string | undefined>;
  externalKms: ExternalKmsConnector;
  /** Only verify a finished migration. */
  verifyOnly: boolean;
  batchRows: number;
  progress: (p: MigrateProgress) => void;
}

export interface MigrateResult {
  /** This run finished a migration an earlier run began. */
  resumed: boolean;
  /** Nothing was left to copy (a finished migration). */
  alreadyFinished: boolean;
  rootKey: string;
  accountId: string;
  /** Whether the configured root key was checked against custody.json (it opens its canary). */
  keyChecked: boolean;
  rows: number;
  blobs: number;
  verify: VerifyRow[];
  badBlobs: string[];
  /**
   * The target has no account row: a migration by a release from before the account moved
   * into the database, checked with --verify (which writes nothing); a run without --verify sets it.
   */
  accountMissing: boolean;
  ok: boolean;
}

const BLOBS_AFTER: Component = 'metadata';

export async function migrateDataDir(o: MigrateOptions): Promise<MigrateResult> {
  if (!existsSync(join(o.dataDir, SOURCE_FILES.metadata))) {
    throw new MigrateError(`${o.dataDir} holds no ${SOURCE_FILES.metadata}: it is not the data directory of an embedded Coffer`, 'give the data directory the embedded server ran on with --data-dir');
  }
  let lock;
  try {
    lock = lockDataDir(o.dataDir);
  } catch (e) {
    if (e instanceof DataDirLockedError) throw new MigrateError(e.message, `stop the server first: coffer migrate copies a data directory no server uses (${e.hint})`);
    throw e;
  }
  const dbs: Partial<Record<Component, Database.Database>> = {};
  let pool: pg.Pool | undefined;
  let state: MigrateState | undefined;
  let tier: LargeBlobTier | undefined;
  try {
    const custody = await readCustodyRecord(o.dataDir);
    if (!custody) throw new MigrateError(`${o.dataDir} has no custody.json`, 'start the embedded server once with its root key (it records which key sealed the directory), stop it, then migrate');
    if (custody.rotation) throw new MigrateError('a root-key rotation of this data directory is in progress', 'finish it first (run the same `coffer custody rotate`/`migrate` command again), then migrate');
    const accountId = await readAccountId(o.dataDir);
    const keyChecked = await checkRootKey(o, custody);
    for (const c of Object.keys(SOURCE_FILES) as Component[]) {
      const file = join(o.dataDir, SOURCE_FILES[c]);
      if (existsSync(file)) dbs[c] = new Database(file, { readonly: true, fileMustExist: true });
    }

    pool = openPgPool(o.metadataUrl, { max: 4, applicationName: 'coffer migrate' });
    // Each store's own migrations create its tables, exactly as a node's first start would.
    for (const open of [PgMetadataStore.open, PgKmsStore.open, PgIamStore.open, PgUsageStore.open]) await (await open(pool)).close();
    const account = await PgClusterAccount.open(pool);
    await checkSchemas(dbs, pool);
    state = await MigrateState.open(pool);

    const versionClock = (dbs.metadata!.prepare('SELECT n FROM version_clock').pluck().get() as number | undefined) ?? 0;
    const counts = TABLES.filter((t) => !t.derived).map((t) => [t, dbs[t.component] ? sourceCount(dbs[t.component]!, t) : 0] as const);
    const identity: SourceIdentity = {
      source: `${accountId}/${custody.rootKey}/${createHash('sha256').update(custody.canary).digest('hex').slice(0, 16)}`,
      rootKey: custody.rootKey,
      accountId,
      fingerprint: JSON.stringify({ rows: Object.fromEntries(counts.map(([t, n]) => [t.from, n])), versionClock }),
      blobs: shownBlobs(o.blobs) ?? 'data-dir',
    };
    const nodes = await state.nodeSessions();
    if (nodes > 0) {
      throw new MigrateError(`Coffer nodes are connected to the target database (${nodes} connections)`, 'stop every node on it: a migration, and its verification, need a database no node writes to');
    }
    const record = await state.record();
    if (record === undefined) {
      if (o.verifyOnly) throw new MigrateError('nothing has been migrated into this database', 'run coffer migrate without --verify first');
      const used = await state.nonEmptyTables();
      if (used.length > 0) {
        throw new MigrateError(`the target database is not empty (rows in ${used.slice(0, 4).join(', ')}${used.length > 4 ? ', …' : ''})`, 'migrate into a new, empty database (CREATE DATABASE …); a database a cluster already uses cannot take a second deployment');
      }
      await state.begin(identity);
    } else {
      if (record.source !== identity.source) {
        throw new MigrateError(`the target database holds a migration of another data directory (account ${record.accountId}, root key ${record.rootKey})`, 'migrate into a new, empty database');
      }
      if (record.blobs !== identity.blobs) {
        throw new MigrateError(`this migration began with --blobs ${record.blobs}, not ${identity.blobs}`, `run it again with --blobs ${record.blobs}`);
      }
      if (record.fingerprint !== identity.fingerprint && !record.finished) {
        throw new MigrateError('the data directory changed since this migration began (a server ran on it in between)', 'drop the target database, create it empty again, and migrate from the start');
      }
    }
    // The cluster's account is the data directory's: every node adopts it (iam/root-credentials.ts).
    if (!o.verifyOnly) await account.claim(accountId);
    const resumed = record !== undefined && !record.finished;
    const alreadyFinished = record?.finished === true;

    tier = await openTargetTier(o.blobs);
    let rows = 0;
    let blobs = 0;
    const blobCount = await listBlobs(dbs.metadata!, state);
    if (!o.verifyOnly && !alreadyFinished) {
      const snapshot: MigrateProgress = { phase: 'copy', done: 0, total: counts.reduce((n, [, c]) => n + c, 0) + blobCount, bytes: 0 };
      for (const [t] of counts) snapshot.done += (await state.progress(stepName(t))).done;
      snapshot.done += await copiedBlobs(state);
      o.progress(snapshot);
      const tick = (n: number, bytes = 0) => {
        snapshot.done += n;
        snapshot.bytes += bytes;
        o.progress(snapshot);
      };
      for (const [t] of counts) {
        const db = dbs[t.component];
        if (db) rows += await copyTable(db, pool, state, t, { batchRows: o.batchRows, onRows: (n) => tick(n) });
        const next = counts[counts.findIndex(([x]) => x === t) + 1]?.[0];
        if (t.component === BLOBS_AFTER && next?.component !== BLOBS_AFTER) {
          await copyBlobs(o.dataDir, tier, state, (bytes) => {
            blobs++;
            tick(1, bytes);
          });
        }
      }
      await setSequences(pool, versionClock);
      await state.finish();
    }

    const v: MigrateProgress = { phase: 'verify', done: 0, total: 1 + TABLES.length + blobCount, bytes: 0 };
    o.progress(v);
    const targetAccount = await account.get();
    const verify = [verifyAccount(accountId, targetAccount)];
    v.done++;
    o.progress(v);
    verify.push(...(await verifyTables(dbs, pool, () => {
      v.done++;
      o.progress(v);
    })));
    const b = await verifyBlobs(o.dataDir, state, tier, (bytes) => {
      v.done++;
      v.bytes += bytes;
      o.progress(v);
    });
    verify.push(b.row);
    return { resumed, alreadyFinished, rootKey: custody.rootKey, accountId, keyChecked, rows, blobs, verify, badBlobs: b.bad, accountMissing: targetAccount === undefined, ok: verify.every((r) => r.ok) };
  } finally {
    await tier?.close().catch(() => {});
    await state?.close().catch(() => {});
    await pool?.end().catch(() => {});
    for (const db of Object.values(dbs)) {
      db.close();
      // A reader in WAL mode makes an empty -wal and a -shm, and a killed run leaves them: with
      // the WAL empty they hold nothing (no server runs: the lock is ours), so they go, and the
      // data directory is as a clean stop left it. A WAL with content (a crashed server's) stays.
      if (isEmptyFile(`${db.name}-wal`)) for (const side of ['-wal', '-shm']) rmSync(`${db.name}${side}`, { force: true });
    }
    lock.release();
  }
}

/**
 * When a root key is configured (the environment, or root.key in the data directory), it
 * must be the one custody.json names and open its canary: the nodes will need exactly
 * that key. Returns false when none is configured (the copy itself needs no key).
 */
async function checkRootKey(o: MigrateOptions, custody: CustodyRecord): Promise<boolean> {
  if (configuredSource(o.rootKeyEnv) === 'file' && !existsSync(join(o.dataDir, ROOT_KEY_FILE))) return false;
  let selected;
  try {
    selected = await selectRootKey({ dataDir: o.dataDir, env: o.rootKeyEnv, create: false, externalKms: o.externalKms });
  } catch (e) {
    if (e instanceof RootKeyConfigError) throw new MigrateError(e.message, e.hint);
    throw e;
  }
  const { provider } = selected;
  try {
    if (provider.id !== custody.rootKey || !(await opensCanary(custody, provider))) {
      throw new MigrateError(
        `${o.dataDir} was sealed under root key ${custody.rootKey}, but the configured root key is ${provider.id}`,
        'configure the root key the embedded server used (the same COFFER_ROOT_KEY, passphrase, token key or external KMS key): the nodes of the cluster need that key, as everything sealed is copied as it is',
      );
    }
  } finally {
    provider.close?.();
  }
  return true;
}

function isEmptyFile(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return false;
  }
}
