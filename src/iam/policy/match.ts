// Does a statement's Principal / Action / Resource element cover the request?
//   Action: case-insensitive, * and ? wildcards, no policy variables.
//   Resource: case-sensitive ARN match with AWS's segment rule for wildcards, policy
//     variables in 2012-10-17 documents.
//   Principal: exact ARNs (no partial wildcards), "*", an account (its root ARN), an
//     assumed-role session matched by its role's ARN, service principals.

import type { PrincipalSet, Statement } from './document.js';
import { accountRootArn, isAccountRoot, sessionRoleArn, type RequestPrincipal } from './context.js';
import { matchPattern, type VariableLookup } from './pattern.js';

/**
 * How a principal element named the caller:
 *   'self'    its own ARN (user, role, or the account root calling as root)
 *   'session' an assumed-role session's own session ARN
 *   'role'    an assumed-role session through its role's ARN
 *   'account' the caller's account root ARN, caller not the root: a delegation to
 *             the account's identity policies, not a grant to the caller by itself
 *   'any'     "*"
 *   'service' / 'canonical' a service principal / S3 canonical user id
 */
export type PrincipalMatch = 'self' | 'session' | 'role' | 'account' | 'any' | 'service' | 'canonical';

const STRENGTH: PrincipalMatch[] = ['session', 'self', 'role', 'service', 'canonical', 'any', 'account'];

export function matchPrincipal(set: PrincipalSet, p: RequestPrincipal): PrincipalMatch | undefined {
  const found: PrincipalMatch[] = [];
  if (set.any) found.push('any');
  if (p.service) {
    if (set.service.includes(p.service)) found.push('service');
  } else if (!p.anonymous) {
    const role = sessionRoleArn(p);
    const root = accountRootArn(p);
    for (const a of set.aws) {
      if (a === p.arn) found.push(role ? 'session' : 'self');
      else if (role && a === role) found.push('role');
      else if (a === root && !isAccountRoot(p)) found.push('account');
    }
    if (p.canonicalUserId && set.canonicalUser.includes(p.canonicalUserId)) found.push('canonical');
  }
  if (found.length === 0) return undefined;
  return STRENGTH.find((k) => found.includes(k));
}

/**
 * NotPrincipal: the statement applies to everyone the element does not exclude. AWS
 * documents that with Deny a principal is excluded only if its account is listed too
 * (otherwise the deny reaches it through its account); with Allow any listing excludes.
 */
export function notPrincipalExcludes(set: PrincipalSet, p: RequestPrincipal, effect: 'Allow' | 'Deny'): boolean {
  const m = matchPrincipal(set, p);
  if (m === undefined) return false;
  if (m === 'any' || effect === 'Allow') return true;
  if (m === 'account') return false;
  if (m === 'service' || m === 'canonical' || isAccountRoot(p)) return true;
  return set.aws.includes(accountRootArn(p));
}

/** The principal match for a resource-policy statement, or undefined if it does not apply. */
export function statementPrincipal(st: Statement, p: RequestPrincipal): PrincipalMatch | undefined {
  if (st.principal) return matchPrincipal(st.principal, p);
  if (st.notPrincipal) return notPrincipalExcludes(st.notPrincipal, p, st.effect) ? undefined : 'any';
  return undefined;
}

export function matchAction(st: Statement, action: string): boolean {
  const hit = (list: string[]): boolean => list.some((a) => matchPattern(a, action, 'plain', true, undefined));
  return st.action ? hit(st.action) : !hit(st.notAction!);
}

export function matchResource(st: Statement, resource: string, lookup: VariableLookup | undefined): boolean {
  const hit = (list: string[]): boolean => list.some((r) => matchPattern(r, resource, 'resource', false, lookup));
  return st.resource ? hit(st.resource) : !hit(st.notResource!);
}
