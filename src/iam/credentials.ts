// The account's principals as the request path sees them: the root credential, and
// IAM users' access keys read from the IAM store. Secrets are sealed under the root
// key at rest (docs/spec/iam-access-key-secret.md) and unsealed only in memory.
//
// The store is the source of truth, and other processes (the `coffer user` CLI, other
// nodes of a cluster) write it while the server runs. A prepared credential and a
// principal's identity policies are kept only while the store's version() is the one they
// were read at (SQLite: a local query; PostgreSQL: a counter row every IAM write moves on
// in its own transaction), and the unsealed secret is keyed by the sealed bytes. A key
// deleted or made Inactive, a policy detached, stops working on the next request, on
// every node.
//
// STS sessions (access key ids ASIA...) are looked up the same way in the sessions
// table: their secret and token are sealed together under the root key, and the record
// keeps its expiry, so an expired session answers ExpiredToken rather than an unknown key.
// A session is its user's or role's, by unique id (as AWS binds it): once that user or
// role is deleted — made again under the same name or not — the session is an unknown key.
//
// Identity policies of a principal: for a user, its inline and attached managed
// policies and those of every group it is in; for a role session, the role's inline and
// attached policies (the session policy is a separate limit, sessionPolicy()).

import { createHash } from 'node:crypto';
import type { CredentialLookup, CredentialRecord, Principal } from '../auth/types.js';
import type { RootKeyProvider } from '../custody/root-key.js';
import { parsePolicyDocument, type NamedPolicy, type PolicyDocument } from './policy/index.js';
import type { RootAccount } from './root-credentials.js';
import type { AccessKeyRecord, IamStore, IamTag } from './store/types.js';
import { setOwn } from '../records.js';

/** The root's identity policies: none (it has every identity permission), one frozen array. */
const ROOT_POLICIES: NamedPolicy[] = Object.freeze([]) as unknown as NamedPolicy[];

/** Changing this label breaks every stored access key secret. */
export const SECRET_SEAL_LABEL = 'coffer/iam/access-key-secret/v1';

function sealAad(accessKeyId: string): Buffer {
  return Buffer.from(`${SECRET_SEAL_LABEL}\n${accessKeyId}`, 'utf8');
}

export async function sealSecret(rootKey: RootKeyProvider, accessKeyId: string, secret: string): Promise<Buffer> {
  return rootKey.wrap(Buffer.from(secret, 'utf8'), sealAad(accessKeyId));
}

export async function unsealSecret(rootKey: RootKeyProvider, accessKeyId: string, sealed: Buffer): Promise<string> {
  return (await rootKey.unwrap(sealed, sealAad(accessKeyId))).toString('utf8');
}

/** Changing this label breaks every stored STS session. */
export const SESSION_SEAL_LABEL = 'coffer/sts/session-secret/v1';

function sessionAad(accessKeyId: string): Buffer {
  return Buffer.from(`${SESSION_SEAL_LABEL}\n${accessKeyId}`, 'utf8');
}

/** The sealed part of a session: its secret key and its token (JSON, version 1). */
export async function sealSession(rootKey: RootKeyProvider, accessKeyId: string, secret: string, token: string): Promise<Buffer> {
  return rootKey.wrap(Buffer.from(JSON.stringify({ v: 1, secret, token }), 'utf8'), sessionAad(accessKeyId));
}

export async function unsealSession(rootKey: RootKeyProvider, accessKeyId: string, sealed: Buffer): Promise<{ secret: string; token: string }> {
  const o = JSON.parse((await rootKey.unwrap(sealed, sessionAad(accessKeyId))).toString('utf8')) as { v: number; secret: string; token: string };
  if (o.v !== 1) throw new Error(`unknown session record version ${o.v}`);
  return { secret: o.secret, token: o.token };
}

/** The principal of a session as stored (JSON, version 1); `temporary` is filled in when read. */
export function encodeSessionPrincipal(p: Principal): string {
  const { temporary: _t, ...rest } = p;
  return JSON.stringify({ v: 1, principal: rest });
}

