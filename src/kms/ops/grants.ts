// Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and
// validateGrantTokens for the operations that accept GrantTokens.
//
// A grant lets its grantee principal use one key for the listed operations, optionally
// only with a matching encryption context. Coffer's grants are strongly consistent — a
// grant works the moment CreateGrant returns — so a grant token adds no permission; it
// must only be one Coffer issued (it parses). A token names its grant id, so every token
// of a grant (a Name retry returns a fresh token for the same grant) retires it.
//
//   token = base64url( 0x01 || grantId (32 bytes) || random (16 bytes) )

import { randomBytes } from 'node:crypto';
import type { KmsOperation, KmsInput } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import type { GrantConstraints, GrantRecord, KmsKeyRecord } from '../store/types.js';
import { KmsStoreConflict } from '../store/types.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { listLimit } from './rotation.js';

/** CreateGrant's Operations enum, in the API model's order. */
export const GRANT_OPERATIONS = [
  'Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'Sign', 'Verify',
  'GetPublicKey', 'CreateGrant', 'RetireGrant', 'DescribeKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac', 'VerifyMac', 'DeriveSharedSecret',
] as const;
const GRANT_OPERATION_SET: ReadonlySet<string> = new Set(GRANT_OPERATIONS);

export const MAX_GRANTS_PER_KEY = 50_000;
const MAX_GRANT_TOKENS = 10;
const PRINCIPAL_PATTERN = /^[\w+=,.@:/-]+$/;
const NAME_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
const GRANT_ID_PATTERN = /^[0-9a-f]{64}$/;
const LIST_GRANTS_DEFAULT_LIMIT = 50;

// Layout of a grant token v1. Changing it invalidates every token handed out.
const TOKEN_VERSION = 0x01;
const TOKEN_GRANT_ID_BYTES = 32;
const TOKEN_RANDOM_BYTES = 16;
const TOKEN_BYTES = 1 + TOKEN_GRANT_ID_BYTES + TOKEN_RANDOM_BYTES;

const seconds = (ms: number): number => ms / 1000;

// ---- grant tokens ----

function newGrantToken(grantId: string): string {
  return Buffer.concat([Buffer.from([TOKEN_VERSION]), Buffer.from(grantId, 'hex'), randomBytes(TOKEN_RANDOM_BYTES)]).toString('base64url');
}

/** The grant id a token names, or undefined if the token is not one Coffer issued. */
export function grantIdOfToken(token: unknown): string | undefined {
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const raw = Buffer.from(token, 'base64url');
  if (raw.length !== TOKEN_BYTES || raw[0] !== TOKEN_VERSION || raw.toString('base64url') !== token) return undefined;
  return raw.subarray(1, 1 + TOKEN_GRANT_ID_BYTES).toString('hex');
}

function invalidGrantToken(): Error {
  return kmsError('InvalidGrantTokenException', 'Invalid grant token.');
}

/**
 * Checks the GrantTokens member of a request (Encrypt, Decrypt, GenerateDataKey, ...,
 * CreateGrant): at most 10, each a token Coffer issued (InvalidGrantTokenException
 * otherwise). Grants are strongly consistent, so a token grants nothing by itself.
 */
export function validateGrantTokens(_svc: KmsService, tokens: unknown): void {
  if (tokens === undefined || tokens === null) return;
  if (!Array.isArray(tokens)) throw kmsError('SerializationException', 'Start of list found where not expected');
  if (tokens.length > MAX_GRANT_TOKENS) {
    throw kmsError('ValidationException', `1 validation error detected: Value '[${tokens.join(', ')}]' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to ${MAX_GRANT_TOKENS}`);
  }
  for (const t of tokens) {
    if (typeof t !== 'string' || t.length === 0 || t.length > 8192) throw invalidGrantToken();
    if (grantIdOfToken(t) === undefined) throw invalidGrantToken();
  }
}

// ---- validation ----

