// GET /_coffer/api/whoami: the signer, as the console shows it after sign-in. Any signed
// caller may ask (like sts:GetCallerIdentity). canonicalUserId: the id S3 ACLs grant to.

import { principalCanonicalId } from '../iam/canonical-user.js';
import type { AdminRoute } from './route.js';

export const whoamiRoute: AdminRoute = {
  method: 'GET',
  path: 'whoami',
  action: null,
  async run(r) {
    const p = r.principal;
    return { arn: p.arn, accountId: p.accountId, kind: p.kind, ...(p.kind === 'user' ? { userName: p.userName } : {}), temporary: p.temporary !== undefined, canonicalUserId: principalCanonicalId(p) };
  },
};
