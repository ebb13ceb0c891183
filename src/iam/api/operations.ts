// The operation tables: every IAM and STS action Coffer serves, by name. An action of
// the AWS API that is not here answers NotImplemented (aws-operations.ts).

import type { QueryOperation } from './context.js';
import { USER_OPERATIONS } from './users.js';
import { ACCESS_KEY_OPERATIONS } from './access-keys.js';
import { GROUP_OPERATIONS } from './groups.js';
import { ROLE_OPERATIONS } from './roles.js';
import { TAG_OPERATIONS } from './tags.js';
import { INLINE_POLICY_OPERATIONS } from './inline-policies.js';
import { MANAGED_POLICY_OPERATIONS } from './managed-policies.js';
import { SIMULATE_OPERATIONS } from './simulate.js';
import { STS_OPERATIONS } from './sts.js';

export const IAM_OPERATIONS: Readonly<Record<string, QueryOperation>> = {
  ...USER_OPERATIONS,
  ...ACCESS_KEY_OPERATIONS,
  ...GROUP_OPERATIONS,
  ...ROLE_OPERATIONS,
  ...TAG_OPERATIONS,
  ...INLINE_POLICY_OPERATIONS,
  ...MANAGED_POLICY_OPERATIONS,
  ...SIMULATE_OPERATIONS,
};

export { STS_OPERATIONS };