function decodeSessionPrincipal(text: string): Principal {
  const o = JSON.parse(text) as { v: number; principal: Principal };
  if (o.v !== 1) throw new Error(`unknown session principal version ${o.v}`);
  return o.principal;
}

/** Where an identity policy comes from, for SimulatePrincipalPolicy and decisions. */
export interface PolicySource {
  /** The policy name (inline) or the managed policy's name. */
  name: string;
  /** 'user' | 'group' | 'role' for inline policies, 'managed' for managed ones. */
  type: 'user' | 'group' | 'role' | 'managed';
  /** The inline policy's owner (user, group or role name) or the managed policy's ARN. */
  sourceId: string;
  document: string;
}

/** An IAM user's or role's tags as aws:PrincipalTag/<key> values; undefined when it has none. */
function principalTags(tags: readonly IamTag[]): Record<string, string> | undefined {
  if (tags.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const t of tags) setOwn(out, t.Key, t.Value);
  return out;
}

export class CredentialDirectory {
  private readonly prepared = new Map<string, CredentialRecord>();
  /** The store version each prepared user key was read at. */
  private readonly preparedAt = new Map<string, string>();
  private readonly secrets = new Map<string, { fingerprint: string; secret: string }>();
  private readonly policyCache = new Map<string, PolicyDocument>();
  private readonly lastNoted = new Map<string, number>();
  private readonly sessionSecrets = new Map<string, { secret: string; token: string }>();

  constructor(
    private readonly iam: IamStore,
    private readonly rootKey: RootKeyProvider,
    private readonly root: RootAccount,
    private readonly region = 'us-east-1',
    /** How many prepared credentials are kept (the oldest go first). */
    private readonly maxPrepared = 10_000,
  ) {}

  /**
   * Makes the credential of this access key id available to the synchronous lookup for
   * the current request (call once per request, before authenticating). `iamVersion`: the
   * store's version as read for this request, after it began (storage/request-reads.ts),
   * used instead of reading it again.
   */
  async prepare(accessKeyId: string | undefined, service?: string, iamVersion?: Promise<string>): Promise<void> {
    if (!accessKeyId || accessKeyId === this.root.credential.accessKeyId) return;
    if (accessKeyId.startsWith('ASIA')) return this.prepareSession(accessKeyId, iamVersion);
    // Unchanged store: the key, its user and its secret are what they were at the last request.
    const version = await this.storeVersion(false, iamVersion);
    if (version !== undefined && this.preparedAt.get(accessKeyId) === version && this.prepared.has(accessKeyId)) {
      if (service !== undefined) await this.noteUse(accessKeyId, service);
      return;
    }
    const key = await this.iam.getAccessKey(accessKeyId);
    if (!key || key.status !== 'Active') {
      this.prepared.delete(accessKeyId);
      return;
    }
    if (service !== undefined) await this.noteUse(accessKeyId, service);
    const user = await this.iam.getUser(key.userName);
    if (!user) {
      this.prepared.delete(accessKeyId);
      return;
    }
    const secret = await this.secretOf(key);
    const principal: Principal = { arn: user.arn, accountId: this.root.accountId, userName: user.userName, userId: user.userId, kind: 'user' };
    const tags = principalTags(user.tags);
    if (tags) principal.tags = tags;
    this.remember({ accessKeyId, secretAccessKey: secret, principal });
    // Kept under the version read before the reads, and only if nothing was written while
    // they ran (a write in between, here or on another node, could have changed what they
    // read). This node's own LastUsed mark above moves SQLite's version: that request is
    // simply not kept, the next one is.
    this.preparedAt.delete(accessKeyId);
    if (version !== undefined && (await this.storeVersion(true)) === version) {
      if (this.preparedAt.size > 10_000) this.preparedAt.clear();
      this.preparedAt.set(accessKeyId, version);
    }
  }

