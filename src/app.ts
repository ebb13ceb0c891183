// Assembles a running Coffer from a validated config: the stores (backend/open-backend.ts
// chooses and recovers them), credentials, the HTTP listener.

import { statfs } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import { cofferVersion } from './version.js';
import { healthPages, type ReadinessCheck } from './http/health.js';
import { rootKeyEnv, type CofferConfig } from './config/config.js';
import { createCofferServer } from './http/server.js';
import { drainServer } from './http/drain.js';
import { loadTlsMaterial } from './config/tls-files.js';
import { handleS3 } from './s3/handler.js';
import { virtualHostBucket } from './s3/router.js';
import type { S3Services } from './s3/context.js';
import { collectGarbage } from './storage/recovery.js';
import { openBackend } from './backend/open-backend.js';
import { lockDataDir } from './backend/data-dir-lock.js';
import { advertiseServerUrl, withdrawServerUrl } from './backend/server-url.js';
import { prepareDataDir } from './backend/data-dir-setup.js';
import { loadRootAccount, type RootAccount } from './iam/root-credentials.js';
import type { CredentialLookup } from './auth/types.js';
import { openCustody } from './custody/open-custody.js';
import { readCustodyRecord } from './custody/custody-record.js';
import { RootKeyRing } from './custody/root-key-ring.js';
import type { ExternalKmsSettings } from './custody/external-kms-settings.js';
import { OnlineRotation, openRotationInProgress } from './backend/reseal/online-rotation.js';
import { rotationRoutes } from './backend/reseal/rotation-route.js';
import { ClusterRotation } from './backend/reseal/cluster-rotation.js';
import { InFlightRequests } from './http/in-flight.js';
import { findSealedSample } from './backend/custody-probe.js';
import type { RootKeyProvider } from './custody/root-key.js';
import { KmsJsonClient } from './kms/external/kms-json-client.js';
import { KmsService } from './kms/service.js';
import { InProcessKms } from './kms/port.js';
import { handleKms } from './kms/handler.js';
import { KmsScheduler } from './kms/scheduler.js';
import type { AuditStore } from './audit/audit-store.js';
import { AUDIT_DIR } from './audit/log-files.js';
import { auditEventsRoute } from './audit/events-route.js';
import { AuditDelivery } from './audit/delivery.js';
import type { DeliveryJob } from './audit/delivery-object.js';
import { putOwnObject } from './audit/self-s3.js';
import { PgAuditStore } from './audit/pg-audit-store.js';
import { destinationOf, PgAuditDelivery } from './audit/pg-delivery.js';
import { PgAuditPruner } from './audit/pg-prune.js';
import type { IamStore } from './iam/store/types.js';
import { CredentialDirectory } from './iam/credentials.js';
import { resourcePolicyLookup } from './iam/resource-policies.js';
import { BucketKeyCache } from './s3/sse/bucket-keys.js';
import { BUCKET_POLICY_ITEM } from './s3/bucket-policy.js';
import { handleQueryApi, type IamHandlerOptions } from './iam/api/handler.js';
import { handleAdminApi, type AdminApiOptions } from './admin/handler.js';
import { AdminRoutes } from './admin/routes.js';
import { whoamiRoute } from './admin/whoami-route.js';
import { firstPage } from './http/pages.js';
import { consolePages } from './console/serve.js';
import { rewrapRoute } from './s3/rewrap/rewrap-route.js';
import { LifecycleWorker } from './s3/lifecycle/worker.js';
import { lifecycleRoute } from './s3/lifecycle/lifecycle-route.js';
import { ownerFor } from './s3/context.js';
import { DISCARD_AUDIT, type AuditSink } from './audit/sink.js';
import { Meter } from './metering/meter.js';
import { CofferMetrics, observeKms } from './metering/metrics.js';
import { bucketUsageRoute } from './metering/bucket-usage-route.js';
import { usageRoute } from './metering/usage-route.js';
import { SoleLeader, type JobLeader } from './cluster/job-leader.js';
import { LeaseLeader } from './cluster/lease-leader.js';
import { StorageSweeper } from './cluster/storage-sweeper.js';

