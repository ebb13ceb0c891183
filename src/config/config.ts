// The one place configuration is read and validated: command-line flags, then
// COFFER_* environment variables (and their *_FILE variants for secrets), then a
// configuration file (sources.ts), then defaults. Every failure says how to fix it.

import { z } from 'zod';
import { loadBlobsConfig, shownBlobs, type BlobsConfig } from './blobs.js';
import { ConfigError } from './errors.js';
import { loadMetadataUrl, shownMetadata } from './metadata.js';
import { loadTlsMaterial } from './tls-files.js';
import { layerSources, SETTINGS, type Origin } from './sources.js';
import { rootKeyFlagEnv, type RootKeyFlags } from './root-key-flags.js';

/**
 * COFFER_BLOB_GC_GRACE_SECONDS's default: an hour, longer than any ordinary GET (5 GiB, the
 * largest single PUT, at 2 MB/s). Ceph RGW's rgw_gc_obj_min_wait is two hours.
 */
export const DEFAULT_BLOB_GC_GRACE_SECONDS = 3600;

export interface CofferConfig {
  address: string;
  port: number;
  dataDir: string;
  region: string;
  domain?: string;
  /** fsync blobs, directories and metadata commits before a write is visible or answered (power-loss durability). */
  fsync: boolean;
  /** Where object bytes go (--blobs, COFFER_BLOBS): the data directory, a shared directory or an S3-compatible service (blobs.ts). */
  blobs: BlobsConfig;
  /** The PostgreSQL database holding the metadata, KMS, IAM and usage stores (--metadata, COFFER_METADATA: postgres://…); unset, the embedded SQLite files (metadata.ts). */
  metadata?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** One line per request at info level (COFFER_ACCESS_LOG, default on). */
  accessLog: boolean;
  /** The root key (base64 of 32 bytes) from COFFER_ROOT_KEY(_FILE) or the file; else the passphrase or root.key (custody/select-root-key.ts). */
  rootKey?: string;
  /** The passphrase the root key is derived from (COFFER_ROOT_PASSPHRASE(_FILE) or the file). */
  rootPassphrase?: string;
  rootAccessKeyId?: string;
  rootSecretAccessKey?: string;
  /** Largest single PUT body (S3: 5 GiB). */
  maxObjectSize: number;
  /**
   * Encrypt objects that ask for nothing with SSE-S3, as AWS does since 2023. Off only for
   * benchmarks (COFFER_ENCRYPTION_AT_REST=off): such objects are then stored in the clear.
   */
  encryptionAtRest: boolean;
  /** The organization default KMS key (id, ARN, alias): used for aws:kms without a key id instead of aws/s3. */
  defaultKmsKeyId?: string;
  /** How long S3 reuses one bucket key from KMS before asking for a new one. */
  bucketKeyTtlSeconds: number;
  /** PEM file of the server certificate (chain); with tlsKey, the listener speaks HTTPS. */
  tlsCert?: string;
  /** PEM file of the certificate's unencrypted private key. */
  tlsKey?: string;
  /**
   * Accept requests that carry or return secrets over plain HTTP from any client, not only
   * loopback ones (for a trusted network, or TLS terminated by a proxy): SSE-KMS and SSE-C,
   * KMS plaintext, IAM access keys, STS credentials (http/transport.ts). AWS refuses them.
   */
  allowSecretsOverHttp: boolean;
  // Audit log (src/audit/): size-bounded rotation and the optional copy delivered to a bucket.
  /** kms.log is rotated before it would grow past this many bytes (COFFER_AUDIT_MAX_FILE_MB, default 64). */
  auditMaxFileBytes: number;
  /** Audit files kept, kms.log included (COFFER_AUDIT_MAX_FILES, default 10): at most about maxFiles × maxFileBytes on disk. */
  auditMaxFiles: number;
  /** Zero bytes kms.log is filled with ahead of its last event, so a batch's fdatasync overwrites instead of growing the file (COFFER_AUDIT_PREALLOCATE_MB, default 0 = off). */
  auditPreallocateBytes: number;
  /** Deliver the audit events as CloudTrail log files to this bucket (COFFER_AUDIT_BUCKET=bucket[/prefix]). */
  auditBucket?: string;
  /** The key prefix before AWSLogs/ (no leading or trailing slash). */
  auditPrefix?: string;
  /** How often new events are delivered (COFFER_AUDIT_DELIVERY_SECONDS, default 300). */
  auditDeliverySeconds: number;
  /**
   * With --metadata: audit_events rows older than this many days are deleted by the job leader,
   * never before they are delivered (COFFER_AUDIT_RETENTION_DAYS; default 0, keep everything).
   * The file log is bounded by auditMaxFiles instead.
   */
  auditRetentionDays: number;
  /** On SIGTERM, how long requests in flight may take to finish before they are cut (COFFER_SHUTDOWN_GRACE_SECONDS, default 30). */
  shutdownGraceSeconds: number;
  /** How often the lifecycle worker applies buckets' lifecycle rules (COFFER_LIFECYCLE_INTERVAL_SECONDS, default 86400; 0: never on its own, only `coffer lifecycle run`). */
  lifecycleIntervalSeconds: number;
  /**
   * With --metadata postgres://…: the job leader's lease (COFFER_CLUSTER_LEASE_SECONDS, default 15).
   * Leadership moves within lease + lease/3 of a leader's death; a writer silent for 4 × lease is dead (docs/CLUSTER.md).
   */
  clusterLeaseSeconds: number;
  /**
   * With --metadata postgres://…: how long the blob of an overwritten or deleted object is kept before it is
   * deleted, so GETs on other nodes that began before finish (COFFER_BLOB_GC_GRACE_SECONDS, default 3600; docs/CLUSTER.md).
   */
  blobGcGraceSeconds: number;
  /** Metering, Prometheus metrics, the audit switch and the price table (see the end of this file). */
  metering: MeteringConfig;
  // Slow and greedy clients (src/http/): the defaults fit a default `ulimit -n` of 1024.
  /** A request's headers must arrive within this (COFFER_HEADERS_TIMEOUT_SECONDS, default 60). */
  headersTimeoutSeconds: number;
  /** A request body that sends nothing for this long is cut with RequestTimeout (COFFER_BODY_IDLE_TIMEOUT_SECONDS, default 20, as S3). */
  bodyIdleTimeoutSeconds: number;
  /** Open connections in total before only clients with none open are accepted (COFFER_MAX_CONNECTIONS, default 900). */
  maxConnections: number;
  /** Open connections from one client address (COFFER_MAX_CONNECTIONS_PER_CLIENT, default 200). */
  maxConnectionsPerClient: number;
  /** Connections past maxConnections kept for clients with none open (COFFER_CONNECTION_RESERVE, default 32). */
  connectionReserve: number;
  /** Accept AWS Signature Version 2 on the S3 API (COFFER_SIGV2, default on; --no-sigv2 turns it off). */
  sigv2: boolean;
  /**
   * The root-key provider's settings, validated by custody/ when it opens the key:
   * COFFER_ROOT_KEY, COFFER_ROOT_PASSPHRASE and COFFER_PKCS11_* (the --pkcs11-* flags win).
   * Holds secrets: never log it.
   */
  custodyEnv: Record<string, string | undefined>;
}

