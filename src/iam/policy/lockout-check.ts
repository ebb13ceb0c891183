// KMS's policy lockout safety check (CreateKey with a Policy, PutKeyPolicy): unless the
// caller sets BypassPolicyLockoutSafetyCheck, the new key policy must allow the caller
// to call PutKeyPolicy on the key later. The check looks at the new key policy alone,
// in the caller's request context with the action kms:PutKeyPolicy; a statement that
// names the caller's account root counts (it delegates to IAM policies, which could
// grant it), an explicit deny of PutKeyPolicy for the caller fails.

import type { PolicyDocument } from './document.js';
import type { RequestContext } from './context.js';
import { evaluatePolicy } from './evaluate.js';

export const LOCKOUT_MESSAGE = 'The new key policy will not allow you to update the key policy in the future.';

export type LockoutCheckResult = { ok: true } | { ok: false; message: string };

/**
 * `ctx` is the CreateKey/PutKeyPolicy request's context; its action is replaced by
 * kms:PutKeyPolicy and its resource should be the key's ARN. On failure KMS answers
 * MalformedPolicyDocumentException with LOCKOUT_MESSAGE.
 */
export function checkPolicyLockout(newPolicy: PolicyDocument, ctx: RequestContext): LockoutCheckResult {
  // Members read one by one, not spread: a context may compute its condition keys in a getter.
  const evaluation = evaluatePolicy(newPolicy, { principal: ctx.principal, action: 'kms:PutKeyPolicy', resource: ctx.resource, conditions: ctx.conditions }, { kind: 'resource', name: 'new key policy' });
  return evaluation.result === 'Allow' ? { ok: true } : { ok: false, message: LOCKOUT_MESSAGE };
}
