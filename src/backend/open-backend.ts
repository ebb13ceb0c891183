// The one place that picks the storage backend and builds every store from the config:
// the layers above get each store typed by its interface (storage/types.ts,
// kms/store/types.ts, iam/store/types.ts, metering/usage-store.ts, audit/audit-store.ts)
// and never name an implementation. A second backend (PostgreSQL for every store, files or
// an S3-compatible service for the blobs) is chosen here and passes the same contract suites.
//
// Blobs over 64 KiB go to the data directory unless config.blobs names another tier
// (config/blobs.ts): a directory several nodes share (file-blob-store.ts, shared mode) or an
// S3-compatible service (s3-blob-store.ts over s3-client.ts); the inline tier stays.
//
// With config.metadata (--metadata postgres://…, config/metadata.ts) the metadata (the
// inline blob tier included), KMS, IAM, usage and audit stores live in that PostgreSQL
// database instead, on one connection pool (docs/CLUSTER.md): the audit trail is then one
// for the whole cluster, each row naming its node (<data-dir>/node-id, node-id.ts). The
// blobs over 64 KiB stay where the config puts them (the data directory by default).
//
// The embedded backend, in the data directory (docs/ARCHITECTURE.md, "Data directory"):
//   metadata.sqlite   metadata, pending/garbage blob ids, and the inline blob tier
//   blobs/            blobs over 64 KiB, one file each (tiered-blob-store.ts)
//   kms.sqlite, iam.sqlite (STS sessions included), usage.sqlite
//   audit/kms.log     the audit log and its rotated files
//
// Two ways in: openBackend for the server (every store, recovered before any request),
// and openStoresBesideServer for admin commands that run beside a live server on the same
// data directory (only the stores they ask for; no recovery, no background work).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_BLOB_GC_GRACE_SECONDS, type CofferConfig } from '../config/config.js';
import { SqliteMetadataStore } from '../storage/sqlite-metadata-store.js';
import { TieredBlobStore } from '../storage/tiered-blob-store.js';
import { isBlobTierUnavailable } from '../storage/blob-unavailable.js';
import type { BlobsConfig } from '../config/blobs.js';
import { S3BackendClient } from './s3-client.js';
import { S3BlobStore } from './s3-blob-store.js';
import { recoverStorage } from '../storage/recovery.js';
import { DiskReserve } from '../storage/disk-reserve.js';
import { isStorageFull } from '../storage/storage-full.js';
import { checkSqliteIntegrity } from '../storage/sqlite-integrity.js';
import { refuseUnwritableStoreFile } from './data-dir-setup.js';
import type { BlobStore, MetadataStore } from '../storage/types.js';
import { SqliteKmsStore } from '../kms/store/sqlite-kms-store.js';
import type { KmsStore } from '../kms/store/types.js';
import { SqliteIamStore } from '../iam/store/sqlite-iam-store.js';
import type { IamStore } from '../iam/store/types.js';
import { SqliteUsageStore, USAGE_FILE } from '../metering/sqlite-usage-store.js';
import type { UsageStore } from '../metering/usage-store.js';
import { AuditLog } from '../audit/audit-log.js';
import { PgAuditStore } from '../audit/pg-audit-store.js';
import { nodeIdOf } from './node-id.js';
import { openPgPool } from '../storage/postgres/pool.js';
import { PgRequestReader } from '../storage/postgres/pg-request-reads.js';
import type { RequestReader } from '../storage/request-reads.js';
import { PgMetadataStore } from '../storage/postgres/pg-metadata-store.js';
import { PgKmsStore } from '../kms/store/pg-kms-store.js';
import { PgIamStore } from '../iam/store/pg-iam-store.js';
import { PgUsageStore } from '../metering/pg-usage-store.js';
import { PgClusterAccount, type ClusterAccountStore } from '../iam/store/pg-cluster-account.js';
import type { AuditStore } from '../audit/audit-store.js';
import { PgLeaderLease, type LeaderLease } from '../cluster/leader-lease.js';
import { PgRotationStore } from '../cluster/rotation-store.js';
import { nodeIdentity } from '../cluster/node-identity.js';
import type { BlobWriterIdentity } from '../storage/types.js';

