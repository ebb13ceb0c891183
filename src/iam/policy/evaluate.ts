// Policy evaluation: one document against a request (evaluatePolicy), and the
// combination of every policy that bears on a request into one decision (authorize),
// after AWS's "Policy evaluation logic":
//
//   1. An explicit Deny in any policy (identity, resource, session) decides: Deny.
//   2. Otherwise the request needs an Allow, combined per resourcePolicyMode:
//      kms  The key policy is the primary control. A key-policy statement that names
//           the caller ("*", its ARN, its role) allows by itself. One that names only
//           the caller's account root (arn:aws:iam::ACCT:root) delegates: the caller is
//           then allowed only if an identity policy allows too. With no key-policy
//           statement covering the request, identity policies are ignored.
//      s3   An identity-policy Allow or a bucket-policy Allow naming the caller suffices
//           (same account). The account root has every identity permission implicitly.
//      Across accounts (caller's account != resource's) both sides must allow: an
//      identity policy in the caller's account and a resource policy naming the caller
//      or its account.
//   3. A session policy, if present, limits: it must allow too. A resource-policy Allow
//      that names the session's own ARN is not limited by it (as AWS documents).
//   4. `extraAllow` (a KMS grant, decided by the caller) allows unless step 1 denied.
//   Permission boundaries and SCPs are not modelled.

import type { PolicyDocument, PolicyKind } from './document.js';
import { buildContextMap, isAccountRoot, variableLookup, type ContextMap, type RequestContext } from './context.js';
import { evaluateCondition } from './conditions.js';
import { matchAction, matchResource, statementPrincipal, type PrincipalMatch } from './match.js';

export interface NamedPolicy {
  /** Shown in decisions: 'default' (a key policy), 'bucket-policy', a managed policy name. */
  name: string;
  document: PolicyDocument;
}

export interface MatchedStatement {
  policy: string;
  sid?: string;
  /** Zero-based statement index. */
  index: number;
  effect: 'Allow' | 'Deny';
  /** Resource policies: how the statement's principal element named the caller. */
  principalMatch?: PrincipalMatch;
}

export interface PolicyEvaluation {
  result: 'Allow' | 'Deny' | 'NotApplicable';
  allows: MatchedStatement[];
  denies: MatchedStatement[];
}

export interface EvaluateOptions {
  kind: PolicyKind;
  /** Name used in MatchedStatement.policy. Default 'policy'. */
  name?: string;
  /**
   * A map from buildContextMap(ctx), to share one across many policies; or a function that
   * builds it on first use (once per request), so that policies without conditions or
   * policy variables — the default key policy — never build it.
   */
  contextMap?: ContextMap | (() => ContextMap);
}

/** Evaluates one document: Deny if a Deny statement applies, else Allow if an Allow does. */
export function evaluatePolicy(doc: PolicyDocument, ctx: RequestContext, opts: EvaluateOptions): PolicyEvaluation {
  const given = opts.contextMap;
  let built: ContextMap | undefined = typeof given === 'function' ? undefined : given;
  const map = (): ContextMap => (built ??= typeof given === 'function' ? given() : buildContextMap(ctx));
  // Policy variables resolve from the map only when a pattern has one.
  const lookup = doc.version === '2012-10-17' ? (k: string) => variableLookup(map())(k) : undefined;
  const allows: MatchedStatement[] = [];
  const denies: MatchedStatement[] = [];
  for (const st of doc.statements) {
    let principalMatch: PrincipalMatch | undefined;
    if (opts.kind === 'resource') {
      principalMatch = statementPrincipal(st, ctx.principal);
      if (!principalMatch) continue;
    }
    if (!matchAction(st, ctx.action)) continue;
    if (!matchResource(st, ctx.resource, lookup)) continue;
    if (st.conditions.length > 0) {
      const m = map();
      if (!st.conditions.every((c) => evaluateCondition(c, m, lookup))) continue;
    }
    const m: MatchedStatement = { policy: opts.name ?? 'policy', index: st.index, effect: st.effect };
    if (st.sid !== undefined) m.sid = st.sid;
    if (principalMatch) m.principalMatch = principalMatch;
    (st.effect === 'Deny' ? denies : allows).push(m);
  }
  const result = denies.length ? 'Deny' : allows.length ? 'Allow' : 'NotApplicable';
  return { result, allows, denies };
}

export interface AuthorizeInput {
  identityPolicies: NamedPolicy[];
  resourcePolicies: NamedPolicy[];
  sessionPolicy?: NamedPolicy;
  ctx: RequestContext;
  resourceAccountId: string;
  resourcePolicyMode: 'kms' | 's3';
  /** An allow decided outside policies (a KMS grant); explicit denies still win. */
  extraAllow?: { reason: string };
}

export interface Decision {
  effect: 'Allow' | 'Deny' | 'ImplicitDeny';
  /** The statements that decided: the denies for Deny, the allows used for Allow. */
  matched?: { policy: string; sid?: string }[];
  /**
   * For denials, AWS's tail: "with an explicit deny in a resource-based policy",
   * "because no identity-based policy allows the kms:Decrypt action". For Allow, why.
   */
  reason: string;
}