  /**
   * GetAccessKeyLastUsed's record: written at most once a minute per key (a write per
   * request would cost more than the request). It notes a request that named the key,
   * before its signature is checked.
   */
  private async noteUse(accessKeyId: string, service: string): Promise<void> {
    const now = Date.now();
    const last = this.lastNoted.get(accessKeyId);
    if (last !== undefined && now - last < 60_000) return;
    if (this.lastNoted.size > 10_000) this.lastNoted.clear();
    this.lastNoted.set(accessKeyId, now);
    await this.iam.markAccessKeyUsed(accessKeyId, { date: now, service, region: this.region });
  }

  private async prepareSession(accessKeyId: string, iamVersion?: Promise<string>): Promise<void> {
    const rec = await this.iam.sessions.get(accessKeyId);
    if (!rec) {
      this.prepared.delete(accessKeyId);
      return;
    }
    // The record is read on every request (its expiry is the store's word); only the
    // unsealed secret and token, which never change, are cached.
    let unsealed = this.sessionSecrets.get(accessKeyId);
    if (!unsealed) {
      unsealed = await unsealSession(this.rootKey, accessKeyId, rec.sealedSecret);
      if (this.sessionSecrets.size > 10_000) this.sessionSecrets.clear();
      this.sessionSecrets.set(accessKeyId, unsealed);
    }
    const issuedTo = decodeSessionPrincipal(rec.principal);
    const issuer = await this.issuer(accessKeyId, issuedTo, iamVersion);
    if (!issuer) {
      this.prepared.delete(accessKeyId);
      return;
    }
    const expiresAt = new Date(rec.expiresAt);
    const principal: Principal = { ...issuedTo, temporary: { accessKeyId, expiresAt, issuedAt: new Date(rec.createDate) } };
    if (issuer.tags) principal.tags = issuer.tags;
    this.remember({ accessKeyId, secretAccessKey: unsealed.secret, principal, sessionToken: unsealed.token, expiresAt });
  }

  /**
   * Whether the user or role a session was issued for is still that entity: AWS binds
   * temporary credentials to its unique id, so a session outlives neither its deletion nor
   * a new entity made under the same name (which must not lend it its policies). Its
   * tags, as they are now, are the session's aws:PrincipalTag. Read again whenever the IAM
   * store has moved on since the last check of this session; undefined: it stands no more.
   */
  private async issuer(accessKeyId: string, p: Principal, iamVersion?: Promise<string>): Promise<{ tags?: Record<string, string> } | undefined> {
    if (p.kind === 'root') return {};
    const version = await this.storeVersion(false, iamVersion);
    const hit = this.issuerChecked.get(accessKeyId);
    if (version !== undefined && hit?.version === version) return hit.issuer;
    let entity: { tags: IamTag[] } | undefined;
    if (p.kind === 'assumed-role') {
      const role = await this.iam.roles.get(p.roleName);
      entity = role?.roleId === p.roleId ? role : undefined;
    } else {
      const user = await this.iam.getUser(p.userName);
      entity = user?.userId === p.userId ? user : undefined;
    }
    this.issuerChecked.delete(accessKeyId);
    if (!entity) return undefined;
    const tags = principalTags(entity.tags);
    const issuer = tags ? { tags } : {};
    if (version !== undefined && (await this.storeVersion(true)) === version) {
      if (this.issuerChecked.size > 10_000) this.issuerChecked.clear();
      this.issuerChecked.set(accessKeyId, { version, issuer });
    }
    return issuer;
  }
  /** Each session's user or role as last found standing, and the store version it was read at. */
  private readonly issuerChecked = new Map<string, { version: string; issuer: { tags?: Record<string, string> } }>();

  /**
   * Keeps a prepared credential for the lookup of the request about to be verified. Past the
   * bound the oldest goes (a Map iterates in insertion order; a key prepared again moves to
   * the end): clearing them all, as this once did, also dropped the credentials of requests
   * prepared a moment before and not yet verified, which then failed as InvalidAccessKeyId.
   */
  private remember(rec: CredentialRecord): void {
    this.prepared.delete(rec.accessKeyId);
    if (this.prepared.size >= this.maxPrepared) this.prepared.delete(this.prepared.keys().next().value!);
    this.prepared.set(rec.accessKeyId, rec);
  }

