// Allow decisions of the KMS's authorization, remembered for as long as everything they
// rest on is the same object: the key's parsed policy (a new object whenever the key's
// policy text changes, service.ts keyPolicy) and the caller's identity policies (a new
// array whenever the IAM store moves on: iam/credentials.ts identityPolicies). Nothing
// here expires by time; a change to either makes the next request decide afresh, so a
// detached IAM policy or a new key policy is enforced on the next request.
//
// Only decisions that did not depend on the request beyond (action, key, principal) are
// remembered: no condition key or policy variable was read (service.ts KeyRequestContext
// tells), no grant took part (grants are matched on every request, before this), and no
// session policy limits the caller. Refusals are never remembered: they are decided anew.

import type { NamedPolicy, PolicyDocument } from '../iam/policy/index.js';
import type { Principal } from '../auth/types.js';

/** Most remembered decisions per (key policy, identity policies) pair; past it the set starts over. */
const MAX_PER_PAIR = 4096;

export class DecisionMemo {
  readonly #byKeyPolicy = new WeakMap<PolicyDocument, WeakMap<readonly NamedPolicy[], Set<string>>>();

  /** The remembered allows for this pair of policies (created empty on first use). */
  allows(keyPolicy: PolicyDocument, identityPolicies: readonly NamedPolicy[]): Set<string> {
    let byIdentity = this.#byKeyPolicy.get(keyPolicy);
    if (byIdentity === undefined) this.#byKeyPolicy.set(keyPolicy, (byIdentity = new WeakMap()));
    let set = byIdentity.get(identityPolicies);
    if (set === undefined) byIdentity.set(identityPolicies, (set = new Set()));
    return set;
  }

  /** Remembers an allow in `set` (from allows()). */
  remember(set: Set<string>, entry: string): void {
    if (set.size >= MAX_PER_PAIR) set.clear();
    set.add(entry);
  }
}

/** What a remembered decision is keyed by besides the policies: the action, the key and who asks. */
export function decisionEntry(action: string, keyArn: string, keyAccountId: string, p: Principal): string {
  return `${action}\n${keyArn}\n${keyAccountId}\n${p.kind}\n${p.arn}\n${p.accountId}\n${p.kind === 'assumed-role' ? p.roleArn : ''}`;
}
