// ScheduleKeyDeletion and CancelKeyDeletion. Scheduling puts the key in
// PendingDeletion with a DeletionDate PendingWindowInDays (7-30, default 30) from now;
// the scheduler's sweep (scheduler.ts) deletes it once that date has passed. Canceling
// returns the key to Disabled, as AWS does — the owner re-enables it deliberately.

import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
import { epochSeconds } from '../key-metadata.js';
import { changeKey, integerMember, refuseAwsManaged } from './common.js';

const DAY_MS = 24 * 60 * 60 * 1000;
export const MIN_PENDING_WINDOW_DAYS = 7;
export const MAX_PENDING_WINDOW_DAYS = 30;
export const DEFAULT_PENDING_WINDOW_DAYS = 30;

export const scheduleKeyDeletion: KmsOperation = async (svc, caller, input, note) => {
  // The model allows 1..365; KMS itself only 7..30.
  const window = integerMember(input, 'PendingWindowInDays', 'pendingWindowInDays', 1, 365) ?? DEFAULT_PENDING_WINDOW_DAYS;
  if (window < MIN_PENDING_WINDOW_DAYS || window > MAX_PENDING_WINDOW_DAYS) {
    throw kmsError('ValidationException', `PendingWindowInDays should be between ${MIN_PENDING_WINDOW_DAYS} and ${MAX_PENDING_WINDOW_DAYS}, but it is ${window}`);
  }
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:ScheduleKeyDeletion', { 'kms:ScheduleKeyDeletionPendingWindowInDays': String(window) });
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  const deletionDate = svc.now() + window * DAY_MS;
  await changeKey(svc, key, async (fresh) => {
    svc.checkState(fresh, 'manage');
    await svc.store.updateKey({ ...fresh, state: 'PendingDeletion', deletionDate, pendingWindowInDays: window });
  });
  return { KeyId: key.arn, DeletionDate: epochSeconds(deletionDate), KeyState: 'PendingDeletion', PendingWindowInDays: window };
};

export const cancelKeyDeletion: KmsOperation = async (svc, caller, input, note) => {
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:CancelKeyDeletion');
  refuseAwsManaged(key);
  await changeKey(svc, key, async (fresh) => {
    if (fresh.state !== 'PendingDeletion') throw kmsError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
    // An imported key whose material is gone goes back to waiting for it.
    const material = fresh.origin === 'EXTERNAL' ? await svc.store.getMaterial(fresh.keyId, fresh.currentVersion) : undefined;
    const state = fresh.origin === 'EXTERNAL' && !material?.sealed.length ? 'PendingImport' : 'Disabled';
    await svc.store.updateKey({ ...fresh, state, deletionDate: undefined, pendingWindowInDays: undefined });
  });
  return { KeyId: key.arn };
};