  private async secretOf(key: AccessKeyRecord): Promise<string> {
    const fingerprint = createHash('sha256').update(key.sealedSecret).digest('hex');
    const hit = this.secrets.get(key.accessKeyId);
    if (hit && hit.fingerprint === fingerprint) return hit.secret;
    const secret = await unsealSecret(this.rootKey, key.accessKeyId, key.sealedSecret);
    this.secrets.set(key.accessKeyId, { fingerprint, secret });
    return secret;
  }

  /** The synchronous lookup the SigV4 verifier uses: root, or a key prepared for this request. */
  readonly lookup: CredentialLookup = (id) => {
    if (id === this.root.credential.accessKeyId) return this.root.credential;
    return this.prepared.get(id);
  };

  /** Every identity policy that applies to a principal, with where it comes from. The root has none (it needs none). */
  async policySources(principal: Principal): Promise<PolicySource[]> {
    const out: PolicySource[] = [];
    if (principal.kind === 'user') {
      const user = principal.userName;
      for (const name of await this.iam.listUserPolicies(user)) {
        const rec = await this.iam.getUserPolicy(user, name);
        if (rec) out.push({ name, type: 'user', sourceId: user, document: rec.document });
      }
      await this.addManaged(out, 'user', user);
      for (const g of await this.iam.groups.groupsForUser(user)) {
        for (const name of await this.iam.groups.listPolicies(g.groupName)) {
          const rec = await this.iam.groups.getPolicy(g.groupName, name);
          if (rec) out.push({ name, type: 'group', sourceId: g.groupName, document: rec.document });
        }
        await this.addManaged(out, 'group', g.groupName);
      }
    } else if (principal.kind === 'assumed-role') {
      const role = principal.roleName;
      for (const name of await this.iam.roles.listPolicies(role)) {
        const rec = await this.iam.roles.getPolicy(role, name);
        if (rec) out.push({ name, type: 'role', sourceId: role, document: rec.document });
      }
      await this.addManaged(out, 'role', role);
    }
    return out;
  }

  private async addManaged(out: PolicySource[], target: 'user' | 'group' | 'role', name: string): Promise<void> {
    for (const m of await this.iam.policies.attachedDocuments(target, name)) {
      if (out.some((s) => s.type === 'managed' && s.sourceId === m.arn)) continue; // attached twice (user and group): once is enough
      out.push({ name: m.policyName, type: 'managed', sourceId: m.arn, document: m.document });
    }
  }

  /** A parsed identity policy, cached by its text. */
  parsed(text: string): PolicyDocument {
    let doc = this.policyCache.get(text);
    if (!doc) {
      doc = parsePolicyDocument(text, { kind: 'identity' });
      if (this.policyCache.size > 1000) this.policyCache.clear();
      this.policyCache.set(text, doc);
    }
    return doc;
  }

  /**
   * The IAM store's version (iam.version()). SQLite's is a local query, so a reading less
   * than a millisecond old is reused — one request reads it when its credential is prepared
   * and again when it is authorized. Writes made through this process's IAM and STS API call
   * changed() (http handler), so they apply on the very next request; commits of other
   * processes (`coffer user`) show within that millisecond. PostgreSQL's (asynchronous) is
   * read for every use, never reused: another node's write must apply to the very next
   * request here, and only a reading taken after that write was answered can show it:
   * `reading`, the request's own (taken after it began), is one.
   */
  private async storeVersion(fresh = false, reading?: Promise<string>): Promise<string | undefined> {
    if (!this.iam.version) return undefined;
    if (!fresh && reading !== undefined) return reading;
    const now = performance.now();
    if (!fresh && this.seen !== undefined && now - this.seen.at < 1) return this.seen.version;
    const version = this.iam.version();
    if (typeof version !== 'string') {
      this.versionWaits = true;
      return version;
    }
    this.seen = { version, at: now };
    return version;
  }
  private seen: { version: string; at: number } | undefined;
  /** Set once version() has answered with a promise (PostgreSQL): never read synchronously then. */
  private versionWaits = false;