export { ConfigError };

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

const schema = z.object({
  address: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  region: z.string().regex(REGION),
  domain: z.string().regex(/^[a-z0-9.-]+$/i).optional(),
  fsync: z.boolean(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  accessLog: z.boolean(),
  rootKey: z.string().min(1).optional(),
  rootPassphrase: z.string().min(1).optional(),
  rootAccessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/).optional(),
  rootSecretAccessKey: z.string().min(16).max(128).optional(),
  maxObjectSize: z.number().int().positive(),
  encryptionAtRest: z.boolean(),
  defaultKmsKeyId: z.string().min(1).max(2048).optional(),
  bucketKeyTtlSeconds: z.number().int().min(1).max(86400),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  allowSecretsOverHttp: z.boolean(),
  auditMaxFileBytes: z.number().int().min(1024).max(4096 * 1024 * 1024),
  auditMaxFiles: z.number().int().min(2).max(10000),
  auditPreallocateBytes: z.number().int().min(0).max(64 * 1024 * 1024),
  auditBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/).optional(),
  auditPrefix: z.string().regex(/^[^/](.*[^/])?$/).max(512).optional(),
  auditDeliverySeconds: z.number().int().min(1).max(86400),
  auditRetentionDays: z.number().int().min(0).max(36500),
  shutdownGraceSeconds: z.number().int().min(0).max(3600),
  lifecycleIntervalSeconds: z.number().int().refine((n) => n === 0 || (n >= 60 && n <= 604800)),
  clusterLeaseSeconds: z.number().int().min(2).max(300),
  blobGcGraceSeconds: z.number().int().min(0).max(604800),
  headersTimeoutSeconds: z.number().min(0.05).max(3600),
  bodyIdleTimeoutSeconds: z.number().min(0.05).max(3600),
  maxConnections: z.number().int().min(1).max(1_000_000),
  maxConnectionsPerClient: z.number().int().min(1).max(1_000_000),
  connectionReserve: z.number().int().min(0).max(1_000_000),
  sigv2: z.boolean(),
});

