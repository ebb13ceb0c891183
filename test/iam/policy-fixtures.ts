// Small builders shared by the policy engine tests.
import { parsePolicyObject, type PolicyDocument, type PolicyKind } from '../../src/iam/policy/document.js';
import type { ContextValue, RequestContext, RequestPrincipal } from '../../src/iam/policy/context.js';
import { evaluatePolicy } from '../../src/iam/policy/evaluate.js';

export const ACCT = '111122223333';
export const OTHER = '444455556666';
export const KEY_ARN = `arn:aws:kms:us-east-1:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const ROOT = `arn:aws:iam::${ACCT}:root`;
export const ALICE = `arn:aws:iam::${ACCT}:user/alice`;

export function user(name: string, account = ACCT, extra: Partial<RequestPrincipal> = {}): RequestPrincipal {
  return { arn: `arn:aws:iam::${account}:user/${name}`, accountId: account, userName: name, userId: `AIDA${name.toUpperCase()}`, ...extra };
}

export function root(account = ACCT): RequestPrincipal {
  return { arn: `arn:aws:iam::${account}:root`, accountId: account };
}

export function session(role: string, name: string, account = ACCT): RequestPrincipal {
  return { arn: `arn:aws:sts::${account}:assumed-role/${role}/${name}`, accountId: account, userId: `AROAX:${name}` };
}

export function ctx(
  principal: RequestPrincipal = user('alice'),
  action = 'kms:Decrypt',
  resource = KEY_ARN,
  conditions: Record<string, ContextValue> = {},
): RequestContext {
  return { principal, action, resource, conditions };
}

export function doc(statements: object | object[], kind: PolicyKind = 'identity', version = '2012-10-17'): PolicyDocument {
  return parsePolicyObject({ Version: version, Statement: statements }, { kind });
}

/** An identity policy allowing everything under one condition block. */
export function conditionHolds(condition: object, conditions: Record<string, ContextValue>, version = '2012-10-17', principal = user('alice')): boolean {
  const d = doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: condition }, 'identity', version);
  return evaluatePolicy(d, ctx(principal, 'kms:Decrypt', KEY_ARN, conditions), { kind: 'identity' }).result === 'Allow';
}