/** Collects model violations and throws them as one ValidationException, as AWS words it. */
class Violations {
  private readonly list: string[] = [];
  add(field: string, constraint: string, value?: string): void {
    this.list.push(`Value${value === undefined ? '' : ` '${value}'`} at '${field}' failed to satisfy constraint: ${constraint}`);
  }
  missing(field: string): void {
    this.list.push(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  }
  throwIfAny(): void {
    if (this.list.length === 0) return;
    const n = this.list.length;
    throw kmsError('ValidationException', `${n} validation error${n === 1 ? '' : 's'} detected: ${this.list.join('; ')}`);
  }
}

function checkPrincipal(v: Violations, field: string, value: unknown, required: boolean): void {
  if (value === undefined || value === null) {
    if (required) v.missing(field);
    return;
  }
  const s = String(value);
  if (s.length < 1) v.add(field, 'Member must have length greater than or equal to 1', s);
  else if (s.length > 256) v.add(field, 'Member must have length less than or equal to 256', s);
  else if (!PRINCIPAL_PATTERN.test(s)) v.add(field, `Member must satisfy regular expression pattern: ${PRINCIPAL_PATTERN.source}`, s);
}

function checkGrantId(v: Violations, value: unknown, required: boolean): void {
  if (value === undefined || value === null) {
    if (required) v.missing('grantId');
    return;
  }
  const s = String(value);
  if (s.length < 1) v.add('grantId', 'Member must have length greater than or equal to 1', s);
  else if (s.length > 128) v.add('grantId', 'Member must have length less than or equal to 128', s);
}

function contextMap(v: Violations, field: string, value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((x) => typeof x === 'string')) {
    throw kmsError('SerializationException', `Start of structure or map found where not expected at '${field}'.`);
  }
  return { ...(value as Record<string, string>) };
}

function parseConstraints(v: Violations, value: unknown): GrantConstraints | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw kmsError('SerializationException', "Start of structure or map found where not expected at 'constraints'.");
  const c = value as Record<string, unknown>;
  const out: GrantConstraints = {};
  const equals = contextMap(v, 'constraints.encryptionContextEquals', c.EncryptionContextEquals);
  const subset = contextMap(v, 'constraints.encryptionContextSubset', c.EncryptionContextSubset);
  if (equals) out.encryptionContextEquals = equals;
  if (subset) out.encryptionContextSubset = subset;
  return out.encryptionContextEquals || out.encryptionContextSubset ? out : undefined;
}

// ---- CreateGrant ----

interface GrantRequest {
  granteePrincipal: string;
  retiringPrincipal?: string;
  operations: string[];
  constraints?: GrantConstraints;
  name?: string;
}

function parseCreateGrant(input: KmsInput): GrantRequest {
  const v = new Violations();
  checkPrincipal(v, 'granteePrincipal', input.GranteePrincipal, true);
  checkPrincipal(v, 'retiringPrincipal', input.RetiringPrincipal, false);
  const ops = input.Operations;
  if (ops === undefined || ops === null) v.missing('operations');
  else if (!Array.isArray(ops)) throw kmsError('SerializationException', "Start of list found where not expected at 'operations'.");
  else if (ops.length === 0) v.add('operations', 'Member must have length greater than or equal to 1', '[]');
  else if (!ops.every((o) => typeof o === 'string' && GRANT_OPERATION_SET.has(o))) {
    v.add('operations', `Member must satisfy constraint: [Member must satisfy enum value set: [${GRANT_OPERATIONS.join(', ')}]]`, `[${ops.join(', ')}]`);
  }
  const name = input.Name;
  if (name !== undefined && name !== null) {
    const s = String(name);
    if (s.length < 1) v.add('name', 'Member must have length greater than or equal to 1', s);
    else if (s.length > 256) v.add('name', 'Member must have length less than or equal to 256', s);
    else if (!NAME_PATTERN.test(s)) v.add('name', `Member must satisfy regular expression pattern: ${NAME_PATTERN.source}`, s);
  }
  const constraints = parseConstraints(v, input.Constraints);
  v.throwIfAny();
  const req: GrantRequest = {
    granteePrincipal: String(input.GranteePrincipal),
    operations: [...new Set(ops as string[])],
  };
  if (input.RetiringPrincipal !== undefined && input.RetiringPrincipal !== null) req.retiringPrincipal = String(input.RetiringPrincipal);
  if (constraints) req.constraints = constraints;
  if (name !== undefined && name !== null) req.name = String(name);
  return req;
}

function sameContext(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  if (ak.length !== Object.keys(b ?? {}).length) return false;
  return ak.every((k) => b![k] === a![k]);
}