const HINTS: Record<string, string> = {
  port: 'use --port or COFFER_PORT with a number from 0 to 65535 (0 picks a free port)',
  region: 'use --region or COFFER_REGION with an AWS-style region name such as us-east-1',
  domain: 'use --domain with a bare host name such as s3.example.com',
  logLevel: 'use --log-level or COFFER_LOG_LEVEL with one of fatal, error, warn, info, debug, trace, silent',
  accessLog: 'COFFER_ACCESS_LOG must be on or off (default on)',
  rootAccessKeyId: 'COFFER_ROOT_ACCESS_KEY_ID must be 16 to 128 upper-case letters and digits',
  rootSecretAccessKey: 'COFFER_ROOT_SECRET_ACCESS_KEY must be 16 to 128 characters',
  dataDir: 'use --data-dir or COFFER_DATA_DIR with a directory path',
  address: 'use --address with an IP address such as 127.0.0.1',
  allowSecretsOverHttp: 'use --allow-secrets-over-http, or COFFER_ALLOW_SECRETS_OVER_HTTP (formerly COFFER_ALLOW_SSE_OVER_HTTP) with 1 or 0',
  maxObjectSize: 'COFFER_MAX_OBJECT_SIZE must be a positive number of bytes (default 5368709120, S3\'s limit)',
  encryptionAtRest: 'COFFER_ENCRYPTION_AT_REST must be on or off (off is for benchmarks only: objects without SSE headers are then stored in the clear)',
  defaultKmsKeyId: 'use COFFER_DEFAULT_KMS_KEY_ID with a KMS key id, key ARN or alias (alias/name)',
  bucketKeyTtlSeconds: 'COFFER_BUCKET_KEY_TTL_SECONDS must be a whole number of seconds from 1 to 86400 (default 300)',
  auditMaxFileBytes: 'COFFER_AUDIT_MAX_FILE_MB must be a whole number of MiB from 1 to 4096 (default 64); COFFER_AUDIT_MAX_FILE_BYTES, for tests, a number of bytes of at least 1024',
  auditPreallocateBytes: 'COFFER_AUDIT_PREALLOCATE_MB must be a whole number of MiB from 0 to 64 (default 0: kms.log grows by appends; 1 or more fills it with zero bytes ahead of its events — see the README before turning it on)',
  auditMaxFiles: 'COFFER_AUDIT_MAX_FILES must be a whole number from 2 to 10000 (default 10): kms.log and the rotated files kept',
  auditBucket: 'COFFER_AUDIT_BUCKET must be a bucket name, optionally followed by /prefix, such as audit-logs/coffer',
  auditPrefix: 'COFFER_AUDIT_BUCKET\'s prefix (after the bucket name and a slash) must not start or end with a slash, and be at most 512 characters',
  auditDeliverySeconds: 'COFFER_AUDIT_DELIVERY_SECONDS must be a whole number of seconds from 1 to 86400 (default 300)',
  auditRetentionDays: 'COFFER_AUDIT_RETENTION_DAYS must be a whole number of days from 0 to 36500 (default 0: keep every audit event)',
  lifecycleIntervalSeconds: 'COFFER_LIFECYCLE_INTERVAL_SECONDS must be a whole number of seconds from 60 to 604800 (default 86400, daily), or 0 to apply lifecycle rules only with `coffer lifecycle run`',
  shutdownGraceSeconds: 'COFFER_SHUTDOWN_GRACE_SECONDS must be a whole number of seconds from 0 to 3600 (default 30; 0 cuts requests in flight at once)',
  clusterLeaseSeconds: 'COFFER_CLUSTER_LEASE_SECONDS must be a whole number of seconds from 2 to 300 (default 15)',
  blobGcGraceSeconds: 'COFFER_BLOB_GC_GRACE_SECONDS must be a whole number of seconds from 0 to 604800 (default 3600): longer than your longest GET',
  headersTimeoutSeconds: 'COFFER_HEADERS_TIMEOUT_SECONDS must be a number of seconds from 0.05 to 3600 (default 60)',
  bodyIdleTimeoutSeconds: 'COFFER_BODY_IDLE_TIMEOUT_SECONDS must be a number of seconds from 0.05 to 3600 (default 20)',
  maxConnections: 'COFFER_MAX_CONNECTIONS must be a whole number of at least 1 (default 900; keep it and COFFER_CONNECTION_RESERVE under `ulimit -n`)',
  maxConnectionsPerClient: 'COFFER_MAX_CONNECTIONS_PER_CLIENT must be a whole number from 1 to COFFER_MAX_CONNECTIONS (default 200; raise it behind a reverse proxy, where every client has the proxy\'s address)',
  connectionReserve: 'COFFER_CONNECTION_RESERVE must be a whole number of 0 or more (default 32)',
  sigv2: 'use --no-sigv2, or COFFER_SIGV2 with on or off (default on)',
};

