// What `coffer hadoop` needs to know about a Coffer installation, read in-process from
// its data directory (like `coffer user`; SQLite's WAL lets this run beside the server):
// buckets, KMS keys and aliases, IAM users and their access keys, and the authorization
// decisions KMS and S3 would make. The KMS decision is the KMS port's authorizeOnly — the
// authorization every KMS use goes through, recording nothing (a simulation is not a use
// of the key) — on a KmsService built over the same stores, whose audit sink is empty. Server
// settings that live outside the data directory (region, the organization default key,
// root credentials from the environment) come from the same COFFER_* variables and flags
// the server reads.

import { timingSafeEqual } from 'node:crypto';
import { pino } from 'pino';
import type { Principal } from '../auth/types.js';
import { loadConfig, type CofferConfig } from '../config/config.js';
import { CredentialDirectory } from '../iam/credentials.js';
import { loadRootAccount, rootPrincipal, type RootAccount } from '../iam/root-credentials.js';
import { KmsService, type Caller } from '../kms/service.js';
import { InProcessKms, type KmsPort } from '../kms/port.js';
import type { KmsKeyRecord, KmsStore } from '../kms/store/types.js';
import { AWS_S3_ALIAS, awsManagedKeyPolicy } from '../kms/managed-keys.js';
import { isServiceError } from '../errors.js';
import { DISCARD_AUDIT } from '../audit/sink.js';
import { openStoresBesideServer } from '../backend/open-backend.js';
import type { BucketRecord, MetadataStore } from '../storage/types.js';
import { decideS3 } from '../s3/authorization.js';
import { openDataDir, type AdminContext } from '../data-dir.js';
import { openClusterView, type ViewStores } from './cluster-view.js';

export interface ViewOptions {
  dataDir?: string;
  /** A cluster's database (postgres://…; else COFFER_METADATA): the state is read there (cluster-view.ts). */
  metadata?: string;
  region?: string;
  /** The organization default key (the server's --default-kms-key); else COFFER_DEFAULT_KMS_KEY_ID. */
  defaultKmsKeyId?: string;
  env?: NodeJS.ProcessEnv;
}

/** Who an access key is, or why it is nobody. */
export type PrincipalLookup =
  | { ok: true; principal: Principal; note?: string }
  | { ok: false; problem: string };

/** The key a reference names, or the key an unset reference means. */
export type KeyLookup =
  /** `ref`: the reference S3 names the key by in its GenerateDataKey (the alias of kms:RequestAlias, when it is one). */
  | { ok: true; key: KmsKeyRecord; ref: string; meaning: string; notCreated?: boolean }
  | { ok: false; problem: string; meaning: string };

export interface Verdict {
  allowed: boolean;
  /** AWS's wording: the AccessDenied message when refused, the deciding statement when allowed (S3). */
  reason: string;
}

export class CofferView {
  private constructor(
    readonly admin: AdminContext,
    readonly config: CofferConfig,
    readonly root: RootAccount | undefined,
    readonly kms: KmsPort,
    private readonly kmsStore: KmsStore,
    private readonly meta: MetadataStore,
    private readonly directory: CredentialDirectory,
    private readonly closeStores: () => Promise<void>,
  ) {}

  static async open(o: ViewOptions = {}): Promise<CofferView> {
    const env = o.env ?? process.env;
    const onCluster = loadConfig({ dataDir: o.dataDir, metadata: o.metadata, region: o.region, defaultKmsKeyId: o.defaultKmsKeyId }, env);
    const { admin, config, root, kmsStore, meta, closeStores } = onCluster.metadata !== undefined
      ? { config: onCluster, ...(await openClusterView({ ...onCluster, metadata: onCluster.metadata }, env)) }
      : await openDataDirView(o, env);
    const account: RootAccount = root ?? { accountId: admin.accountId, generated: false, credential: { accessKeyId: '', secretAccessKey: '', principal: rootPrincipal(admin.accountId) } };
    const directory = new CredentialDirectory(admin.iam, admin.rootKey, account, config.region);
    const kms = new InProcessKms(new KmsService({
      store: kmsStore,
      rootKey: admin.rootKey,
      accountId: admin.accountId,
      region: config.region,
      identityPolicies: directory.identityPolicies,
      sessionPolicy: directory.sessionPolicy,
      audit: DISCARD_AUDIT,
      log: pino({ level: 'silent' }),
    }));
    return new CofferView(admin, config, root, kms, kmsStore, meta, directory, closeStores);
  }