function sameGrant(g: GrantRecord, r: GrantRequest): boolean {
  const ops = new Set(g.operations);
  return (
    g.granteePrincipal === r.granteePrincipal &&
    g.retiringPrincipal === r.retiringPrincipal &&
    ops.size === r.operations.length &&
    r.operations.every((o) => ops.has(o)) &&
    sameContext(g.constraints?.encryptionContextEquals, r.constraints?.encryptionContextEquals) &&
    sameContext(g.constraints?.encryptionContextSubset, r.constraints?.encryptionContextSubset)
  );
}

/** `sub` ⊆ `sup` as maps: every pair of sub is in sup. */
function includes(sup: Record<string, string>, sub: Record<string, string>): boolean {
  return Object.entries(sub).every(([k, val]) => sup[k] === val);
}

/**
 * Whether a child grant's constraint is at least as strict as its parent's (AWS: a grant
 * with CreateGrant and a constraint lets its grantee create only grants "with an equally
 * strict or stricter encryption context constraint").
 */
function atLeastAsStrict(parent: GrantConstraints | undefined, child: GrantConstraints | undefined): boolean {
  if (parent?.encryptionContextEquals) {
    return child?.encryptionContextEquals !== undefined && sameContext(parent.encryptionContextEquals, child.encryptionContextEquals);
  }
  if (parent?.encryptionContextSubset) {
    if (child?.encryptionContextEquals) return includes(child.encryptionContextEquals, parent.encryptionContextSubset);
    if (child?.encryptionContextSubset) return includes(child.encryptionContextSubset, parent.encryptionContextSubset);
    return false;
  }
  return true;
}

/** kms:GrantIsForAWSResource (CreateGrant, ListGrants, RevokeGrant): whether an integrated service (S3 here) calls on the caller's behalf. */
function grantIsForAwsResource(caller: Caller): { 'kms:GrantIsForAWSResource': string } {
  return { 'kms:GrantIsForAWSResource': caller.viaService ? 'true' : 'false' };
}

function constraintType(c: GrantConstraints | undefined): string[] | undefined {
  const t: string[] = [];
  if (c?.encryptionContextEquals) t.push('EncryptionContextEquals');
  if (c?.encryptionContextSubset) t.push('EncryptionContextSubset');
  return t.length ? t : undefined;
}

export const createGrant: KmsOperation = async (svc, caller, input, note) => {
  const req = parseCreateGrant(input);
  validateGrantTokens(svc, input.GrantTokens);
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  note.params = {
    keyId: input.KeyId,
    granteePrincipal: req.granteePrincipal,
    ...(req.retiringPrincipal ? { retiringPrincipal: req.retiringPrincipal } : {}),
    operations: req.operations,
    ...(input.Constraints !== undefined ? { constraints: input.Constraints } : {}),
    ...(req.name ? { name: req.name } : {}),
  };
  await svc.authorize(
    caller,
    key,
    'kms:CreateGrant',
    {
      'kms:GrantOperations': req.operations,
      'kms:GranteePrincipal': req.granteePrincipal,
      'kms:RetiringPrincipal': req.retiringPrincipal,
      'kms:GrantConstraintType': constraintType(req.constraints),
      ...grantIsForAwsResource(caller),
    },
    // kms:EncryptionContext:<key> and kms:EncryptionContextKeys of a CreateGrant are its constraint's context.
    req.constraints?.encryptionContextEquals ?? req.constraints?.encryptionContextSubset,
    // Through a grant, a grantee can pass on only the operations it holds, under a constraint at least as strict.
    { grantMatch: (g) => g.operations.includes('CreateGrant') && req.operations.every((o) => g.operations.includes(o)) && atLeastAsStrict(g.constraints, req.constraints) },
  );
  svc.checkState(key, 'manage');
  if (input.DryRun === true) throw dryRunSucceeded();

  if (req.name) {
    const existing = await svc.store.findGrantByName(key.keyId, req.name);
    if (existing) return retryAnswer(existing, req);
  }
  const grants = await svc.store.listGrants(key.keyId);
  if (grants.length >= MAX_GRANTS_PER_KEY) {
    throw kmsError('LimitExceededException', `The request was rejected because the key ${key.arn} already has the maximum of ${MAX_GRANTS_PER_KEY} grants.`);
  }
  const grantId = randomBytes(32).toString('hex');
  const grantToken = newGrantToken(grantId);
  const record: GrantRecord = {
    grantId,
    keyId: key.keyId,
    granteePrincipal: req.granteePrincipal,
    issuingAccount: `arn:aws:iam::${svc.accountId}:root`,
    operations: req.operations,
    creationDate: svc.now(),
    grantToken,
  };
  if (req.name) record.name = req.name;
  if (req.retiringPrincipal) record.retiringPrincipal = req.retiringPrincipal;
  if (req.constraints) record.constraints = req.constraints;
  try {
    await svc.store.createGrant(record);
  } catch (e) {
    if (!(e instanceof KmsStoreConflict)) throw e;
    if (e.kind === 'NotFound') throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
    // A concurrent retry with the same Name won the race.
    const raced = req.name ? await svc.store.findGrantByName(key.keyId, req.name) : undefined;
    if (!raced) throw e;
    return retryAnswer(raced, req);
  }
  note.params.grantId = grantId;
  return { GrantToken: grantToken, GrantId: grantId };
};