export interface ConfigFlags extends RootKeyFlags {
  address?: string;
  port?: string | number;
  dataDir?: string;
  region?: string;
  domain?: string;
  fsync?: boolean;
  /** --blobs: file:///shared/path or s3://bucket/prefix?endpoint=… (config/blobs.ts). */
  blobs?: string;
  /** --metadata: postgres://user:password@host/database (config/metadata.ts). */
  metadata?: string;
  encryptionAtRest?: boolean;
  defaultKmsKeyId?: string;
  tlsCert?: string;
  tlsKey?: string;
  allowSecretsOverHttp?: boolean;
  sigv2?: boolean;
  logLevel?: string;
  /** A configuration file (.toml, .yaml, .yml, .json); else COFFER_CONFIG. */
  config?: string;
}

/** The root-key provider's environment (see CofferConfig.custodyEnv), with the --pkcs11-* and --external-kms-* flags over their variables. */
function custodyEnvOf(flags: ConfigFlags, env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k === 'COFFER_ROOT_KEY' || k === 'COFFER_ROOT_PASSPHRASE' || k.startsWith('COFFER_PKCS11_') || k.startsWith('COFFER_EXTERNAL_KMS_')) out[k] = v;
  }
  return Object.assign(out, rootKeyFlagEnv(flags));
}

/** An on/off environment variable: unset is `fallback`; anything unrecognised stays a string, which the schema rejects. */
function envSwitch(value: string | undefined, fallback: boolean): boolean | string {
  if (value === undefined || value === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  return value;
}

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): CofferConfig {
  return explainConfig(flags, env).config;
}

/** One setting as `coffer config check` shows it. */
export interface ConfigRow {
  env: string;
  value: string;
  origin: Origin;
}

const SECRET_FIELDS = new Set(['rootSecretAccessKey', 'rootKey', 'rootPassphrase']);

