// Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the checks a new key
// policy passes (shared with CreateKey). A key has exactly one policy, named
// "default". A new policy must parse (MalformedPolicyDocumentException with the
// parser's reason) and, unless BypassPolicyLockoutSafetyCheck is set, must let the
// caller call PutKeyPolicy again — the lockout safety check.

import type { KmsInput, KmsOperation } from '../operation.js';
import { requestPrincipal, type Caller, type KmsService } from '../service.js';
import { kmsError, validationError } from '../errors.js';
import { checkPolicyLockout, parsePolicyDocument, PolicyDocumentError, KMS_KEY_POLICY_MAX_BYTES, type RequestContext } from '../../iam/policy/index.js';
import { booleanMember, changeKey, decodeMarker, listLimit, refuseAwsManaged, stringMember } from './common.js';

export const POLICY_NAME = 'default';
// The model's PolicyType pattern: tab, LF, CR and U+0020..U+00FF.
const POLICY_CHARS = /^[\u0009\u000A\u000D\u0020-\u00FF]+$/;

/** The Policy member: present (when required), 1..131072 characters of the model's character set. */
export function policyMember(input: KmsInput, required: boolean): string | undefined {
  const text = stringMember(input, 'Policy', 'policy', { required, min: 1, max: 131072, showValue: false });
  if (text !== undefined && !POLICY_CHARS.test(text)) {
    throw validationError('policy', 'Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+');
  }
  return text;
}

function policyNameMember(input: KmsInput): string {
  const name = stringMember(input, 'PolicyName', 'policyName', { min: 1, max: 128 });
  if (name === undefined) return POLICY_NAME;
  if (!/^\w+$/.test(name)) throw validationError('policyName', 'Member must satisfy regular expression pattern: [\\w]+', name);
  return name;
}

/** The caller's request context for the lockout check, as KmsService.authorize builds it. */
function lockoutContext(svc: KmsService, caller: Caller, keyArn: string): RequestContext {
  const p = caller.principal;
  return {
    principal: requestPrincipal(p),
    action: 'kms:PutKeyPolicy',
    resource: keyArn,
    conditions: {
      'kms:CallerAccount': p.accountId,
      'aws:SecureTransport': caller.secureTransport ? 'true' : 'false',
      'aws:SourceIp': caller.sourceIp,
      'aws:CurrentTime': new Date(svc.now()).toISOString(),
      'aws:PrincipalArn': p.arn,
    },
  };
}

/** Parses a new key policy and runs the lockout safety check (unless bypassed). */
export function checkNewKeyPolicy(svc: KmsService, caller: Caller, text: string, keyArn: string, bypass: boolean): void {
  let doc;
  try {
    doc = parsePolicyDocument(text, { kind: 'resource', maxBytes: KMS_KEY_POLICY_MAX_BYTES });
  } catch (e) {
    if (e instanceof PolicyDocumentError) throw kmsError('MalformedPolicyDocumentException', e.message);
    throw e;
  }
  if (bypass) return;
  const r = checkPolicyLockout(doc, lockoutContext(svc, caller, keyArn));
  if (!r.ok) throw kmsError('MalformedPolicyDocumentException', r.message);
}

export const getKeyPolicy: KmsOperation = async (svc, caller, input, note) => {
  const name = policyNameMember(input);
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:GetKeyPolicy');
  svc.checkState(key, 'read');
  if (name !== POLICY_NAME) throw kmsError('NotFoundException', 'No such policy exists');
  return { Policy: key.policy, PolicyName: POLICY_NAME };
};

export const putKeyPolicy: KmsOperation = async (svc, caller, input, note) => {
  const name = policyNameMember(input);
  const text = policyMember(input, true)!;
  const bypassGiven = booleanMember(input, 'BypassPolicyLockoutSafetyCheck');
  const bypass = bypassGiven ?? false;
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  // Only as the request gives it: AWS's example allows a PutKeyPolicy without the member by Null true.
  await svc.authorize(caller, key, 'kms:PutKeyPolicy', { 'kms:BypassPolicyLockoutSafetyCheck': bypassGiven });
  // Key policies can be changed in every key state, PendingDeletion included.
  svc.checkState(key, 'read');
  refuseAwsManaged(key);
  if (name !== POLICY_NAME) throw kmsError('UnsupportedOperationException', 'Only the default key policy is supported: PolicyName must be "default".');
  checkNewKeyPolicy(svc, caller, text, key.arn, bypass);
  await changeKey(svc, key, (fresh) => svc.store.updateKey({ ...fresh, policy: text }));
  return {};
};

export const listKeyPolicies: KmsOperation = async (svc, caller, input, note) => {
  listLimit(input, 100, 1000);
  // There is only ever one page; a marker can only come from a caller's imagination.
  decodeMarker(input, () => false);
  const key = await svc.resolveKey(input.KeyId, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:ListKeyPolicies');
  svc.checkState(key, 'read');
  return { PolicyNames: [POLICY_NAME], Truncated: false };
};


