// The key policy KMS attaches when CreateKey is called without one: a single statement
// that names the account root and so delegates to the account's IAM policies. It
// grants no user or role anything by itself (see evaluate.ts, resourcePolicyMode 'kms').

import { parsePolicyObject, type PolicyDocument } from './document.js';

export const DEFAULT_KEY_POLICY_ID = 'key-default-1';
export const DEFAULT_KEY_POLICY_SID = 'Enable IAM User Permissions';

/** The default key policy as a JSON value. */
export function defaultKeyPolicyJson(accountId: string, partition = 'aws'): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Id: DEFAULT_KEY_POLICY_ID,
    Statement: [
      {
        Sid: DEFAULT_KEY_POLICY_SID,
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

/** The default key policy as stored and returned by GetKeyPolicy. */
export function defaultKeyPolicyText(accountId: string, partition = 'aws'): string {
  return JSON.stringify(defaultKeyPolicyJson(accountId, partition), null, 2);
}

/** The default key policy, parsed. */
export function defaultKeyPolicy(accountId: string, partition = 'aws'): PolicyDocument {
  return parsePolicyObject(defaultKeyPolicyJson(accountId, partition), { kind: 'resource', partition });
}
