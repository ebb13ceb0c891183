// The policy engine's public surface, shared by KMS key policies, S3 bucket policies
// and the IAM API.

export {
  parsePolicyDocument,
  parsePolicyObject,
  PolicyDocumentError,
  KMS_KEY_POLICY_MAX_BYTES,
  S3_BUCKET_POLICY_MAX_BYTES,
  type PolicyDocument,
  type PolicyVersion,
  type PolicyKind,
  type ParseOptions,
  type Statement,
  type PrincipalSet,
  type ConditionClause,
} from './document.js';
export { buildContextMap, type RequestContext, type RequestPrincipal, type ContextValue, type ContextMap } from './context.js';
export {
  evaluatePolicy,
  authorize,
  accessDeniedMessage,
  type NamedPolicy,
  type MatchedStatement,
  type PolicyEvaluation,
  type EvaluateOptions,
  type AuthorizeInput,
  type Decision,
} from './evaluate.js';
export type { PrincipalMatch } from './match.js';
export { CONDITION_OPERATORS } from './operators.js';
export {
  defaultKeyPolicy,
  defaultKeyPolicyJson,
  defaultKeyPolicyText,
  DEFAULT_KEY_POLICY_ID,
  DEFAULT_KEY_POLICY_SID,
} from './default-key-policy.js';
export { checkPolicyLockout, LOCKOUT_MESSAGE, type LockoutCheckResult } from './lockout-check.js';