/** The effective value of each COFFER_* variable, as config check prints it. */
const EFFECTIVE: Record<string, (c: CofferConfig) => unknown> = {
  COFFER_ADDRESS: (c) => c.address, COFFER_PORT: (c) => c.port, COFFER_DATA_DIR: (c) => c.dataDir, COFFER_REGION: (c) => c.region,
  COFFER_DOMAIN: (c) => c.domain, COFFER_FSYNC: (c) => c.fsync, COFFER_LOG_LEVEL: (c) => c.logLevel, COFFER_ACCESS_LOG: (c) => c.accessLog,
  COFFER_ROOT_ACCESS_KEY_ID: (c) => c.rootAccessKeyId, COFFER_MAX_OBJECT_SIZE: (c) => c.maxObjectSize, COFFER_ENCRYPTION_AT_REST: (c) => c.encryptionAtRest,
  COFFER_DEFAULT_KMS_KEY_ID: (c) => c.defaultKmsKeyId, COFFER_BUCKET_KEY_TTL_SECONDS: (c) => c.bucketKeyTtlSeconds, COFFER_TLS_CERT: (c) => c.tlsCert,
  COFFER_TLS_KEY: (c) => c.tlsKey, COFFER_ALLOW_SECRETS_OVER_HTTP: (c) => c.allowSecretsOverHttp, COFFER_ALLOW_SSE_OVER_HTTP: (c) => c.allowSecretsOverHttp,
  COFFER_AUDIT_MAX_FILE_MB: (c) => c.auditMaxFileBytes / (1024 * 1024), COFFER_AUDIT_MAX_FILE_BYTES: (c) => c.auditMaxFileBytes, COFFER_AUDIT_MAX_FILES: (c) => c.auditMaxFiles, COFFER_AUDIT_PREALLOCATE_MB: (c) => c.auditPreallocateBytes / (1024 * 1024),
  COFFER_AUDIT_BUCKET: (c) => (c.auditBucket === undefined ? undefined : c.auditPrefix === undefined ? c.auditBucket : `${c.auditBucket}/${c.auditPrefix}`),
  COFFER_AUDIT_DELIVERY_SECONDS: (c) => c.auditDeliverySeconds, COFFER_AUDIT_RETENTION_DAYS: (c) => c.auditRetentionDays, COFFER_SHUTDOWN_GRACE_SECONDS: (c) => c.shutdownGraceSeconds,
  COFFER_LIFECYCLE_INTERVAL_SECONDS: (c) => c.lifecycleIntervalSeconds,
  COFFER_CLUSTER_LEASE_SECONDS: (c) => c.clusterLeaseSeconds,
  COFFER_BLOB_GC_GRACE_SECONDS: (c) => c.blobGcGraceSeconds,
  COFFER_HEADERS_TIMEOUT_SECONDS: (c) => c.headersTimeoutSeconds, COFFER_BODY_IDLE_TIMEOUT_SECONDS: (c) => c.bodyIdleTimeoutSeconds,
  COFFER_MAX_CONNECTIONS: (c) => c.maxConnections, COFFER_MAX_CONNECTIONS_PER_CLIENT: (c) => c.maxConnectionsPerClient, COFFER_CONNECTION_RESERVE: (c) => c.connectionReserve,
  COFFER_SIGV2: (c) => c.sigv2, COFFER_METERING: (c) => c.metering.enabled, COFFER_METRICS: (c) => c.metering.metrics, COFFER_AUDIT: (c) => c.metering.audit,
  COFFER_PRICE_KEY_MONTH: (c) => c.metering.prices.keyMonth, COFFER_PRICE_PER_10K_REQUESTS: (c) => c.metering.prices.per10kRequests,
  COFFER_FREE_REQUESTS_PER_MONTH: (c) => c.metering.prices.freeRequestsPerMonth,
  COFFER_BLOBS: (c) => shownBlobs(c.blobs),
  COFFER_METADATA: (c) => shownMetadata(c.metadata),
};

const shownValue = (v: unknown): string => (v === undefined ? '(not set)' : typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v));

/** The config and, for each COFFER_* variable, its effective value (secrets masked) and where it came from. */
export function explainConfig(flags: ConfigFlags, processEnv: NodeJS.ProcessEnv = process.env): { config: CofferConfig; file?: string; rows: ConfigRow[] } {
  const file = flags.config ?? (processEnv.COFFER_CONFIG || undefined);
  const layers = layerSources(processEnv, file);
  const env = layers.env;
  const config = validate(flags, env);
  const rows = SETTINGS.map((s) => {
    const flagGiven = s.flag !== undefined && (flags as Record<string, unknown>)[s.flag] !== undefined;
    const origin = layers.origin(s.env, flagGiven);
    const value = s.secret ? (env[s.env] ? '****' : '(not set)') : shownValue(EFFECTIVE[s.env]?.(config) ?? env[s.env]);
    return { env: s.env, value, origin };
  });
  return { config, file, rows };
}