  /** storeVersion() when it is known without waiting: a reading under a millisecond old, or SQLite's local query. */
  private versionNow(): string | undefined {
    if (!this.iam.version || this.versionWaits) return undefined;
    const now = performance.now();
    if (this.seen !== undefined && now - this.seen.at < 1) return this.seen.version;
    const version = this.iam.version();
    if (typeof version !== 'string') {
      this.versionWaits = true;
      version.catch(() => undefined);
      return undefined;
    }
    this.seen = { version, at: now };
    return version;
  }

  /**
   * Whether prepare() has nothing to do for this access key (the root's, or a key prepared
   * at the store's current version whose use was noted within the minute): the caller may
   * skip it. Never for session credentials, whose record is read on every request.
   */
  readonly credentialReady = (accessKeyId: string | undefined): boolean => {
    if (!accessKeyId || accessKeyId === this.root.credential.accessKeyId) return true;
    if (accessKeyId.startsWith('ASIA')) return false;
    const last = this.lastNoted.get(accessKeyId);
    if (last === undefined || Date.now() - last >= 60_000) return false;
    const version = this.versionNow();
    return version !== undefined && this.preparedAt.get(accessKeyId) === version && this.prepared.has(accessKeyId);
  };

  /**
   * A reading of the store's version taken now, for one request to share between prepare()
   * and identityPolicies() (their `iamVersion`), when it is a round trip (PostgreSQL);
   * undefined when the store answers without waiting (SQLite: each reads its own).
   */
  readonly versionReading = (): Promise<string> | undefined => {
    if (!this.iam.version || !this.versionWaits) return undefined;
    const version = this.iam.version();
    if (typeof version === 'string') return undefined;
    version.catch(() => undefined); // its failure reaches whoever awaits it
    return version;
  };

  /** Forget the last version reading: the IAM store was just written by this process. */
  changed(): void {
    this.seen = undefined;
  }

  /** A principal's identity-based policies (see policySources); `iamVersion` as for prepare(). */
  readonly identityPolicies = async (principal: Principal, iamVersion?: Promise<string>): Promise<NamedPolicy[]> => {
    // One array for every root request: callers may remember decisions per array (kms/decision-memo.ts).
    if (principal.kind === 'root') return ROOT_POLICIES;
    // Cached per principal while the store is unchanged (any IAM write or CLI commit moves its version).
    const id = principal.kind === 'assumed-role' ? `role:${principal.roleName}` : `user:${principal.userName}`;
    const version = await this.storeVersion(false, iamVersion);
    const hit = this.policiesOf.get(id);
    if (version !== undefined && hit?.version === version) return hit.policies;
    const policies = (await this.policySources(principal)).map((s) => ({ name: s.name, document: this.parsed(s.document) }));
    // Kept under the version read before the reads, if no write landed while they ran.
    if (version !== undefined && (await this.storeVersion(true)) === version) {
      if (this.policiesOf.size > 10_000) this.policiesOf.clear();
      this.policiesOf.set(id, { version, policies });
    }
    return policies;
  };
  private readonly policiesOf = new Map<string, { version: string; policies: NamedPolicy[] }>();

  /** identityPolicies' answer when it is at hand without waiting (cached at the store's current version); undefined otherwise. */
  readonly identityPoliciesNow = (principal: Principal): NamedPolicy[] | undefined => {
    if (principal.kind === 'root') return ROOT_POLICIES;
    const version = this.versionNow();
    if (version === undefined) return undefined;
    const hit = this.policiesOf.get(principal.kind === 'assumed-role' ? `role:${principal.roleName}` : `user:${principal.userName}`);
    return hit?.version === version ? hit.policies : undefined;
  };
  // (The same array is returned while the store is unchanged: the KMS remembers allow
  // decisions per array, so a new array after any IAM write makes it decide afresh.)

  /** The session policy that limits a role session, if it has one. */
  readonly sessionPolicy = (principal: Principal): NamedPolicy | undefined => {
    if (principal.kind !== 'assumed-role' || principal.sessionPolicy === undefined) return undefined;
    return { name: 'session-policy', document: this.parsed(principal.sessionPolicy) };
  };
}