function refs(list: MatchedStatement[]): { policy: string; sid?: string }[] {
  return list.map((m) => (m.sid === undefined ? { policy: m.policy } : { policy: m.policy, sid: m.sid }));
}

function describe(list: MatchedStatement[]): string {
  const m = list[0]!;
  return `"${m.policy}" (statement ${m.sid === undefined ? `#${m.index}` : `"${m.sid}"`})`;
}

export function authorize(input: AuthorizeInput): Decision {
  const { ctx } = input;
  const p = ctx.principal;
  let built: ContextMap | undefined;
  const contextMap = (): ContextMap => (built ??= buildContextMap(ctx));
  const run = (list: NamedPolicy[], kind: PolicyKind): PolicyEvaluation[] =>
    list.map((np) => evaluatePolicy(np.document, ctx, { kind, name: np.name, contextMap }));
  const identity = run(input.identityPolicies, 'identity');
  const resource = run(input.resourcePolicies, 'resource');
  const session = input.sessionPolicy ? run([input.sessionPolicy], 'identity')[0] : undefined;

  const deniedBy: [string, MatchedStatement[]][] = [
    ['an identity-based policy', identity.flatMap((e) => e.denies)],
    ['a resource-based policy', resource.flatMap((e) => e.denies)],
    ['a session policy', session?.denies ?? []],
  ];
  for (const [where, list] of deniedBy) {
    if (list.length) return { effect: 'Deny', matched: refs(list), reason: `with an explicit deny in ${where}` };
  }

  const action = ctx.action;
  const idAllows = identity.flatMap((e) => e.allows);
  const resAllows = resource.flatMap((e) => e.allows);
  const direct = resAllows.filter((m) => m.principalMatch !== 'account');
  const delegated = resAllows.filter((m) => m.principalMatch === 'account');
  const sessionOk = !session || session.allows.length > 0;
  const unlimited = direct.filter((m) => m.principalMatch === 'session' || sessionOk);
  const sameAccount = !p.service && !p.anonymous && p.accountId === input.resourceAccountId;
  const rootImplicit = isAccountRoot(p) && (input.resourcePolicyMode === 's3' || !sameAccount);
  const identityAllows = idAllows.length > 0 || rootImplicit;
  const sessionAllows = session?.allows ?? [];

  const allow = (used: MatchedStatement[], reason: string): Decision => ({ effect: 'Allow', matched: refs(used), reason });
  const deny = (reason: string): Decision => ({ effect: 'ImplicitDeny', reason });
  const noIdentity = `because no identity-based policy allows the ${action} action`;
  const noResource = `because no resource-based policy allows the ${action} action`;
  const noSession = `because no session policy allows the ${action} action`;
  const viaIdentity = (): Decision =>
    idAllows.length
      ? allow([...idAllows, ...sessionAllows], `allowed by identity-based policy ${describe(idAllows)}`)
      : allow(sessionAllows, 'allowed: the account root user has every identity-based permission');

  // Service principals and anonymous callers have no identity policies: only a
  // resource policy (or a grant) can allow them.
  if (p.service || p.anonymous) {
    if (direct.length) return allow(direct, `allowed by resource-based policy ${describe(direct)}`);
    if (input.extraAllow) return { effect: 'Allow', reason: input.extraAllow.reason };
    return deny(noResource);
  }

  if (!sameAccount) {
    const resOk = direct.length > 0 || delegated.length > 0;
    if (identityAllows && sessionOk && resOk) {
      const res = direct.length ? direct : delegated;
      return allow([...idAllows, ...res, ...sessionAllows], `allowed across accounts by identity-based policy ${describe(idAllows)} and resource-based policy ${describe(res)}`);
    }
    if (input.extraAllow) return { effect: 'Allow', reason: input.extraAllow.reason };
    if (!resOk) return deny(noResource);
    if (!identityAllows) return deny(noIdentity);
    return deny(noSession);
  }

  if (input.resourcePolicyMode === 'kms') {
    if (unlimited.length) return allow(unlimited, `allowed by key policy ${describe(unlimited)}`);
    if (delegated.length && identityAllows && sessionOk) {
      return allow([...delegated, ...idAllows, ...sessionAllows], `allowed by identity-based policy ${describe(idAllows)}, enabled by key policy ${describe(delegated)}`);
    }
    if (input.extraAllow) return { effect: 'Allow', reason: input.extraAllow.reason };
    if (!sessionOk && (direct.length || (delegated.length && identityAllows))) return deny(noSession);
    return deny(delegated.length ? noIdentity : noResource);
  }

  if (identityAllows && sessionOk) return viaIdentity();
  if (unlimited.length) return allow(unlimited, `allowed by resource-based policy ${describe(unlimited)}`);
  if (input.extraAllow) return { effect: 'Allow', reason: input.extraAllow.reason };
  if (!sessionOk && (identityAllows || direct.length)) return deny(noSession);
  return deny(noIdentity);
}

/** AWS's AccessDenied wording: "User: ARN is not authorized to perform: ACTION on resource: ARN <reason>". */
export function accessDeniedMessage(ctx: RequestContext, decision: Decision): string {
  return `User: ${ctx.principal.arn} is not authorized to perform: ${ctx.action} on resource: ${ctx.resource} ${decision.reason}`;
}