function validate(flags: ConfigFlags, env: NodeJS.ProcessEnv): CofferConfig {
  const rawFsync = env.COFFER_FSYNC;
  const raw = {
    address: flags.address ?? env.COFFER_ADDRESS ?? '127.0.0.1',
    port: flags.port ?? env.COFFER_PORT ?? 9000,
    dataDir: flags.dataDir ?? env.COFFER_DATA_DIR ?? './data',
    region: flags.region ?? env.COFFER_REGION ?? 'us-east-1',
    domain: flags.domain ?? env.COFFER_DOMAIN ?? undefined,
    fsync: flags.fsync ?? (rawFsync === undefined ? true : !/^(0|false|no|off)$/i.test(rawFsync)),
    logLevel: flags.logLevel ?? env.COFFER_LOG_LEVEL ?? 'info',
    accessLog: envSwitch(env.COFFER_ACCESS_LOG, true),
    rootKey: env.COFFER_ROOT_KEY || undefined,
    rootPassphrase: env.COFFER_ROOT_PASSPHRASE || undefined,
    rootAccessKeyId: env.COFFER_ROOT_ACCESS_KEY_ID || undefined,
    rootSecretAccessKey: env.COFFER_ROOT_SECRET_ACCESS_KEY || undefined,
    maxObjectSize: env.COFFER_MAX_OBJECT_SIZE === undefined ? 5 * 1024 ** 3 : Number(env.COFFER_MAX_OBJECT_SIZE),
    encryptionAtRest: flags.encryptionAtRest ?? envSwitch(env.COFFER_ENCRYPTION_AT_REST, true),
    defaultKmsKeyId: flags.defaultKmsKeyId ?? (env.COFFER_DEFAULT_KMS_KEY_ID || undefined),
    bucketKeyTtlSeconds: env.COFFER_BUCKET_KEY_TTL_SECONDS === undefined ? 300 : Number(env.COFFER_BUCKET_KEY_TTL_SECONDS),
    tlsCert: flags.tlsCert ?? (env.COFFER_TLS_CERT || undefined),
    tlsKey: flags.tlsKey ?? (env.COFFER_TLS_KEY || undefined),
    // COFFER_ALLOW_SSE_OVER_HTTP is the older name, from when the rule covered only SSE.
    allowSecretsOverHttp: flags.allowSecretsOverHttp ?? envSwitch(env.COFFER_ALLOW_SECRETS_OVER_HTTP || env.COFFER_ALLOW_SSE_OVER_HTTP, false),
    ...auditSettings(env),
    lifecycleIntervalSeconds: env.COFFER_LIFECYCLE_INTERVAL_SECONDS === undefined || env.COFFER_LIFECYCLE_INTERVAL_SECONDS.trim() === '' ? 86400 : /^\d+$/.test(env.COFFER_LIFECYCLE_INTERVAL_SECONDS.trim()) ? Number(env.COFFER_LIFECYCLE_INTERVAL_SECONDS) : NaN,
    shutdownGraceSeconds: env.COFFER_SHUTDOWN_GRACE_SECONDS === undefined || env.COFFER_SHUTDOWN_GRACE_SECONDS === '' ? 30 : Number(env.COFFER_SHUTDOWN_GRACE_SECONDS),
    clusterLeaseSeconds: env.COFFER_CLUSTER_LEASE_SECONDS === undefined || env.COFFER_CLUSTER_LEASE_SECONDS === '' ? 15 : Number(env.COFFER_CLUSTER_LEASE_SECONDS),
    blobGcGraceSeconds: env.COFFER_BLOB_GC_GRACE_SECONDS === undefined || env.COFFER_BLOB_GC_GRACE_SECONDS.trim() === '' ? DEFAULT_BLOB_GC_GRACE_SECONDS : /^\d+$/.test(env.COFFER_BLOB_GC_GRACE_SECONDS.trim()) ? Number(env.COFFER_BLOB_GC_GRACE_SECONDS) : NaN,
    ...listenerSettings(env),
    sigv2: flags.sigv2 ?? envSwitch(env.COFFER_SIGV2, true),
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0] ?? '');
    const shown = SECRET_FIELDS.has(field) ? '(hidden)' : JSON.stringify((raw as Record<string, unknown>)[field]);
    throw new ConfigError(`invalid ${field}: ${shown}`, HINTS[field]);
  }
  if ((raw.rootAccessKeyId === undefined) !== (raw.rootSecretAccessKey === undefined)) {
    throw new ConfigError('only one of COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY is set', 'set both, or neither to use the generated root credentials');
  }
  if (raw.maxConnectionsPerClient > raw.maxConnections) {
    throw new ConfigError(`COFFER_MAX_CONNECTIONS_PER_CLIENT (${raw.maxConnectionsPerClient}) is larger than COFFER_MAX_CONNECTIONS (${raw.maxConnections})`, HINTS.maxConnectionsPerClient);
  }
  if (raw.tlsCert !== undefined && raw.tlsKey === undefined) {
    throw new ConfigError('a TLS certificate is given but no private key', 'give the certificate\'s private key with --tls-key (or COFFER_TLS_KEY), or drop --tls-cert to serve plain HTTP');
  }
  if (raw.tlsKey !== undefined && raw.tlsCert === undefined) {
    throw new ConfigError('a TLS private key is given but no certificate', 'give the certificate with --tls-cert (or COFFER_TLS_CERT), or drop --tls-key to serve plain HTTP');
  }
  if (raw.tlsCert !== undefined && raw.tlsKey !== undefined) loadTlsMaterial(raw.tlsCert, raw.tlsKey);
  const metadata = loadMetadataUrl(flags.metadata ?? env.COFFER_METADATA);
  if (metadata === undefined && parsed.data.auditRetentionDays > 0) {
    // The file log keeps a number of files, not days (docs/spec/audit-log.md section 3); the database trail keeps days (docs/CLUSTER.md, "Audit").
    throw new ConfigError('COFFER_AUDIT_RETENTION_DAYS applies to the audit trail in PostgreSQL (--metadata) only', 'bound the audit log files with COFFER_AUDIT_MAX_FILES and COFFER_AUDIT_MAX_FILE_MB, or unset COFFER_AUDIT_RETENTION_DAYS');
  }
  return {
    ...(parsed.data as Omit<CofferConfig, 'metering' | 'custodyEnv' | 'blobs' | 'metadata'>), metering: loadMeteringConfig(env), custodyEnv: custodyEnvOf(flags, env),
    blobs: loadBlobsConfig(flags.blobs ?? env.COFFER_BLOBS, env), ...(metadata === undefined ? {} : { metadata }),
  };
}

