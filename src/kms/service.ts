// The KMS as an in-process service. The JSON API (handler.ts) and S3's SSE-KMS path
// both call it, so every use of a key — direct or on a user's behalf — goes through
// the same key resolution, key-state checks, authorization (key policy, the caller's
// identity policies, grants) and audit.

import type { Logger } from 'pino';
import type { Principal } from '../auth/types.js';
import { authorize, accessDeniedMessage, parsePolicyDocument, type NamedPolicy, type PolicyDocument, type RequestContext, type RequestPrincipal } from '../iam/policy/index.js';
import type { RootKeyProvider } from '../custody/root-key.js';
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { openKeyMaterial, openSecret, type KeyMaterial } from './format/key-material.js';
import { runtimeLimitation, secretKind } from './key-specs.js';
import { isKeyId } from './format/key-id.js';
import type { AliasRecord, GrantRecord, KeyMaterialRecord, KmsKeyRecord, KmsStore } from './store/types.js';
import { kmsError } from './errors.js';
import { checkKeyState, type KeyUse } from './key-state.js';
import { requestPrincipal } from '../iam/principal.js';
import { DecisionMemo, decisionEntry } from './decision-memo.js';
import type { AuditCaller, AuditEvent, AuditSink } from '../audit/sink.js';

export { requestPrincipal };

/** Who is calling, and how: the principal, where from, and whether via another service (S3). */
export interface Caller extends AuditCaller {
  secureTransport: boolean;
  /** A session policy that limits the caller (assumed roles), when there is one. */
  sessionPolicy?: NamedPolicy;
  /** IAM's version as read for this request (PostgreSQL): identityPolicies uses it instead of reading it again. */
  iamVersion?: Promise<string>;
}

/** Narrows which of the caller's grants may allow a request (e.g. CreateGrant through a grant). */
export interface AuthorizeOptions {
  /** Replaces the default test (operation listed, constraints met by the encryption context). */
  grantMatch?: (g: GrantRecord) => boolean;
}

export interface KmsServiceDeps {
  store: KmsStore;
  rootKey: RootKeyProvider;
  accountId: string;
  region: string;
  /**
   * The caller's identity-based policies (user inline policies, groups, roles). Allow
   * decisions are remembered per returned array (decision-memo.ts): an implementation must
   * return a new array whenever the policies may have changed (a cached one only while its
   * store is unchanged).
   */
  identityPolicies(principal: Principal, iamVersion?: Promise<string>): Promise<NamedPolicy[]>;
  /** identityPolicies when its answer is at hand without waiting (the same array it would give); undefined: call identityPolicies. */
  identityPoliciesNow?(principal: Principal): NamedPolicy[] | undefined;
  /** The session policy limiting a role session (AssumeRole's Policy), if any. */
  sessionPolicy?(principal: Principal): NamedPolicy | undefined;
  audit: AuditSink;
  log: Logger;
  now?: () => number;
}

export class KmsService {
  readonly store: KmsStore;
  readonly accountId: string;
  readonly region: string;
  private readonly deps: KmsServiceDeps;
  private readonly materials = new Map<string, Unsealed<KeyMaterial>>();
  private readonly secrets = new Map<string, Unsealed<{ privateKey: KeyObject } | { hmacKey: Buffer }>>();
  private readonly policies = new Map<string, { text: string; doc: PolicyDocument }>();
  private readonly decisions = new DecisionMemo();

  constructor(deps: KmsServiceDeps) {
    this.deps = deps;
    this.store = deps.store;
    this.accountId = deps.accountId;
    this.region = deps.region;
  }

  now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  get rootKey(): RootKeyProvider {
    return this.deps.rootKey;
  }

  get log(): Logger {
    return this.deps.log;
  }

  keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }

  aliasArn(aliasName: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:${aliasName}`;
  }

  /**
   * Resolves a key id, key ARN, alias name or alias ARN (where allowed) to a key,
   * with AWS's NotFoundException messages.
   */
  async resolveKey(ref: unknown, opts: { allowAlias: boolean; field?: string }): Promise<KmsKeyRecord> {
    return this.resolveKeyNow(ref, opts);
  }

  /**
   * resolveKey without a promise when the store answers synchronously (getKeyNow); its
   * refusals are thrown. For the data plane, whose callers test for a promise.
   */
  resolveKeyNow(ref: unknown, opts: { allowAlias: boolean; field?: string }): KmsKeyRecord | Promise<KmsKeyRecord> {
    const field = opts.field ?? 'keyId';
    if (typeof ref !== 'string' || ref.length === 0) throw kmsError('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
    if (ref.length > 2048) throw kmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length less than or equal to 2048`);
    if (ref.startsWith('arn:')) {
      const m = /^arn:aws:kms:([^:]*):(\d{12}):(key|alias)\/(.+)$/.exec(ref);
      if (!m) throw kmsError('NotFoundException', `Invalid arn ${ref}`);
      if (m[1] !== this.region) throw kmsError('NotFoundException', `Invalid arn ${m[1]}`);
      if (m[3] === 'alias') {
        if (!opts.allowAlias) throw kmsError('NotFoundException', `Invalid keyId '${ref}'`);
        // An alias ARN names its account's alias: this KMS holds no other account's aliases.
        if (m[2] !== this.accountId) throw kmsError('NotFoundException', `Alias ${ref} is not found.`);
        return this.aliasedKey(`alias/${m[4]}`, ref);
      }
      if (m[2] !== this.accountId) throw kmsError('NotFoundException', `Key '${ref}' does not exist`);
      return this.keyById(m[4]!);
    }
    if (ref.startsWith('alias/')) {
      if (!opts.allowAlias) throw kmsError('NotFoundException', `Invalid keyId '${ref}'`);
      return this.aliasedKey(ref, this.aliasArn(ref));
    }
    if (!isKeyId(ref)) throw kmsError('NotFoundException', `Invalid keyId '${ref}'`);
    return this.keyById(ref);
  }

  private keyById(keyId: string): KmsKeyRecord | Promise<KmsKeyRecord> {
    if (this.store.getKeyNow) return this.foundKey(keyId, this.store.getKeyNow(keyId));
    return this.store.getKey(keyId).then((key) => this.foundKey(keyId, key));
  }

  private foundKey(keyId: string, key: KmsKeyRecord | undefined): KmsKeyRecord {
    if (!key) throw kmsError('NotFoundException', `Key '${this.keyArn(keyId)}' does not exist`);
    return key;
  }

  private aliasedKey(aliasName: string, shown: string): KmsKeyRecord | Promise<KmsKeyRecord> {
    const target = (alias: AliasRecord | undefined): KmsKeyRecord | Promise<KmsKeyRecord> => {
      if (!alias) throw kmsError('NotFoundException', `Alias ${shown} is not found.`);
      return this.keyById(alias.keyId);
    };
    if (this.store.getAliasNow) return target(this.store.getAliasNow(aliasName));
    return this.store.getAlias(aliasName).then(target);
  }

  /** Key-state rules (key-state.ts): crypto needs Enabled; management refuses PendingDeletion; reads work in every state. */
  checkState(key: KmsKeyRecord, use: KeyUse): void {
    checkKeyState(key, use);
  }

  /**
   * One authorization decision: the key policy (primary), the caller's identity policies
   * (when the key policy delegates to the account), and grants for grantable operations.
   * Throws AccessDeniedException with AWS's message.
   */
  async authorize(caller: Caller, key: KmsKeyRecord, action: string, conditions: Record<string, string | string[] | boolean | undefined> = {}, encryptionContext?: Record<string, string>, opts: AuthorizeOptions = {}): Promise<void> {
    return this.authorizeNow(caller, key, action, conditions, encryptionContext, opts);
  }

  /**
   * authorize without a promise when the grants and the caller's identity policies are at
   * hand synchronously (the embedded stores; listGrantsNow, identityPoliciesNow); its
   * refusal is thrown. For the data plane, whose callers test for a promise.
   */
  authorizeNow(caller: Caller, key: KmsKeyRecord, action: string, conditions: Record<string, string | string[] | boolean | undefined> = {}, encryptionContext?: Record<string, string>, opts: AuthorizeOptions = {}): void | Promise<void> {
    const now = this.now();
    const grant = this.matchingGrant(caller, key, action.slice('kms:'.length), encryptionContext, opts.grantMatch);
    const identity = this.deps.identityPoliciesNow?.(caller.principal) ?? this.deps.identityPolicies(caller.principal, caller.iamVersion);
    const decide = (g: GrantRecord | undefined, ip: NamedPolicy[]): void | Promise<void> => {
      const sessionPolicy = caller.sessionPolicy ?? this.deps.sessionPolicy?.(caller.principal);
      const keyPolicy = this.keyPolicy(key);
      // The key's tags and aliases are read only for a decision whose policies name them.
      if (!readsKeyFacts(keyPolicy, ip, sessionPolicy)) return this.decide(caller, key, action, conditions, encryptionContext, now, g, ip, sessionPolicy, keyPolicy);
      return this.keyFacts(key).then((facts) => this.decide(caller, key, action, { ...facts, ...conditions }, encryptionContext, now, g, ip, sessionPolicy, keyPolicy));
    };
    if (grant instanceof Promise || identity instanceof Promise) {
      return Promise.all([grant, identity]).then(([g, ip]) => decide(g, ip));
    }
    return decide(grant, identity);
  }

  /** aws:ResourceTag/<key> (the key's tags) and kms:ResourceAliases (its alias names), as the store holds them now. */
  private async keyFacts(key: KmsKeyRecord): Promise<Record<string, string | string[]>> {
    const [tags, aliases] = await Promise.all([this.store.getTags(key.keyId), this.store.listAliases(key.keyId)]);
    const facts: Record<string, string | string[]> = { 'kms:ResourceAliases': aliases.map((a) => a.aliasName) };
    for (const t of tags) facts[`aws:ResourceTag/${t.TagKey}`] = t.TagValue;
    return facts;
  }

  private decide(caller: Caller, key: KmsKeyRecord, action: string, conditions: Record<string, string | string[] | boolean | undefined>, encryptionContext: Record<string, string> | undefined, now: number, grant: GrantRecord | undefined, identityPolicies: NamedPolicy[], sessionPolicy: NamedPolicy | undefined, keyPolicy: PolicyDocument): void {
    // An allow that rested on these very policy objects and nothing of the request beyond
    // (action, key, principal) holds again (decision-memo.ts); anything else is decided here.
    const remembered = grant === undefined && sessionPolicy === undefined ? this.decisions.allows(keyPolicy, identityPolicies) : undefined;
    const entry = remembered && decisionEntry(action, key.arn, key.accountId, caller.principal);
    if (entry !== undefined && remembered!.has(entry)) return;
    const ctx = new KeyRequestContext(requestPrincipal(caller.principal), action, key.arn, () => ({
      'kms:CallerAccount': caller.principal.accountId,
      'kms:ViaService': caller.viaService,
      'aws:SecureTransport': caller.secureTransport ? 'true' : 'false',
      'aws:SourceIp': caller.sourceIp,
      'aws:CurrentTime': new Date(now).toISOString(),
      'aws:PrincipalArn': caller.principal.arn,
      ...keyProperties(key),
      ...contextConditions(encryptionContext),
      ...conditions,
    } as RequestContext['conditions']));
    const decision = authorize({
      identityPolicies,
      resourcePolicies: [{ name: 'default', document: keyPolicy }],
      sessionPolicy,
      ctx,
      resourceAccountId: key.accountId,
      resourcePolicyMode: 'kms',
      extraAllow: grant ? { reason: `grant ${grant.grantId}` } : undefined,
    });
    if (decision.effect !== 'Allow') throw kmsError('AccessDeniedException', accessDeniedMessage(ctx, decision));
    if (entry !== undefined && !ctx.gathered) this.decisions.remember(remembered!, entry);
  }

  private keyPolicy(key: KmsKeyRecord): PolicyDocument {
    const cached = this.policies.get(key.keyId);
    if (cached && cached.text === key.policy) return cached.doc;
    const doc = parsePolicyDocument(key.policy, { kind: 'resource' });
    this.policies.set(key.keyId, { text: key.policy, doc });
    return doc;
  }

  /** A grant of this key to the caller for the operation, whose constraints the encryption context meets (synchronously when the store can: listGrantsNow). */
  private matchingGrant(caller: Caller, key: KmsKeyRecord, operation: string, context: Record<string, string> | undefined, match?: (g: GrantRecord) => boolean): GrantRecord | undefined | Promise<GrantRecord | undefined> {
    const pick = (grants: GrantRecord[]): GrantRecord | undefined => {
      for (const g of grants) {
        if (g.granteePrincipal !== caller.principal.arn) continue;
        if (match) {
          if (!match(g)) continue;
        } else {
          if (!g.operations.includes(operation)) continue;
          if (!grantConstraintsMet(g, context)) continue;
        }
        return g;
      }
      return undefined;
    };
    if (this.store.listGrantsNow) return pick(this.store.listGrantsNow(key.keyId));
    return this.store.listGrants(key.keyId).then(pick);
  }

  /**
   * Authorizes an action that has no key as its resource (kms:ListRetirableGrants,
   * kms:CreateKey, kms:ListKeys) or whose other resource is an alias (kms:CreateAlias on
   * alias/NAME): the caller's identity policies alone; the account root has every
   * identity permission.
   */
  async authorizeIdentity(caller: Caller, action: string, resource = '*', conditions: Record<string, string | string[] | boolean | undefined> = {}): Promise<void> {
    const ctx: RequestContext = {
      principal: requestPrincipal(caller.principal),
      action,
      resource,
      conditions: { 'kms:CallerAccount': caller.principal.accountId, 'aws:SecureTransport': caller.secureTransport ? 'true' : 'false', 'aws:SourceIp': caller.sourceIp, 'aws:PrincipalArn': caller.principal.arn, ...conditions } as RequestContext['conditions'],
    };
    const decision = authorize({
      identityPolicies: await this.deps.identityPolicies(caller.principal, caller.iamVersion),
      resourcePolicies: [],
      sessionPolicy: caller.sessionPolicy ?? this.deps.sessionPolicy?.(caller.principal),
      ctx,
      resourceAccountId: this.accountId,
      resourcePolicyMode: 's3',
    });
    if (decision.effect !== 'Allow') throw kmsError('AccessDeniedException', `User: ${caller.principal.arn} is not authorized to perform: ${action}${resource === '*' ? '' : ` on resource: ${resource}`} ${decision.reason}`);
  }

  /**
   * An unsealed item cached for `key` as read now: valid while the key record is at the
   * revision it was checked at. Every change of a key's material (an import, a deletion
   * of imported material, a rotation) writes the key record and so moves its revision on,
   * on whichever node it happens; a request reads the record first, so a cache entry of
   * this node never outlives a change made on another. At a new revision the stored
   * sealed bytes are read again: the same bytes keep the entry (no unseal), others drop it.
   */
  private async cached<T>(cache: Map<string, Unsealed<T>>, key: KmsKeyRecord, version: number, missing: string): Promise<{ hit: T } | { rec: KeyMaterialRecord; keep: (value: T) => void }> {
    const cacheKey = `${key.keyId}/${version}`;
    const hit = cache.get(cacheKey);
    if (hit && key.revision !== undefined && hit.revision === key.revision) return { hit: hit.value };
    const rec = await this.store.getMaterial(key.keyId, version);
    if (!rec || rec.sealed.length === 0) {
      cache.delete(cacheKey);
      if (!rec) throw kmsError('KMSInternalException', missing);
      // Imported material that was deleted (or expired): only the same material imported again brings it back.
      throw kmsError('KMSInvalidStateException', `${key.arn} key material (id: ${rec.materialId}) is deleted; import the same key material again to use it.`);
    }
    const sealed = createHash('sha256').update(rec.sealed).digest('base64');
    if (hit && hit.sealed === sealed) {
      hit.revision = key.revision;
      return { hit: hit.value };
    }
    return {
      rec,
      keep: (value) => {
        if (cache.size > 10_000) cache.clear();
        cache.set(cacheKey, { value, revision: key.revision, sealed });
      },
    };
  }

  /**
   * The cached material of a key version when the cache holds it for the key's current
   * revision, without a store read or a promise; undefined otherwise (then material()).
   */
  cachedMaterial(key: KmsKeyRecord, version = key.currentVersion): KeyMaterial | undefined {
    const hit = this.materials.get(`${key.keyId}/${version}`);
    return hit && key.revision !== undefined && hit.revision === key.revision ? hit.value : undefined;
  }

  /** The unsealed material of a key version, cached in memory (never logged, never persisted in the clear). */
  async material(key: KmsKeyRecord, version = key.currentVersion): Promise<KeyMaterial> {
    const found = await this.cached(this.materials, key, version, 'The key material for this ciphertext is not available.');
    if ('hit' in found) return found.hit;
    const rec = found.rec;
    let material: KeyMaterial;
    try {
      material = await openKeyMaterial(this.deps.rootKey, key.keyId, version, rec.sealed);
    } catch (e) {
      this.deps.log.error({ keyId: key.keyId, version, kind: (e as { kind?: string }).kind }, 'cannot open key material');
      throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
    }
    found.keep(material);
    return material;
  }

  /**
   * The unsealed secret of an asymmetric or HMAC key (current version): its private key as a
   * KeyObject, or its HMAC key bytes, cached in memory. The key's spec names the kind its
   * record must hold; anything else fails as the material of a symmetric key does.
   */
  async secret(key: KmsKeyRecord): Promise<{ privateKey: KeyObject } | { hmacKey: Buffer }> {
    const kind = secretKind(key.keySpec);
    // An ML-DSA key made on a node whose Node has ML-DSA, used on one whose Node has not.
    const limitation = runtimeLimitation(key.keySpec);
    if (limitation) throw kmsError('UnsupportedOperationException', `${key.arn} key spec is ${key.keySpec}: ${limitation}.`);
    if (kind === undefined) throw kmsError('KMSInternalException', 'The key material of this key is not available.');
    const found = await this.cached(this.secrets, key, key.currentVersion, 'The key material of this key is not available.');
    if ('hit' in found) return found.hit;
    const rec = found.rec;
    let out: { privateKey: KeyObject } | { hmacKey: Buffer };
    try {
      const bytes = await openSecret(this.deps.rootKey, key.keyId, key.currentVersion, kind, rec.sealed);
      if (kind === 'hmac') out = { hmacKey: bytes };
      else {
        try {
          out = { privateKey: createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }) };
        } finally {
          bytes.fill(0);
        }
      }
    } catch (e) {
      this.deps.log.error({ keyId: key.keyId, version: key.currentVersion, kind: (e as { kind?: string }).kind }, 'cannot open key material');
      throw kmsError('KMSInternalException', 'KMS cannot use the key material of this key.');
    }
    found.keep(out);
    return out;
  }

  /** Forgets cached material of a deleted key. */
  forget(keyId: string): void {
    for (const k of this.materials.keys()) if (k.startsWith(keyId + '/')) this.materials.delete(k);
    for (const k of this.secrets.keys()) if (k.startsWith(keyId + '/')) this.secrets.delete(k);
    this.policies.delete(keyId);
  }

  /** Resolves once the event is durable; rejects with AuditUnavailableError when it cannot be stored. */
  audit(event: AuditEvent): Promise<void> {
    return this.deps.audit.record(event);
  }

  /** Throws AuditUnavailableError while the audit log cannot be written: check before acting. */
  checkAuditWritable(): void {
    this.deps.audit.checkWritable();
  }
}

