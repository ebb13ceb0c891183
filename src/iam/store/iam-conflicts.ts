// The writes the IAM stores refuse, and why, written once for both SQL stores: each
// store runs the checks in its own transaction (BEGIN IMMEDIATE in SQLite, SERIALIZABLE
// in PostgreSQL) and throws what is here. The texts follow IAM's own where the API passes
// them on (src/iam/api/common.ts mapConflict). Names and ids only; never a secret.

import { IamStoreConflict } from './types.js';
import type { AttachmentTarget } from './types.js';

export const conflict = {
  userExists: (name: string) => new IamStoreConflict('EntityAlreadyExists', `user ${name} exists`),
  userRenameTaken: (name: string) => new IamStoreConflict('EntityAlreadyExists', `User with name ${name} already exists.`),
  noUser: (name: string) => new IamStoreConflict('NoSuchEntity', `user ${name} does not exist`),
  keyExists: (accessKeyId: string) => new IamStoreConflict('EntityAlreadyExists', `access key ${accessKeyId} exists`),
  tooManyKeys: (user: string, count: number) => new IamStoreConflict('LimitExceeded', `user ${user} already has ${count} access keys`),
  /** A user, group or role id taken (ids are random; a clash is astronomically rare). */
  idExists: (kind: 'user' | 'group' | 'role', id: string) => new IamStoreConflict('EntityAlreadyExists', `${kind} id ${id} exists`),

  groupExists: (name: string) => new IamStoreConflict('EntityAlreadyExists', `Group with name ${name} already exists.`),
  roleExists: (name: string) => new IamStoreConflict('EntityAlreadyExists', `Role with name ${name} already exists.`),
  /** No such user, group or role, named in a write that refers to it. */
  noTarget: (target: AttachmentTarget, name: string) => new IamStoreConflict('NoSuchEntity', `The ${target} with name ${name} cannot be found.`),

  policyExists: (name: string) => new IamStoreConflict('EntityAlreadyExists', `A policy called ${name} already exists. Duplicate names are not allowed.`),
  noPolicy: (arn: string) => new IamStoreConflict('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`),
  noVersion: (arn: string, versionId: string) => new IamStoreConflict('NoSuchEntity', `Policy ${arn} version ${versionId} does not exist or is not attachable.`),
  tooManyVersions: (max: number) => new IamStoreConflict('LimitExceeded', `A managed policy can have up to ${max} versions. Before you create a new version, you must delete an existing version.`),
  policyAttached: () => new IamStoreConflict('DeleteConflict', 'Cannot delete a policy attached to entities.'),
  policyHasVersions: () => new IamStoreConflict('DeleteConflict', 'Cannot delete a policy with versions other than the default version; delete them first with DeletePolicyVersion.'),
  defaultVersion: () => new IamStoreConflict('DeleteConflict', 'Cannot delete the default version of a policy.'),
} as const;

/**
 * What must be gone before a principal is deleted: the statement (by its name in both
 * stores' SQL tables) that finds one, given the name as stored, and what the refusal says.
 * Checked in this order.
 */
export interface DeleteGuard<K extends string> {
  readonly found: K;
  readonly message: (name: string) => string;
}

export const USER_DELETE_GUARDS = [
  { found: 'userHasKey', message: (n) => `user ${n} still has access keys` },
  { found: 'userHasPolicy', message: (n) => `user ${n} still has inline policies` },
  { found: 'userHasAttachment', message: (n) => `user ${n} still has attached policies` },
  { found: 'userHasGroup', message: (n) => `user ${n} is still in groups` },
] as const satisfies readonly DeleteGuard<string>[];

export const GROUP_DELETE_GUARDS = [
  { found: 'hasMember', message: () => 'Cannot delete entity, must remove users from group first.' },
  { found: 'hasPolicy', message: () => 'Cannot delete entity, must delete policies first.' },
  { found: 'hasAttachment', message: () => 'Cannot delete entity, must detach all policies first.' },
] as const satisfies readonly DeleteGuard<string>[];

export const ROLE_DELETE_GUARDS = [
  { found: 'hasPolicy', message: () => 'Cannot delete entity, must delete policies first.' },
  { found: 'hasAttachment', message: () => 'Cannot delete entity, must detach all policies first.' },
] as const satisfies readonly DeleteGuard<string>[];

/** The refusal of a delete that `guard` found a reason against. */
export function deleteConflict(guard: DeleteGuard<string>, name: string): IamStoreConflict {
  return new IamStoreConflict('DeleteConflict', guard.message(name));
}
