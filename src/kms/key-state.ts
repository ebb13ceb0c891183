// What each key state allows, in one place: every operation checks a key through this, and
// in-process callers that learned a key's state from DescribeKey (re-wrap's preflight) ask
// the same question with the same answer and AWS's messages.

import type { KeyState } from './store/types.js';
import { kmsError } from './errors.js';

/** What an operation may do to a key in each state. */
export type KeyUse = 'crypto' | 'manage' | 'read';

/** Key-state rules: crypto needs Enabled; management refuses PendingDeletion; reads work in every state; a key waiting for imported material (PendingImport) is managed but not used. */
export function checkKeyState(key: { arn: string; state: KeyState }, use: KeyUse): void {
  if (use === 'read') return;
  if (key.state === 'PendingDeletion') throw kmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  if (use === 'crypto' && key.state === 'Disabled') throw kmsError('DisabledException', `${key.arn} is disabled.`);
  if (use === 'crypto' && key.state === 'PendingImport') throw kmsError('KMSInvalidStateException', `${key.arn} is pending import.`);
}