/**
 * The request context of a decision on a key. Its condition keys are gathered only when a
 * policy statement has a condition to test them against (the policy engine reads them
 * through buildContextMap, lazily): the default key policy has none.
 */
class KeyRequestContext implements RequestContext {
  #conditions: RequestContext['conditions'] | undefined;

  constructor(
    readonly principal: RequestPrincipal,
    readonly action: string,
    readonly resource: string,
    private readonly gather: () => RequestContext['conditions'],
  ) {}

  get conditions(): RequestContext['conditions'] {
    return (this.#conditions ??= this.gather());
  }

  /** Whether the decision read any condition key or policy variable (then it depended on this request). */
  get gathered(): boolean {
    return this.#conditions !== undefined;
  }
}

/** An unsealed item, the key revision it was last checked at, and a digest of the sealed bytes it came from. */
interface Unsealed<T> {
  value: T;
  revision: number | undefined;
  sealed: string;
}

/**
 * The condition keys a key's properties answer on every operation on the key (AWS's "KMS key
 * resource operations"): kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, kms:MultiRegion (every
 * key here is single-Region: false; kms:MultiRegionKeyType exists only for multi-Region
 * keys) and the deprecated kms:CustomerMasterKeySpec and kms:CustomerMasterKeyUsage, which
 * AWS still answers with the same values.
 */
export function keyProperties(key: Pick<KmsKeyRecord, 'keySpec' | 'keyUsage' | 'origin'>): Record<string, string> {
  return {
    'kms:KeySpec': key.keySpec,
    'kms:KeyUsage': key.keyUsage,
    'kms:KeyOrigin': key.origin,
    'kms:MultiRegion': 'false',
    'kms:CustomerMasterKeySpec': key.keySpec,
    'kms:CustomerMasterKeyUsage': key.keyUsage,
  };
}

/** Whether a policy of the decision names aws:ResourceTag/<key> or kms:ResourceAliases (as a condition key or a policy variable). */
function readsKeyFacts(keyPolicy: PolicyDocument, identityPolicies: NamedPolicy[], sessionPolicy: NamedPolicy | undefined): boolean {
  if (namesKeyFacts(keyPolicy)) return true;
  for (const p of identityPolicies) if (namesKeyFacts(p.document)) return true;
  return sessionPolicy !== undefined && namesKeyFacts(sessionPolicy.document);
}

const keyFactsNamed = new WeakMap<PolicyDocument, boolean>();

function namesKeyFacts(doc: PolicyDocument): boolean {
  let named = keyFactsNamed.get(doc);
  if (named === undefined) {
    const facts = (s: string) => s.startsWith('aws:resourcetag/') || s === 'kms:resourcealiases';
    const variable = (v: string) => /\$\{(aws:resourcetag\/|kms:resourcealiases)/i.test(v);
    named = doc.statements.some((st) => st.conditions.some((c) => facts(c.keyLower) || c.values.some(variable)));
    keyFactsNamed.set(doc, named);
  }
  return named;
}

function contextConditions(ec: Record<string, string> | undefined): Record<string, string | string[]> {
  if (!ec) return {};
  const out: Record<string, string | string[]> = { 'kms:EncryptionContextKeys': Object.keys(ec) };
  for (const [k, v] of Object.entries(ec)) out[`kms:EncryptionContext:${k}`] = v;
  return out;
}

export function grantConstraintsMet(g: GrantRecord, context: Record<string, string> | undefined): boolean {
  const c = g.constraints;
  if (!c) return true;
  const ec = context ?? {};
  if (c.encryptionContextEquals) {
    const want = c.encryptionContextEquals;
    const keys = Object.keys(want);
    if (keys.length !== Object.keys(ec).length) return false;
    if (!keys.every((k) => ec[k] === want[k])) return false;
  }
  if (c.encryptionContextSubset) {
    const want = c.encryptionContextSubset;
    if (!Object.keys(want).every((k) => ec[k] === want[k])) return false;
  }
  return true;
}
