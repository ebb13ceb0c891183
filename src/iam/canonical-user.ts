// S3 canonical user ids in Coffer (64 hex characters, stable): the account's, which owns
// every bucket and object, and one for each IAM user and role, so that an ACL can grant to
// one principal of the account (AWS grants to accounts; Coffer has one). The whoami route
// tells each principal its own.

import { createHash } from 'node:crypto';
import type { Principal } from '../auth/types.js';

const LABEL = 'coffer-canonical-user:';

/** The account's canonical user id: the Owner of every bucket and object. */
export function accountCanonicalId(accountId: string): string {
  return createHash('sha256').update(LABEL + accountId).digest('hex');
}

/**
 * A principal's canonical user id: the account's for the root; for an IAM user one from
 * its unique id (a user re-created under the same name gets another); for a role session
 * the role's, shared by all its sessions.
 */
export function principalCanonicalId(p: Principal): string {
  if (p.kind === 'root') return accountCanonicalId(p.accountId);
  const id = p.kind === 'assumed-role' ? p.roleId : (p.userId ?? p.arn);
  return createHash('sha256').update(`${LABEL}${p.accountId}:${id}`).digest('hex');
}