/**
 * The environment custody/select-root-key.ts reads, with the root key or passphrase as
 * this config resolved them (COFFER_ROOT_KEY_FILE, the configuration file) over it.
 */
export function rootKeyEnv(config: Pick<CofferConfig, 'rootKey' | 'rootPassphrase'>, env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  if (config.rootKey !== undefined) out.COFFER_ROOT_KEY = config.rootKey;
  if (config.rootPassphrase !== undefined) out.COFFER_ROOT_PASSPHRASE = config.rootPassphrase;
  return out;
}

// ---- Metering, metrics and prices (src/metering/) ----

export interface MeteringConfig {
  /** Count KMS requests and key-hours into usage.sqlite (COFFER_METERING, default on). */
  enabled: boolean;
  /** Serve Prometheus metrics at /metrics (COFFER_METRICS, default on). */
  metrics: boolean;
  /** Write the KMS audit log (COFFER_AUDIT, default on; off is for benchmarks only). */
  audit: boolean;
  /** The price table cost estimates use; AWS list prices unless overridden. */
  prices: { keyMonth: number; per10kRequests: number; freeRequestsPerMonth: number };
}

const METERING_HINTS: Record<string, string> = {
  enabled: 'COFFER_METERING must be on or off',
  metrics: 'COFFER_METRICS must be on or off',
  audit: 'COFFER_AUDIT must be on or off (off is for benchmarks only: KMS use is then not audited)',
  keyMonth: 'COFFER_PRICE_KEY_MONTH must be a number of US dollars of 0 or more per key-month (default 1)',
  per10kRequests: 'COFFER_PRICE_PER_10K_REQUESTS must be a number of US dollars of 0 or more per 10,000 requests (default 0.03)',
  freeRequestsPerMonth: 'COFFER_FREE_REQUESTS_PER_MONTH must be a whole number of 0 or more (default 20000)',
};