const METADATA_FILE = 'metadata.sqlite';
const BLOBS_DIR = 'blobs';
const KMS_FILE = 'kms.sqlite';
const IAM_FILE = 'iam.sqlite';

export type BackendConfig = Partial<Pick<CofferConfig, 'auditPreallocateBytes'>> & Pick<CofferConfig, 'dataDir' | 'fsync' | 'region' | 'auditMaxFileBytes' | 'auditMaxFiles' | 'metadata'> & {
  blobs?: BlobsConfig;
  /** The job leader's lease, which also paces writer heartbeats (default 15). */
  clusterLeaseSeconds?: number;
  /** On PostgreSQL, how long a blob no record names any more waits before it is deleted (default DEFAULT_BLOB_GC_GRACE_SECONDS). */
  blobGcGraceSeconds?: number;
};

/** Several nodes may share the stores (PostgreSQL): who this process is, and the job leader's lease. */
export interface ClusterParts {
  writer: BlobWriterIdentity;
  lease: LeaderLease;
  /** The cluster's root-key rotation rows (backend/reseal/cluster-rotation.ts). */
  rotation: PgRotationStore;
}

/** Every store of a running server. close() closes them all (the audit log last). */
export interface Backend {
  meta: MetadataStore;
  blobs: BlobStore;
  kms: KmsStore;
  /** Users, access keys, groups, roles, managed policies and STS sessions. */
  iam: IamStore;
  usage: UsageStore;
  audit: AuditStore;
  /** On PostgreSQL: the cluster's one account (iam/store/pg-cluster-account.ts); embedded, the data directory's file holds it. */
  account?: ClusterAccountStore;
  /** What start-up recovery removed: blobs of writes a crash interrupted. */
  recovered: { removedBlobs: number };
  /** Present when other nodes may share the stores (PostgreSQL); absent: this server is the only one (embedded). */
  cluster?: ClusterParts;
  /** On PostgreSQL: a request's first reads in one round trip (storage/request-reads.ts); embedded, each read is local. */
  requestReads?: RequestReader;
  close(): Promise<void>;
}

/**
 * Opens (creating and migrating as needed) every store of `config.dataDir` and recovers
 * storage, before the server takes its first request. `log` receives audit write failures.
 */
export async function openBackend(config: BackendConfig, log?: Logger): Promise<Backend> {
  try {
    return config.metadata !== undefined ? await openPostgres(config, config.metadata, log) : await openEmbedded(config, log);
  } catch (e) {
    // Only without a reserve (never taken, or spent and not taken again) does a full disk stop the start.
    if (isStorageFull(e) && !(e as { hint?: string }).hint) {
      throw Object.assign(e as Error, { hint: 'the disk under the data directory is full: free some space outside the data directory (never delete files inside it), then start again' });
    }
    if (isBlobTierUnavailable(e) && config.blobs?.kind === 's3') {
      throw Object.assign(e as Error, { hint: `the blob backend ${config.blobs.endpoint} (bucket ${config.blobs.bucket}) cannot be reached or refuses the credentials: check the endpoint, the bucket and COFFER_BLOB_S3_* (docs/CLUSTER-BLOBS.md), then start again` });
    }
    throw e;
  }
}

