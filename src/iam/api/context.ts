// What every IAM and STS operation gets: the store, the credential directory, the
// account, the authenticated caller; and the shape of one operation in the tables.

import type { Principal } from '../../auth/types.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import type { CredentialDirectory } from '../credentials.js';
import type { ResourcePolicy } from '../resource-policies.js';
import type { IamStore } from '../store/types.js';
import type { Params, XmlValue } from './query.js';

export interface IamApiServices {
  iam: IamStore;
  directory: CredentialDirectory;
  rootKey: RootKeyProvider;
  accountId: string;
  /** The server's region (STS signs with it; IAM with us-east-1 or it). */
  region: string;
  /**
   * The resource's own policy, for SimulatePrincipalPolicy without a ResourcePolicy: a KMS
   * key's key policy (evaluated as KMS does) or a bucket's policy (resource-policies.ts).
   */
  resourcePolicyOf(arn: string): Promise<ResourcePolicy | undefined>;
}

export interface ApiContext extends IamApiServices {
  principal: Principal;
  requestId: string;
  sourceIp?: string;
  secureTransport: boolean;
  now: number;
}

export interface QueryOperation {
  /** The IAM action the caller needs ('iam:CreateUser'); null when none is needed (GetCallerIdentity). */
  action: string | null;
  /** The resource ARN the action is authorized on. */
  resource(c: ApiContext, p: Params): Promise<string> | string;
  run(c: ApiContext, p: Params): Promise<XmlValue | undefined>;
}