  async close(): Promise<void> {
    await this.closeStores();
    await this.admin.close();
  }

  get accountId(): string {
    return this.admin.accountId;
  }

  get region(): string {
    return this.config.region;
  }

  bucket(name: string): Promise<BucketRecord | undefined> {
    return this.meta.getBucket(name);
  }

  /**
   * The principal of an access key, checking what S3 would check when it signs: the key
   * exists and is active, the secret matches, a session's token matches and has not expired.
   */
  async principal(accessKeyId: string, secret: string | undefined, token: string | undefined): Promise<PrincipalLookup> {
    if (this.root && accessKeyId === this.root.credential.accessKeyId) {
      if (secret === undefined) return { ok: false, problem: 'no secret key for the root access key' };
      if (!same(secret, this.root.credential.secretAccessKey)) return { ok: false, problem: `the secret key does not match access key ${accessKeyId} (the account root)` };
      return { ok: true, principal: this.root.credential.principal, note: 'the account root: every identity permission; prefer an IAM user (`coffer hadoop config --user NAME`)' };
    }
    if (!accessKeyId.startsWith('ASIA')) {
      const rec = await this.admin.iam.getAccessKey(accessKeyId);
      if (!rec) {
        const hint = this.root ? '' : ' (the root access key cannot be recognised: set COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY as for the server)';
        return { ok: false, problem: `access key ${accessKeyId} does not exist in this Coffer${hint}` };
      }
      if (rec.status !== 'Active') return { ok: false, problem: `access key ${accessKeyId} of user ${rec.userName} is ${rec.status}` };
    }
    await this.directory.prepare(accessKeyId);
    const cred = this.directory.lookup(accessKeyId);
    if (!cred) return { ok: false, problem: `access key ${accessKeyId} is not a usable credential of this Coffer (unknown or expired session)` };
    if (secret === undefined) return { ok: false, problem: `no secret key for access key ${accessKeyId}` };
    if (!same(secret, cred.secretAccessKey)) return { ok: false, problem: `the secret key does not match access key ${accessKeyId} (${cred.principal.arn})` };
    if (cred.sessionToken !== undefined) {
      if (token === undefined) return { ok: false, problem: `access key ${accessKeyId} is a session key: fs.s3a.session.token must be set` };
      if (!same(token, cred.sessionToken)) return { ok: false, problem: `the session token does not match access key ${accessKeyId}` };
      if (cred.expiresAt && cred.expiresAt.getTime() <= Date.now()) return { ok: false, problem: `the session of access key ${accessKeyId} expired at ${cred.expiresAt.toISOString()}` };
    }
    return { ok: true, principal: cred.principal };
  }