async function openEmbedded(config: BackendConfig, log?: Logger): Promise<Backend> {
  const dir = config.dataDir;
  // fsync on: every commit (the inline tier's small blobs included) is durable before it is
  // visible; writers that arrive together share one commit and its fsync (group commit).
  // With fsync on, every commit is durable before it is answered: FULL fsyncs the WAL at each.
  const synchronous = config.fsync ? 'FULL' : 'NORMAL';
  // data/reserve is given back before any database opens, so a server stopped on a full
  // disk starts again on it (SQLite needs room for its WAL index), and taken again below
  // once the disk has room; deletes release it when they need space (storage/disk-reserve.ts).
  const reserve = new DiskReserve(dir, { warn: (m) => log?.warn(m) });
  reserve.release();
  refuseDamagedDatabase(join(dir, METADATA_FILE), dir);
  const meta = SqliteMetadataStore.open(join(dir, METADATA_FILE), { synchronous, reserve });
  // Small blobs go into the metadata store's inline tier, larger ones to the blob tier.
  const blobs = await openBlobTier(config, meta, log).catch(async (e: unknown) => {
    await meta.close();
    throw e;
  });
  let recovered = { removedBlobs: 0 };
  try {
    recovered = await recoverStorage(meta, blobs);
  } catch (e) {
    // Leftovers of interrupted writes only take space; the next start removes them.
    if (!isStorageFull(e)) throw e;
    log?.warn({ err: e }, 'start-up cleanup skipped: the disk is full (it runs at the next start); delete objects to free space');
  }
  const iam = SqliteIamStore.open(join(dir, IAM_FILE), { synchronous });
  const kms = SqliteKmsStore.open(join(dir, KMS_FILE), { synchronous });
  const audit = await AuditLog.open(dir, config.region, { maxFileBytes: config.auditMaxFileBytes, maxFiles: config.auditMaxFiles, preallocateBytes: config.auditPreallocateBytes, log, fsync: config.fsync });
  const usage = SqliteUsageStore.open(join(dir, USAGE_FILE), { synchronous });
  reserve.take();
  return {
    meta, blobs, kms, iam, usage, audit, recovered,
    async close() {
      reserve.close();
      await usage.close();
      await blobs.close();
      await meta.close();
      await kms.close();
      await iam.close();
      await audit.close();
    },
  };
}

/** Every store but the blobs in the PostgreSQL database at `url`, on one pool. */
async function openPostgres(config: BackendConfig, url: string, log?: Logger): Promise<Backend> {
  const pool = openPgPool(url);
  const opened: { close(): Promise<void> }[] = [];
  const track = <S extends { close(): Promise<void> }>(s: S): S => {
    opened.push(s);
    return s;
  };
  try {
    const writer = nodeIdentity(config.dataDir);
    // Heartbeats once per lease: a writer is dead after 4 lease periods of silence (cluster/storage-sweeper.ts).
    // Garbage waits out the grace: another node may still be streaming it (docs/CLUSTER.md, "Garbage and readers on other nodes").
    const meta = track(await PgMetadataStore.open(pool, {
      writer, heartbeatMs: (config.clusterLeaseSeconds ?? 15) * 1000, garbageGraceMs: (config.blobGcGraceSeconds ?? DEFAULT_BLOB_GC_GRACE_SECONDS) * 1000,
    }));
    const blobs = track(await openBlobTier(config, meta, log));
    // Other nodes may be writing: only this node's earlier instances' pending blobs go now;
    // dead nodes' are the job leader's (docs/CLUSTER.md, "Pending blobs").
    const recovered = await recoverStorage(meta, blobs, 'cluster');
    const lease = await PgLeaderLease.open(pool);
    const rotation = await PgRotationStore.open(pool);
    const iam = track(await PgIamStore.open(pool));
    const kms = track(await PgKmsStore.open(pool));
    const usage = track(await PgUsageStore.open(pool));
    const audit = track(await PgAuditStore.open(pool, { node: await nodeIdOf(config.dataDir), region: config.region, log }));
    const account = await PgClusterAccount.open(pool);
    return {
      meta, blobs, kms, iam, usage, audit, account, recovered,
      cluster: { writer, lease, rotation },
      requestReads: new PgRequestReader(pool, meta.inlineBlobs),
      async close() {
        await usage.close();
        await blobs.close();
        await meta.close();
        await kms.close();
        await iam.close();
        await audit.close();
        await pool.end();
      },
    };
  } catch (e) {
    for (const s of opened.reverse()) await s.close().catch(() => {});
    await pool.end().catch(() => {});
    throw Object.assign(e as Error, { hint: (e as { hint?: string }).hint ?? 'check that the PostgreSQL database of --metadata (COFFER_METADATA) is reachable and the user may create tables in it (docs/CLUSTER.md)' });
  }
}

