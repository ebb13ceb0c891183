// AWS managed policies that users attach by ARN (arn:aws:iam::aws:policy/...): the common
// S3, KMS and IAM ones, with the documents AWS's managed policy reference gives for their
// current default versions. They are put into the IAM store the first time one is named
// (GetPolicy, an attachment, ListPolicies with Scope All or AWS), so attaching and policy
// evaluation treat them as any managed policy; they cannot be changed or deleted. Version
// ids are the store's (v1), not AWS's. Actions of services Coffer does not have
// (s3-object-lambda, organizations) are kept as AWS wrote them and match nothing here.

import { queryError } from './query.js';
import type { ApiContext } from './context.js';

interface AwsManagedPolicy {
  name: string;
  description: string;
  statement: object[];
}

const all = (actions: string[]): object[] => [{ Effect: 'Allow', Action: actions, Resource: '*' }];

const POLICIES: AwsManagedPolicy[] = [
  { name: 'AdministratorAccess', description: 'Provides full access to AWS services and resources.', statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
  { name: 'AmazonS3FullAccess', description: 'Provides full access to all buckets via the AWS Management Console.', statement: all(['s3:*', 's3-object-lambda:*']) },
  {
    name: 'AmazonS3ReadOnlyAccess',
    description: 'Provides read only access to all buckets via the AWS Management Console.',
    statement: all(['s3:Get*', 's3:List*', 's3:Describe*', 's3-object-lambda:Get*', 's3-object-lambda:List*']),
  },
  {
    name: 'AWSKeyManagementServicePowerUser',
    description: 'Provides access to AWS Key Management Service (KMS).',
    statement: all(['kms:CreateAlias', 'kms:CreateKey', 'kms:DeleteAlias', 'kms:Describe*', 'kms:GenerateRandom', 'kms:Get*', 'kms:List*', 'kms:TagResource', 'kms:UntagResource', 'iam:ListGroups', 'iam:ListRoles', 'iam:ListUsers']),
  },
  {
    name: 'IAMFullAccess',
    description: 'Provides full access to IAM via the AWS Management Console.',
    statement: all([
      'iam:*',
      'organizations:DescribeAccount',
      'organizations:DescribeOrganization',
      'organizations:DescribeOrganizationalUnit',
      'organizations:DescribePolicy',
      'organizations:ListChildren',
      'organizations:ListParents',
      'organizations:ListPoliciesForTarget',
      'organizations:ListRoots',
      'organizations:ListPolicies',
      'organizations:ListTargetsForPolicy',
    ]),
  },
  {
    name: 'IAMReadOnlyAccess',
    description: 'Provides read only access to IAM via the AWS Management Console.',
    statement: all(['iam:GenerateCredentialReport', 'iam:GenerateServiceLastAccessedDetails', 'iam:Get*', 'iam:List*', 'iam:SimulateCustomPolicy', 'iam:SimulatePrincipalPolicy']),
  },
];

const ARN_PREFIX = 'arn:aws:iam::aws:policy/';
const BY_ARN = new Map(POLICIES.map((p) => [ARN_PREFIX + p.name, p]));
// AWS's policy ids are fixed strings of their own; these are stable ones in the same shape.
const policyId = (name: string): string => 'ANPA' + Buffer.from(name).toString('hex').toUpperCase().replace(/[^A-Z0-9]/g, '').padEnd(17, '0').slice(0, 17);

export function isAwsManagedArn(arn: string): boolean {
  return /^arn:aws[\w-]*:iam::aws:policy\//.test(arn);
}

/** Refuses a change to an AWS managed policy, as IAM does. */
export function refuseAwsManagedChange(arn: string): void {
  if (isAwsManagedArn(arn)) throw queryError('InvalidInput', `Policy ${arn} is an AWS managed policy and cannot be changed or deleted.`);
}

/** Puts the named AWS managed policy into the store if Coffer knows it; otherwise nothing. */
export async function ensureAwsManagedPolicy(c: ApiContext, arn: string): Promise<void> {
  const known = BY_ARN.get(arn);
  if (!known || (await c.iam.policies.get(arn))) return;
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: known.statement });
  const created = Date.UTC(2015, 1, 6, 18, 40);
  try {
    await c.iam.policies.create({ policyName: known.name, policyId: policyId(known.name), arn, path: '/', description: known.description, createDate: created, updateDate: created }, doc);
  } catch (e) {
    // Created meanwhile by a concurrent request: fine. A customer policy of the same name blocks it.
    if (!(await c.iam.policies.get(arn))) throw e;
  }
}

export async function ensureAllAwsManagedPolicies(c: ApiContext): Promise<void> {
  for (const arn of BY_ARN.keys()) await ensureAwsManagedPolicy(c, arn).catch(() => undefined);
}

export const AWS_MANAGED_POLICY_NAMES: readonly string[] = POLICIES.map((p) => p.name);