  /**
   * The KMS key S3 would use: the reference as given, or for an unset one the organization
   * default (COFFER_DEFAULT_KMS_KEY_ID) else the AWS managed aws/s3 key — which may not
   * exist yet (S3 creates it on first use; its key policy is known, so it is checked as if).
   */
  async key(ref: string | undefined): Promise<KeyLookup> {
    let meaning: string;
    let target: string;
    if (ref !== undefined) {
      meaning = `the configured key ${ref}`;
      target = ref;
    } else if (this.config.defaultKmsKeyId) {
      meaning = `unset: Coffer uses the organization default key ${this.config.defaultKmsKeyId} (COFFER_DEFAULT_KMS_KEY_ID)`;
      target = this.config.defaultKmsKeyId;
    } else {
      const alias = await this.kmsStore.getAlias(AWS_S3_ALIAS);
      const existing = alias ? await this.kmsStore.getKey(alias.keyId) : undefined;
      if (existing) return { ok: true, key: existing, ref: existing.arn, meaning: `unset: the AWS managed key aws/s3 (${existing.arn}), as on AWS` };
      const keyId = '00000000-0000-0000-0000-000000000000';
      const virtual: KmsKeyRecord = {
        keyId, arn: `arn:aws:kms:${this.region}:${this.accountId}:${AWS_S3_ALIAS}`, accountId: this.accountId, region: this.region,
        description: 'aws/s3 (not created yet)', keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', origin: 'AWS_KMS', keyManager: 'AWS',
        state: 'Enabled', creationDate: Date.now(), policy: awsManagedKeyPolicy(this.accountId, this.region), rotationEnabled: true,
        rotationPeriodInDays: 365, onDemandRotations: 0, currentVersion: 1,
      };
      return { ok: true, key: virtual, ref: virtual.arn, notCreated: true, meaning: 'unset: the AWS managed key aws/s3, as on AWS (S3 creates it on first use)' };
    }
    try {
      return { ok: true, key: await this.kms.findKey(target), ref: target, meaning };
    } catch (e) {
      if (isServiceError(e)) return { ok: false, problem: `${e.code}: ${e.message}`, meaning };
      throw e;
    }
  }

  /** KMS's decision for `action` on `key` by `principal`, with the caller's transport and context; `keyRef` is the reference the request names the key by. */
  async kmsDecision(principal: Principal, key: KmsKeyRecord, action: 'kms:GenerateDataKey' | 'kms:Decrypt', o: { viaS3: boolean; tls: boolean; context?: Record<string, string> }, keyRef?: string): Promise<Verdict> {
    const caller: Caller = { principal, requestId: 'coffer-hadoop-check', secureTransport: o.tls };
    if (o.viaS3) caller.viaService = `s3.${this.region}.amazonaws.com`;
    try {
      await this.kms.authorizeOnly({ caller, key, action, encryptionContext: o.context, ...(keyRef === undefined ? {} : { keyRef }) });
      return { allowed: true, reason: 'allowed' };
    } catch (e) {
      if (isServiceError(e)) return { allowed: false, reason: e.message };
      throw e;
    }
  }

  /**
   * S3's decision for an object action: s3/authorization.ts's own (identity, bucket and
   * session policies; nothing but an explicit deny refuses the root), for a request signed as
   * S3A signs (s3:authType REST-HEADER, s3:signatureversion AWS4-HMAC-SHA256).
   */
  async s3Decision(principal: Principal, bucket: BucketRecord, action: string, objectKey: string, conditions: Record<string, string | undefined>, tls: boolean): Promise<Verdict> {
    const sources = { meta: this.meta, accountId: this.accountId, identityPolicies: this.directory.identityPolicies, sessionPolicy: this.directory.sessionPolicy };
    // As S3A signs: SigV4 in the Authorization header.
    const facts = { authType: 'REST-HEADER', signatureVersion: 'AWS4-HMAC-SHA256' } as const;
    const v = await decideS3(sources, { principal, bucket: bucket.name, key: objectKey, transport: { secure: tls, sourceIp: undefined }, facts, checks: [{ action, conditions }] });
    return v.allowed ? { allowed: true, reason: v.reason } : { allowed: false, reason: v.message };
  }

}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The stores of an embedded data directory, read beside its server. */
async function openDataDirView(o: ViewOptions, env: NodeJS.ProcessEnv): Promise<ViewStores & { config: CofferConfig }> {
  const admin = await openDataDir(o.dataDir);
  const config = loadConfig({ dataDir: admin.dataDir, region: o.region, defaultKmsKeyId: o.defaultKmsKeyId }, env);
  let root: RootAccount | undefined;
  try {
    root = await loadRootAccount(admin.dataDir, { accessKeyId: config.rootAccessKeyId, secretAccessKey: config.rootSecretAccessKey });
  } catch {
    root = undefined; // started with root credentials from the environment, which this process does not have
  }
  const { kms: kmsStore, meta, close: closeStores } = openStoresBesideServer(admin.dataDir, ['kms', 'meta']);
  return { admin, config, root, kmsStore, meta, closeStores };
}
