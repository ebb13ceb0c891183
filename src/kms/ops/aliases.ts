// Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. An alias names one
// customer managed key; a key may have many. Names are "alias/" plus letters, digits
// and /_- (1-256 characters in all); "alias/aws/" is reserved for AWS managed keys,
// which the service that owns them creates. Changing an alias needs the action on the
// alias (identity policies) and on each key involved (key policies).

import type { KmsInput, KmsOperation } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import type { AliasRecord, KmsKeyRecord } from '../store/types.js';
import { KmsStoreConflict } from '../store/types.js';
import { kmsError, validationError } from '../errors.js';
import { epochSeconds } from '../key-metadata.js';
import { decodeMarker, encodeMarker, listLimit, refuseAwsManaged, stringMember } from './common.js';

const ALIAS_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
const LIST_ALIASES_DEFAULT = 50;
const LIST_ALIASES_MAX = 100;

/** AliasName: model constraints, then KMS's rules, in the order AWS applies them. */
function aliasNameMember(input: KmsInput): string {
  const name = stringMember(input, 'AliasName', 'aliasName', { required: true, min: 1, max: 256 })!;
  if (!ALIAS_PATTERN.test(name)) throw validationError('aliasName', 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$', name);
  if (!name.startsWith('alias/')) {
    throw kmsError('ValidationException', 'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html');
  }
  if (name.includes(':')) throw kmsError('ValidationException', `${name} contains invalid characters for an alias`);
  // AWS answers a reserved name with a bare NotAuthorizedException (no message).
  if (name.startsWith('alias/aws/')) throw kmsError('NotAuthorizedException', '');
  return name;
}

/** The key an alias is to point at: a key id or key ARN of a customer managed key, never an alias. */
async function targetKey(svc: KmsService, input: KmsInput): Promise<KmsKeyRecord> {
  const ref = stringMember(input, 'TargetKeyId', 'targetKeyId', { required: true, min: 1, max: 2048 })!;
  if (ref.startsWith('alias/') || /^arn:[^:]*:kms:[^:]*:[^:]*:alias\//.test(ref)) throw kmsError('ValidationException', 'Aliases must refer to keys. Not aliases');
  return svc.resolveKey(ref, { allowAlias: false, field: 'targetKeyId' });
}

function aliasNotFound(svc: KmsService, name: string) {
  return kmsError('NotFoundException', `Alias ${svc.aliasArn(name)} is not found.`);
}

/** The store refused because the key went away between our read and its write. */
function keyGone(e: unknown, key: KmsKeyRecord): never {
  if (e instanceof KmsStoreConflict && e.kind === 'NotFound') throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
  throw e;
}

async function authorizeOnAlias(svc: KmsService, caller: Caller, action: string, aliasName: string): Promise<void> {
  await svc.authorizeIdentity(caller, action, svc.aliasArn(aliasName));
}

export const createAlias: KmsOperation = async (svc, caller, input, note) => {
  const name = aliasNameMember(input);
  const key = await targetKey(svc, input);
  note.keys.push(key);
  await authorizeOnAlias(svc, caller, 'kms:CreateAlias', name);
  await svc.authorize(caller, key, 'kms:CreateAlias');
  if (await svc.store.getAlias(name)) throw kmsError('AlreadyExistsException', `An alias with the name ${svc.aliasArn(name)} already exists`);
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  const now = svc.now();
  try {
    await svc.store.createAlias({ aliasName: name, keyId: key.keyId, creationDate: now, lastUpdatedDate: now });
  } catch (e) {
    if (e instanceof KmsStoreConflict && e.kind === 'AliasExists') throw kmsError('AlreadyExistsException', `An alias with the name ${svc.aliasArn(name)} already exists`);
    keyGone(e, key);
  }
  return {};
};

export const updateAlias: KmsOperation = async (svc, caller, input, note) => {
  const name = aliasNameMember(input);
  const alias = await svc.store.getAlias(name);
  if (!alias) throw aliasNotFound(svc, name);
  const key = await targetKey(svc, input);
  const current = await svc.store.getKey(alias.keyId);
  if (current) note.keys.push(current);
  note.keys.push(key);
  await authorizeOnAlias(svc, caller, 'kms:UpdateAlias', name);
  // The key the alias leaves may be in any state; the key it joins may not be pending deletion.
  if (current) await svc.authorize(caller, current, 'kms:UpdateAlias');
  await svc.authorize(caller, key, 'kms:UpdateAlias');
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  let updated: boolean;
  try {
    updated = await svc.store.updateAlias(name, key.keyId, svc.now());
  } catch (e) {
    keyGone(e, key);
  }
  if (!updated) throw aliasNotFound(svc, name);
  return {};
};

export const deleteAlias: KmsOperation = async (svc, caller, input, note) => {
  const name = aliasNameMember(input);
  const alias = await svc.store.getAlias(name);
  if (!alias) throw aliasNotFound(svc, name);
  const key = await svc.store.getKey(alias.keyId);
  await authorizeOnAlias(svc, caller, 'kms:DeleteAlias', name);
  if (key) {
    note.keys.push(key);
    // Every key state allows deleting its aliases.
    await svc.authorize(caller, key, 'kms:DeleteAlias');
  }
  if (!(await svc.store.deleteAlias(name))) throw aliasNotFound(svc, name);
  return {};
};

function aliasEntry(svc: KmsService, a: AliasRecord): Record<string, unknown> {
  return {
    AliasName: a.aliasName,
    AliasArn: svc.aliasArn(a.aliasName),
    TargetKeyId: a.keyId,
    CreationDate: epochSeconds(a.creationDate),
    LastUpdatedDate: epochSeconds(a.lastUpdatedDate),
  };
}

/**
 * Aliases in name order. AWS managed aliases (alias/aws/s3) appear once the service
 * has created them; Coffer does not list AWS's predefined aliases that have no key yet.
 */
export const listAliases: KmsOperation = async (svc, caller, input, note) => {
  const limit = listLimit(input, LIST_ALIASES_DEFAULT, LIST_ALIASES_MAX);
  const after = decodeMarker(input, (p) => p.startsWith('a:alias/'));
  let keyId: string | undefined;
  if (input.KeyId !== undefined && input.KeyId !== null) {
    const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
    note.keys.push(key);
    keyId = key.keyId;
  }
  await svc.authorizeIdentity(caller, 'kms:ListAliases');
  const all = await svc.store.listAliases(keyId);
  const from = after === undefined ? 0 : all.findIndex((a) => a.aliasName > after.slice(2));
  const rest = from < 0 ? [] : all.slice(from);
  const page = rest.slice(0, limit);
  const out: Record<string, unknown> = { Aliases: page.map((a) => aliasEntry(svc, a)) };
  if (rest.length > limit) {
    out.NextMarker = encodeMarker(`a:${page[page.length - 1]!.aliasName}`);
    out.Truncated = true;
  } else {
    out.Truncated = false;
  }
  return out;
};
