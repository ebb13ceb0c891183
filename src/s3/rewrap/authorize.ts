// S3's authorization of a re-wrap, outside an S3 request: the same evaluation as
// s3/authorization.ts (the signer's identity policies, the bucket policy, the session
// policy; explicit deny wins; the root has every identity permission) for the S3 actions
// a re-wrap stands for. A re-wrap reads the object's key (s3:GetObject, with the
// object's tags as s3:ExistingObjectTag/*) and stores it again under another KMS key
// (s3:PutObject, with the SSE condition keys a PutObject under that key would carry), so
// a bucket policy that pins the KMS key of new objects also pins re-wraps.

import type { Principal } from '../../auth/types.js';
import { ServiceError } from '../../errors.js';
import { authorize as evaluate, type ContextValue, type NamedPolicy } from '../../iam/policy/index.js';
import { requestPrincipal } from '../../iam/principal.js';
import type { Caller } from '../../kms/service.js';
import type { BucketRecord } from '../../storage/types.js';
import { accessDeniedMessage } from '../authorization.js';
import { bucketPolicyOf } from '../bucket-policy.js';

export interface ObjectAccessDeps {
  accountId: string;
  identityPolicies: (p: Principal) => Promise<NamedPolicy[]>;
  sessionPolicy: (p: Principal) => NamedPolicy | undefined;
}

export interface ObjectActionCheck {
  action: string;
  conditions: Record<string, ContextValue>;
}

const NO_POLICIES: NamedPolicy[] = [];

/** Throws AccessDenied (403, S3's wording naming the action) unless every check is allowed. */
export async function authorizeObjectActions(
  deps: ObjectAccessDeps, caller: Caller, bucket: BucketRecord, key: string, checks: readonly ObjectActionCheck[],
): Promise<void> {
  const principal = caller.principal;
  const root = principal.kind === 'root';
  const policy = bucketPolicyOf(bucket);
  const session = deps.sessionPolicy(principal);
  if (root && !policy && !session) return; // nothing can deny the root
  const identity = root ? NO_POLICIES : await deps.identityPolicies(principal);
  const now = new Date();
  const ip = caller.sourceIp;
  const global: Record<string, ContextValue> = {
    'aws:SecureTransport': caller.secureTransport ? 'true' : 'false',
    'aws:SourceIp': ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': Math.floor(now.getTime() / 1000),
  };
  for (const check of checks) {
    const rc = { principal: requestPrincipal(principal), action: check.action, resource: `arn:aws:s3:::${bucket.name}/${key}`, conditions: { ...global, ...check.conditions } };
    const decision = evaluate({
      identityPolicies: identity,
      resourcePolicies: policy ? [{ name: 'bucket-policy', document: policy }] : NO_POLICIES,
      ...(session ? { sessionPolicy: session } : {}),
      ctx: rc,
      resourceAccountId: deps.accountId,
      resourcePolicyMode: 's3',
    });
    if (decision.effect !== 'Allow') throw new ServiceError('AccessDenied', accessDeniedMessage(rc, decision), 403);
  }
}