const ENV_NAME: Record<string, string> = {
  enabled: 'COFFER_METERING', metrics: 'COFFER_METRICS', audit: 'COFFER_AUDIT',
  keyMonth: 'COFFER_PRICE_KEY_MONTH', per10kRequests: 'COFFER_PRICE_PER_10K_REQUESTS', freeRequestsPerMonth: 'COFFER_FREE_REQUESTS_PER_MONTH',
};

const meteringSchema = z.object({
  enabled: z.boolean(),
  metrics: z.boolean(),
  audit: z.boolean(),
  keyMonth: z.number().finite().min(0),
  per10kRequests: z.number().finite().min(0),
  freeRequestsPerMonth: z.number().int().min(0),
});

/** The metering block of the config, from COFFER_METERING, COFFER_METRICS, COFFER_AUDIT and COFFER_PRICE_*. */
export function loadMeteringConfig(env: NodeJS.ProcessEnv = process.env): MeteringConfig {
  const num = (v: string | undefined, fallback: number) => (v === undefined || v.trim() === '' ? fallback : Number(v));
  const raw = {
    enabled: envSwitch(env.COFFER_METERING, true),
    metrics: envSwitch(env.COFFER_METRICS, true),
    audit: envSwitch(env.COFFER_AUDIT, true),
    keyMonth: num(env.COFFER_PRICE_KEY_MONTH, 1),
    per10kRequests: num(env.COFFER_PRICE_PER_10K_REQUESTS, 0.03),
    freeRequestsPerMonth: num(env.COFFER_FREE_REQUESTS_PER_MONTH, 20_000),
  };
  const parsed = meteringSchema.safeParse(raw);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]!.path[0] ?? '');
    throw new ConfigError(`invalid ${ENV_NAME[field] ?? field}: ${JSON.stringify(env[ENV_NAME[field] ?? ''] ?? (raw as Record<string, unknown>)[field])}`, METERING_HINTS[field]);
  }
  const m = parsed.data;
  return { enabled: m.enabled, metrics: m.metrics, audit: m.audit, prices: { keyMonth: m.keyMonth, per10kRequests: m.per10kRequests, freeRequestsPerMonth: m.freeRequestsPerMonth } };
}

/** The audit log's settings from COFFER_AUDIT_* (validated by the schema above). */
function auditSettings(env: NodeJS.ProcessEnv) {
  const num = (v: string | undefined, fallback: number): number => (v === undefined || v === '' ? fallback : /^\d+$/.test(v.trim()) ? Number(v) : NaN);
  const target = env.COFFER_AUDIT_BUCKET || undefined;
  const slash = target === undefined ? -1 : target.indexOf('/');
  return {
    auditMaxFileBytes: env.COFFER_AUDIT_MAX_FILE_BYTES ? num(env.COFFER_AUDIT_MAX_FILE_BYTES, 0) : num(env.COFFER_AUDIT_MAX_FILE_MB, 64) * 1024 * 1024,
    auditMaxFiles: num(env.COFFER_AUDIT_MAX_FILES, 10),
    auditPreallocateBytes: num(env.COFFER_AUDIT_PREALLOCATE_MB, 0) * 1024 * 1024,
    auditBucket: slash < 0 ? target : target!.slice(0, slash),
    auditPrefix: slash < 0 ? undefined : target!.slice(slash + 1),
    auditDeliverySeconds: num(env.COFFER_AUDIT_DELIVERY_SECONDS, 300),
    auditRetentionDays: num(env.COFFER_AUDIT_RETENTION_DAYS, 0),
  };
}

/** The listener's timeouts and connection caps from COFFER_* (validated by the schema above). */
function listenerSettings(env: NodeJS.ProcessEnv) {
  const num = (v: string | undefined, fallback: number): number => (v === undefined || v.trim() === '' ? fallback : Number(v));
  return {
    headersTimeoutSeconds: num(env.COFFER_HEADERS_TIMEOUT_SECONDS, 60),
    bodyIdleTimeoutSeconds: num(env.COFFER_BODY_IDLE_TIMEOUT_SECONDS, 20),
    maxConnections: num(env.COFFER_MAX_CONNECTIONS, 900),
    maxConnectionsPerClient: num(env.COFFER_MAX_CONNECTIONS_PER_CLIENT, 200),
    connectionReserve: num(env.COFFER_CONNECTION_RESERVE, 32),
  };
}