export interface RunningCoffer {
  server: Server;
  url: string;
  port: number;
  root: RootAccount;
  log: Logger;
  kms: KmsService;
  audit: AuditStore;
  /** Delivery of the audit log files to COFFER_AUDIT_BUCKET, when configured (embedded; on PostgreSQL it is the job leader's `audit-delivery`). */
  auditDelivery?: AuditDelivery;
  iam: IamStore;
  rootKey: RootKeyProvider;
  /** KMS request metering (absent with COFFER_METERING=off). */
  meter?: Meter;
  /** Applies buckets' lifecycle rules (daily, and runOnce for `coffer lifecycle run` and tests). */
  lifecycle: LifecycleWorker;
  /** Runs the background jobs on one node at a time (src/cluster/): `leader.register(name, job)` adds one. */
  leader: JobLeader;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs` (0:
   * close them at once), then closes every store and releases the data directory.
   */
  close(graceMs?: number): Promise<{ forced: boolean }>;
}

/** What only tests set: the clock of the S3 services (object lock retention), so a test moves time instead of waiting. */
export interface StartOptions {
  now?: () => number;
}

export async function startCoffer(config: CofferConfig, log: Logger = createLogger({ level: config.logLevel }), opts: StartOptions = {}): Promise<RunningCoffer> {
  await prepareDataDir(config.dataDir);
  // Before any store is opened: recovery must never run beside another server's writes.
  const lock = lockDataDir(config.dataDir);
  if (lock.tookOver) log.warn({ previous: lock.tookOver }, `took over the lock ${lock.path} left by a server that is no longer running`);
  try {
    return await startOnLockedDir(config, log, lock.release, opts);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function startOnLockedDir(config: CofferConfig, log: Logger, releaseLock: () => void, opts: StartOptions): Promise<RunningCoffer> {
  const tls = config.tlsCert && config.tlsKey ? loadTlsMaterial(config.tlsCert, config.tlsKey) : undefined;
  const backend = await openBackend(config, log);
  const { meta, blobs, iam, kms: kmsStore, audit, usage, recovered } = backend;
  if (recovered.removedBlobs > 0) log.info({ removedBlobs: recovered.removedBlobs }, 'removed leftovers of interrupted writes');
  // On PostgreSQL the account is the cluster's (backend.account): docs/CLUSTER.md, "The account".
  const root = await loadRootAccount(config.dataDir, { accessKeyId: config.rootAccessKeyId, secretAccessKey: config.rootSecretAccessKey }, backend.account).catch(async (e: unknown) => {
    await backend.close();
    throw e;
  });

  // Refuses a root key other than the one that sealed this data directory (custody/open-custody.ts).
  // A data directory in the middle of an online root-key rotation opens with both keys and resumes it (backend/reseal/online-rotation.ts).
  const custodyEnv = rootKeyEnv(config, config.custodyEnv);
  const externalKms = (s: ExternalKmsSettings) => new KmsJsonClient(s);
  const rootKey = await (async () => {
    const record = await readCustodyRecord(config.dataDir);
    if (record?.rotation?.online) return { provider: await openRotationInProgress({ dataDir: config.dataDir, env: custodyEnv, externalKms, record }), warnings: [] };
    const opened = await openCustody({ dataDir: config.dataDir, env: custodyEnv, findSealed: () => findSealedSample({ kms: kmsStore, iam, meta }), externalKms });
    return { provider: new RootKeyRing(opened.provider), warnings: opened.warnings };
  })().catch(async (e: unknown) => {
    await backend.close();
    throw e;
  });
  for (const w of rootKey.warnings) log.warn(w);
  const directory = new CredentialDirectory(iam, rootKey.provider, root, config.region);
  const lookup: CredentialLookup = directory.lookup;
  const prepareCredential = (id: string | undefined, iamVersion?: Promise<string>) => directory.prepare(id, 's3', iamVersion);
  const prepareKmsCredential = (id: string | undefined, iamVersion?: Promise<string>) => directory.prepare(id, 'kms', iamVersion);
  // ---- Metering, Prometheus metrics and the audit switch (src/metering/, docs/METERING.md) ----
  // The meter sits in front of the audit log: every KMS use reaches it, it counts, then forwards.
  if (!config.metering.audit) log.warn('COFFER_AUDIT=off: KMS use and IAM and STS changes are NOT written to the audit log. This switch is for benchmarks only; never run a real deployment with it.');
  const auditSink: AuditSink = config.metering.audit ? audit : DISCARD_AUDIT;
  let meter: Meter | undefined;
  const bucketKeys = new BucketKeyCache(config.bucketKeyTtlSeconds * 1000, (principal, keyArn, context, avoided) => meter?.avoided(principal, keyArn, context, avoided));
  // ---- The job leader (src/cluster/, docs/CLUSTER.md): background jobs run on one node at a time ----
  const leader: JobLeader = backend.cluster
    ? new LeaseLeader({ lease: backend.cluster.lease, holder: backend.cluster.writer.instance, node: backend.cluster.writer.node, ttlMs: config.clusterLeaseSeconds * 1000, log })
    : new SoleLeader((name, err) => log.error({ err, job: name }, 'job failed to start or stop'));
  // Audit delivery to a bucket (below, once the server listens), for its lag metric.
  let deliveryJob: DeliveryJob | undefined;
  const metrics = config.metering.metrics
    ? new CofferMetrics({
      leading: () => leader.leading,
      auditDelivery: () => deliveryJob,
      kmsStore, bucketKeyStats: () => bucketKeys.stats, pendingRows: () => meter?.pendingRows ?? 0,
      bucketUsage: () => meta.bucketUsage(),
      volume: async () => {
        const s = await statfs(config.dataDir);
        return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
      },
    })
    : undefined;
  if (config.metering.enabled) {
    meter = new Meter({ store: usage, next: auditSink, keys: kmsStore, observer: metrics, onError: (err, what) => log.warn({ err }, `metering: ${what} failed`) });
  }
  const kmsAudit: AuditSink = meter ?? (metrics ? observeKms(auditSink, metrics) : auditSink);
  // ---- end of metering ----
  const iamApi: IamHandlerOptions = {
    iam,
    directory,
    rootKey: rootKey.provider,
    accountId: root.accountId,
    region: config.region,
    lookup,
    prepareCredential: (id, service) => directory.prepare(id, service),
    log,
    // IAM and STS management events take the KMS's chain to the audit log; the meter and metrics count KMS events only.
    audit: kmsAudit,
    allowSecretsOverHttp: config.allowSecretsOverHttp,
    // SimulatePrincipalPolicy consults a key's key policy or a bucket's policy.
    resourcePolicyOf: resourcePolicyLookup({
      keyPolicy: async (keyId) => (await kmsStore.getKey(keyId))?.policy,
      bucketPolicy: async (bucket) => (await meta.getBucket(bucket))?.config[BUCKET_POLICY_ITEM],
    }),
  };
  const kms = new KmsService({
    store: kmsStore,
    rootKey: rootKey.provider,
    accountId: root.accountId,
    region: config.region,
    identityPolicies: directory.identityPolicies,
    identityPoliciesNow: directory.identityPoliciesNow,
    sessionPolicy: directory.sessionPolicy,
    audit: kmsAudit,
    log,
  });
  const kmsPort = new InProcessKms(kms);
  // Requests and KMS sweeps in flight: what an online root-key rotation waits for after its switch.
  const inFlight = new InFlightRequests();
  leader.register('kms-scheduler', new KmsScheduler(kms, { track: () => inFlight.begin() }));
  if (backend.cluster) {
    // Dead nodes' pending blobs, and garbage nobody collected (embedded: start-up and after-commit collection suffice).
    const leaseMs = config.clusterLeaseSeconds * 1000;
    leader.register('storage-sweeper', new StorageSweeper({ meta, blobs, writerTimeoutMs: 4 * leaseMs, intervalMs: leaseMs, log }));
  }
  if (audit instanceof PgAuditStore && config.auditRetentionDays > 0) {
    // The cluster's trail older than COFFER_AUDIT_RETENTION_DAYS, never what is not yet delivered (audit/pg-prune.ts).
    const deliveryDestination = config.auditBucket ? destinationOf({ bucket: config.auditBucket, prefix: config.auditPrefix }) : undefined;
    leader.register('audit-retention', new PgAuditPruner({ trail: audit.trail, retentionDays: config.auditRetentionDays, deliveryDestination, log }));
  }
  leader.start();
  const services: S3Services = {
    config,
    meta,
    blobs,
    accountId: root.accountId,
    log,
    lookup,
    prepareCredential,
    identityPolicies: directory.identityPolicies,
    sessionPolicy: directory.sessionPolicy,
    kms: kmsPort,
    rootKey: rootKey.provider,
    bucketKeys,
    now: opts.now ?? (() => Date.now()),
    // PostgreSQL: IAM's version, the bucket and a GET's object in one round trip (storage/request-reads.ts).
    ...(backend.requestReads ? { requestReads: backend.requestReads } : {}),
    // Off the request path: overlapping calls share one collection (storage/recovery.ts).
    collectGarbage: () => void collectGarbage(meta, blobs).catch((err: unknown) => log.warn({ err }, 'garbage collection failed')),
  };
  // Lifecycle rules (s3/lifecycle/): a background job beside the KMS scheduler, on the S3 clock.
  const lifecycle = new LifecycleWorker({ meta, log, now: services.now, collectGarbage: services.collectGarbage, owner: ownerFor(root.accountId).id, intervalSeconds: config.lifecycleIntervalSeconds, observe: metrics?.lifecycleAction });
  leader.register('lifecycle', lifecycle);
  // Coffer's administration API (src/admin/): each route comes from the module it serves.
  const adminRoutes = new AdminRoutes().add(whoamiRoute);
  // The audit log for the console (GET audit/events); events recorded so far are flushed before a read.
  adminRoutes.add(auditEventsRoute(audit));
  // coffer rekey: re-wrap objects' keys under another KMS key (s3/rewrap/).
  adminRoutes.add(rewrapRoute({
    meta, kms: kmsPort, rootKey: rootKey.provider, region: config.region, log, accountId: root.accountId, identityPolicies: directory.identityPolicies, sessionPolicy: directory.sessionPolicy,
    now: services.now,
  }));
  // coffer lifecycle run: one bucket's rules now.
  adminRoutes.add(lifecycleRoute({ meta, worker: lifecycle }));
  adminRoutes.add(usageRoute({ store: usage, prices: config.metering.prices, sync: async () => meter?.sync() }));
  // Each bucket's object count and bytes, for the console's bucket list (GET buckets/usage).
  adminRoutes.add(bucketUsageRoute({ bucketUsage: () => meta.bucketUsage() }));
  // coffer custody rotate|migrate --online: the server re-seals under a new root key while it serves;
  // on PostgreSQL every node takes part, through the database (backend/reseal/cluster-rotation.ts).
  const rotationDeps = { dataDir: config.dataDir, env: custodyEnv, ring: rootKey.provider, stores: { kms: kmsStore, iam, meta }, audit: auditSink, accountId: root.accountId, externalKms, settled: () => inFlight.settled(), log };
  const clusterRotation = backend.cluster
    ? new ClusterRotation({ ...rotationDeps, store: backend.cluster.rotation, node: backend.cluster.writer.node, instance: backend.cluster.writer.instance })
    : undefined;
  const rotation = clusterRotation ?? new OnlineRotation({ ...rotationDeps, inFlight: () => inFlight.count });
  // A start that fails from here on (joining the rotation, the port taken) closes what it opened:
  // the jobs and the lease, the rotation's LISTEN connection, the pools, the token session.
  const failStart = async (e: unknown): Promise<never> => {
    await leader.stop().catch(() => undefined);
    await rotation.stop().catch(() => undefined);
    await meter?.close().catch(() => undefined);
    await backend.close().catch(() => undefined);
    rootKey.provider.close?.();
    throw e;
  };
  if (clusterRotation) {
    // Before the first request: a node starting during a rotation joins it (or refuses to start without the new key).
    await clusterRotation.join().catch(failStart);
    clusterRotation.startFollowing();
    leader.register('root-key-rotation', clusterRotation.job);
  }
  for (const route of rotationRoutes(rotation)) adminRoutes.add(route);
  const adminApi: AdminApiOptions = {
    routes: adminRoutes, lookup, prepareCredential: (id) => directory.prepare(id, 'coffer'), identityPolicies: directory.identityPolicies, sessionPolicy: directory.sessionPolicy,
    region: config.region, accountId: root.accountId, log,
  };
  // The unsigned pages: the console, and the Prometheus metrics unless COFFER_METRICS=off.
  // Health (http/health.ts): readiness asks each part a cheap question.
  const probeKey = randomBytes(32);
  const readinessChecks: ReadinessCheck[] = [
    { name: 'metadata', check: () => meta.ping() },
    { name: 'blobs', check: () => blobs.ping() },
    { name: 'kms', check: () => kmsStore.ping() },
    { name: 'iam', check: () => iam.ping() },
    { name: 'audit', check: async () => auditSink.checkWritable() },
    // On a cluster: a node the leader declared dead (paused or cut off too long) refuses writes until restarted.
    ...(backend.cluster ? [{
      name: 'writer',
      check: async () => {
        if (!(await meta.heartbeatWriter())) throw new Error('this node was declared dead by the job leader (no heartbeat in time): restart it');
      },
    }] : []),
    {
      name: 'rootKey',
      check: async () => {
        const aad = Buffer.from('coffer readiness probe');
        const back = await rootKey.provider.unwrap(await rootKey.provider.wrap(probeKey, aad), aad);
        if (!back.equals(probeKey)) throw new Error('the root key provider returned other bytes than it wrapped');
      },
    },
  ];
  const health = healthPages({ version: cofferVersion(), checks: readinessChecks, logFailure: (part, error) => log.warn({ part, error }, 'readiness check failed') });
  const pages = firstPage(metrics ? [health, consolePages(), metrics.page] : [health, consolePages()]);
  const server = createCofferServer({
    s3: (req, res, requestId) => handleS3({ services, metrics }, req, res, requestId),
    kms: (req, res, requestId) => handleKms({ service: kms, lookup, region: config.region, prepareCredential: prepareKmsCredential, credentialReady: directory.credentialReady, iamVersion: directory.versionReading, allowSecretsOverHttp: config.allowSecretsOverHttp }, req, res, requestId),
    iam: (req, res, requestId) => handleQueryApi('iam', iamApi, req, res, requestId),
    sts: (req, res, requestId) => handleQueryApi('sts', iamApi, req, res, requestId),
    admin: (req, res, requestId) => handleAdminApi(adminApi, req, res, requestId),
    pages,
    fail: (err, requestId) => log.error({ err, requestId }, 'unhandled error'),
  }, tls, {
    isBucketHost: (host) => virtualHostBucket(host, config.domain) !== undefined,
    // Off, or below the log level (info; health probes at debug): no per-request bookkeeping at all.
    accessLog: config.accessLog && log.isLevelEnabled('info') ? log : undefined,
    serverHeader: `Coffer/${cofferVersion()}`,
    inFlight,
    limits: {
      headersTimeoutMs: config.headersTimeoutSeconds * 1000,
      bodyIdleTimeoutMs: config.bodyIdleTimeoutSeconds * 1000,
      connections: { total: config.maxConnections, perClient: config.maxConnectionsPerClient, reserve: config.connectionReserve },
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.address, () => resolve());
  }).catch(failStart);
  const port = (server.address() as AddressInfo).port;
  const host = config.address.includes(':') ? `[${config.address}]` : config.address;
  // For the commands that go through this server rather than beside it (backend/server-url.ts).
  await advertiseServerUrl(config.dataDir, `${tls ? 'https' : 'http'}://${host}:${port}`).catch((err: unknown) => {
    log.warn({ err }, 'cannot write coffer.url: `coffer user` beside this server finds it only at the configured address and port');
  });
  if (rotation instanceof OnlineRotation) await rotation.resumeIfRecorded();
  // Delivery of the audit log to a bucket, through this server's own S3 API as the root: the
  // files of this server (audit/delivery.ts), or on PostgreSQL the cluster's trail, by the job leader (audit/pg-delivery.ts).
  let auditDelivery: AuditDelivery | undefined;
  if (config.auditBucket) {
    const target = { url: `${tls ? 'https' : 'http'}://${host}:${port}`, region: config.region, accessKeyId: root.credential.accessKeyId, secretAccessKey: root.credential.secretAccessKey, ca: tls?.cert };
    const common = {
      bucket: config.auditBucket, prefix: config.auditPrefix, accountId: root.accountId, region: config.region, intervalSeconds: config.auditDeliverySeconds,
      put: (bucket: string, key: string, body: Buffer) => putOwnObject(target, bucket, key, body, { 'content-type': 'application/json', 'content-encoding': 'gzip' }),
      beforeRead: () => audit.flush(), log,
    };
    if (audit instanceof PgAuditStore) {
      deliveryJob = new PgAuditDelivery({ ...common, trail: audit.trail });
      leader.register('audit-delivery', deliveryJob);
    } else {
      deliveryJob = auditDelivery = new AuditDelivery({ ...common, dir: join(config.dataDir, AUDIT_DIR) });
      auditDelivery.start();
    }
  }
  return {
    server,
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    root,
    log,
    kms,
    audit,
    auditDelivery,
    iam,
    rootKey: rootKey.provider,
    meter,
    lifecycle,
    leader,
    async close(graceMs = 0) {
      await leader.stop();
      await auditDelivery?.stop();
      const drained = await drainServer(server, graceMs);
      await rotation.stop();
      await meter?.close();
      await backend.close();
      rootKey.provider.close?.();
      await withdrawServerUrl(config.dataDir);
      releaseLock();
      return drained;
    },
  };
}
