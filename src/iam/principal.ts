// The policy engine's view of an authenticated principal, shared by KMS, S3 and IAM.

import type { Principal } from '../auth/types.js';
import type { RequestPrincipal } from './policy/index.js';

/**
 * aws:username only for IAM users; the role ARN (with its path) for role sessions; when
 * the time the credentials were issued for temporary ones (aws:TokenIssueTime); the
 * user's or role's tags (aws:PrincipalTag/<key>).
 */
export function requestPrincipal(p: Principal): RequestPrincipal {
  const out: RequestPrincipal = { arn: p.arn, accountId: p.accountId };
  if (p.userId !== undefined) out.userId = p.userId;
  if (p.kind === 'user') out.userName = p.userName;
  if (p.kind === 'assumed-role') out.roleArn = p.roleArn;
  if (p.tags) out.tags = p.tags;
  if (p.temporary) out.tokenIssueTime = p.temporary.issuedAt.toISOString();
  return out;
}