/** A CreateGrant retry with the same Name: the original grant id, a fresh token. */
function retryAnswer(existing: GrantRecord, req: GrantRequest): Record<string, unknown> {
  if (!sameGrant(existing, req)) {
    // AWS would create a second grant with the same name; Coffer's store keeps names
    // unique per key, so a conflicting reuse is refused rather than silently merged.
    throw kmsError('ValidationException', `A grant named '${req.name}' already exists for this key with different parameters.`);
  }
  return { GrantToken: newGrantToken(existing.grantId), GrantId: existing.grantId };
}

// ---- listing ----

function grantEntry(svc: KmsService, g: GrantRecord): Record<string, unknown> {
  const e: Record<string, unknown> = { KeyId: svc.keyArn(g.keyId), GrantId: g.grantId };
  if (g.name !== undefined) e.Name = g.name;
  e.CreationDate = seconds(g.creationDate);
  e.GranteePrincipal = g.granteePrincipal;
  if (g.retiringPrincipal !== undefined) e.RetiringPrincipal = g.retiringPrincipal;
  e.IssuingAccount = g.issuingAccount;
  e.Operations = g.operations;
  if (g.constraints) {
    const c: Record<string, unknown> = {};
    if (g.constraints.encryptionContextSubset) c.EncryptionContextSubset = g.constraints.encryptionContextSubset;
    if (g.constraints.encryptionContextEquals) c.EncryptionContextEquals = g.constraints.encryptionContextEquals;
    e.Constraints = c;
  }
  return e;
}

/** One page of grants; the marker is the id of the last grant of the previous page. */
function page(svc: KmsService, grants: GrantRecord[], input: KmsInput): Record<string, unknown> {
  const limit = listLimit(input.Limit, LIST_GRANTS_DEFAULT_LIMIT);
  let start = 0;
  if (input.Marker !== undefined && input.Marker !== null) {
    const at = typeof input.Marker === 'string' ? grants.findIndex((g) => g.grantId === input.Marker) : -1;
    if (at < 0) throw kmsError('InvalidMarkerException', 'Invalid marker');
    start = at + 1;
  }
  const items = grants.slice(start, start + limit);
  const truncated = start + limit < grants.length;
  const out: Record<string, unknown> = { Grants: items.map((g) => grantEntry(svc, g)), Truncated: truncated };
  if (truncated) out.NextMarker = items[items.length - 1]!.grantId;
  return out;
}

export const listGrants: KmsOperation = async (svc, caller, input, note) => {
  const v = new Violations();
  checkGrantId(v, input.GrantId, false);
  checkPrincipal(v, 'granteePrincipal', input.GranteePrincipal, false);
  v.throwIfAny();
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:ListGrants', grantIsForAwsResource(caller));
  svc.checkState(key, 'read');
  let grants = await svc.store.listGrants(key.keyId);
  if (input.GrantId !== undefined && input.GrantId !== null) grants = grants.filter((g) => g.grantId === input.GrantId);
  if (input.GranteePrincipal !== undefined && input.GranteePrincipal !== null) grants = grants.filter((g) => g.granteePrincipal === input.GranteePrincipal);
  return page(svc, grants, input);
};