/** The blob store: inline tier in the metadata store, and the configured tier for larger blobs. */
async function openBlobTier(config: BackendConfig, meta: MetadataStore, log?: Logger): Promise<BlobStore> {
  const tier = config.blobs ?? { kind: 'data-dir' };
  const warn = (m: string): void => log?.warn(m);
  switch (tier.kind) {
    case 'data-dir':
      // Marks ahead save the embedded store a group commit per spilled blob (tiered-blob-store.ts).
      return TieredBlobStore.open({ dir: join(config.dataDir, BLOBS_DIR), meta, fsync: config.fsync, premark: config.metadata === undefined, warn });
    case 'file':
      // Node-named temporaries, so one node's start-up cleanup spares another's uploads. On a
      // cluster the node is the one in its data directory (cluster/node-identity.ts), not the
      // host name: containers may share a host name, and their pid namespaces the pids.
      return TieredBlobStore.open({ dir: tier.path, meta, fsync: config.fsync, shared: config.metadata !== undefined ? { nodeId: meta.writer.node } : {}, warn });
    case 's3': {
      const client = new S3BackendClient({
        endpoint: new URL(tier.endpoint), bucket: tier.bucket, region: tier.region, forcePathStyle: tier.forcePathStyle,
        accessKeyId: tier.accessKeyId, secretAccessKey: tier.secretAccessKey, sessionToken: tier.sessionToken,
      });
      const store = new S3BlobStore(client, { prefix: tier.prefix, partBytes: tier.partBytes });
      await store.ping().catch(async (e: unknown) => {
        await store.close();
        throw e;
      });
      return TieredBlobStore.over(store, meta);
    }
    default: {
      const unknown: never = tier;
      throw new Error(`no blob tier ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * SQLite's quick_check on the metadata database before the server opens it: a damaged
 * database is not served (reads would fail here and there, writes could spread the damage).
 */
function refuseDamagedDatabase(path: string, dir: string): void {
  if (!existsSync(path)) return;
  refuseUnwritableStoreFile(path, dir); // a permission problem, not damage
  const r = checkSqliteIntegrity(path, 'quick');
  if (r.ok) return;
  throw Object.assign(new Error(`the metadata database ${path} is damaged (SQLite quick_check: ${r.problems[0] ?? 'failed'}); the server does not start on it`), {
    hint: `run \`coffer check --data-dir ${dir}\` for a full report, then restore the data directory from a backup`,
  });
}

/** The stores an admin command may open beside a running server. */
export interface SideStores {
  meta: MetadataStore;
  kms: KmsStore;
  iam: IamStore;
  usage: UsageStore;
}

const SIDE_OPENERS: { [K in keyof SideStores]: (dir: string) => SideStores[K] } = {
  // The server's checkpointer keeps the WAL short; a second one here would only compete.
  meta: (dir) => SqliteMetadataStore.open(join(dir, METADATA_FILE), { backgroundCheckpoint: false }),
  kms: (dir) => SqliteKmsStore.open(join(dir, KMS_FILE)),
  iam: (dir) => SqliteIamStore.open(join(dir, IAM_FILE)),
  usage: (dir) => SqliteUsageStore.open(join(dir, USAGE_FILE)),
};

/**
 * Opens the named stores of `dataDir` for an admin command, safely beside a running
 * server (SQLite's WAL lets both use the databases at once): nothing is recovered.
 */
export function openStoresBesideServer<K extends keyof SideStores>(dataDir: string, kinds: readonly K[]): Pick<SideStores, K> & { close(): Promise<void> } {
  const opened: Partial<SideStores> = {};
  const close = async () => {
    for (const s of Object.values(opened)) await s.close();
  };
  try {
    for (const k of kinds) Object.assign(opened, { [k]: SIDE_OPENERS[k](dataDir) });
  } catch (e) {
    void close();
    throw e;
  }
  return { ...(opened as Pick<SideStores, K>), close };
}