export const listRetirableGrants: KmsOperation = async (svc, caller, input) => {
  const v = new Violations();
  checkPrincipal(v, 'retiringPrincipal', input.RetiringPrincipal, true);
  v.throwIfAny();
  await svc.authorizeIdentity(caller, 'kms:ListRetirableGrants');
  const grants = await svc.store.listGrantsByRetiringPrincipal(String(input.RetiringPrincipal));
  return page(svc, grants, input);
};

// ---- retiring and revoking ----

function grantNotFound(grantId: string): Error {
  return kmsError('NotFoundException', `Grant ID ${grantId} not found`);
}

async function grantOfKey(svc: KmsService, key: KmsKeyRecord, grantId: string): Promise<GrantRecord> {
  if (!GRANT_ID_PATTERN.test(grantId)) throw kmsError('InvalidGrantIdException', `Invalid grant ID ${grantId}`);
  const g = await svc.store.getGrant(grantId);
  if (!g || g.keyId !== key.keyId) throw grantNotFound(grantId);
  return g;
}

/**
 * Who may retire a grant (AWS): its retiring principal, its grantee when the grant lists
 * RetireGrant, the account that issued it (root), and principals the account allows
 * kms:RetireGrant through the key policy and IAM policies.
 */
async function authorizeRetire(svc: KmsService, caller: Caller, key: KmsKeyRecord, g: GrantRecord): Promise<void> {
  const arn = caller.principal.arn;
  if (g.retiringPrincipal === arn) return;
  if (g.granteePrincipal === arn && g.operations.includes('RetireGrant')) return;
  if (caller.principal.kind === 'root' && g.issuingAccount === `arn:aws:iam::${caller.principal.accountId}:root`) return;
  // Only this grant's own RetireGrant operation counts among grants (checked above).
  await svc.authorize(caller, key, 'kms:RetireGrant', {}, undefined, { grantMatch: () => false });
}

export const retireGrant: KmsOperation = async (svc, caller, input, note) => {
  note.params = {}; // never the token
  const v = new Violations();
  checkGrantId(v, input.GrantId, false);
  v.throwIfAny();
  let grant: GrantRecord | undefined;
  let key: KmsKeyRecord;
  if (input.GrantToken !== undefined && input.GrantToken !== null) {
    const id = grantIdOfToken(input.GrantToken);
    if (id === undefined) throw invalidGrantToken();
    if (input.GrantId !== undefined && input.GrantId !== null && input.GrantId !== id) throw invalidGrantToken();
    grant = await svc.store.getGrant(id);
    if (!grant) throw grantNotFound(id);
    if (input.KeyId !== undefined && input.KeyId !== null) {
      key = await svc.resolveKey(input.KeyId, { allowAlias: false });
      if (key.keyId !== grant.keyId) throw grantNotFound(id);
    } else {
      const k = await svc.store.getKey(grant.keyId);
      if (!k) throw grantNotFound(id);
      key = k;
    }
  } else {
    if (input.KeyId === undefined || input.KeyId === null || input.GrantId === undefined || input.GrantId === null) {
      throw kmsError('ValidationException', 'Either GrantToken, or both KeyId and GrantId, must be specified.');
    }
    key = await svc.resolveKey(input.KeyId, { allowAlias: false });
    note.keys.push(key);
    grant = await grantOfKey(svc, key, String(input.GrantId));
  }
  if (!note.keys.includes(key)) note.keys.push(key);
  note.params = { keyId: key.arn, grantId: grant.grantId };
  await authorizeRetire(svc, caller, key, grant);
  if (input.DryRun === true) throw dryRunSucceeded();
  if (!(await svc.store.deleteGrant(grant.grantId))) throw grantNotFound(grant.grantId);
  return {};
};

export const revokeGrant: KmsOperation = async (svc, caller, input, note) => {
  const v = new Violations();
  checkGrantId(v, input.GrantId, true);
  v.throwIfAny();
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  note.params = { keyId: input.KeyId, grantId: input.GrantId };
  await svc.authorize(caller, key, 'kms:RevokeGrant', grantIsForAwsResource(caller));
  const grant = await grantOfKey(svc, key, String(input.GrantId));
  if (input.DryRun === true) throw dryRunSucceeded();
  if (!(await svc.store.deleteGrant(grant.grantId))) throw grantNotFound(grant.grantId);
  return {};
};
