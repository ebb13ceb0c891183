// Customer managed policies: CreatePolicy, GetPolicy, ListPolicies, DeletePolicy,
// versions (CreatePolicyVersion, GetPolicyVersion, ListPolicyVersions,
// DeletePolicyVersion, SetDefaultPolicyVersion) and attachments
// (Attach/Detach{User,Group,Role}Policy, ListAttached{User,Group,Role}Policies).
// The default version's document is what applies to the entities it is attached to.

import { iamArn, newUniqueId } from '../store/ids.js';
import type { AttachmentTarget } from '../store/types.js';
import type { ApiContext, QueryOperation } from './context.js';
import { groupResource, mapConflict, noGroup, noPolicy, noRole, noUser, namePage, page, paging, policyArnParam, policyDocument, policyXml, roleResource, userResource } from './common.js';
import { encodedPolicy, queryError, validationError, type Params } from './query.js';
import { ensureAllAwsManagedPolicies, ensureAwsManagedPolicy, isAwsManagedArn, refuseAwsManagedChange } from './aws-managed-policies.js';

/** IAM's quotas: 6,144 characters per managed policy, 5 versions, 10 attachments per entity. */
const MAX_BYTES = 6144;
const MAX_VERSIONS = 5;
const MAX_ATTACHED = 10;

const noVersion = (arn: string, v: string) => queryError('NoSuchEntity', `Policy ${arn} version ${v} does not exist or is not attachable.`);

async function requirePolicy(c: ApiContext, arn: string) {
  if (isAwsManagedArn(arn)) await ensureAwsManagedPolicy(c, arn);
  const pol = await c.iam.policies.get(arn);
  if (!pol) throw noPolicy(arn);
  return pol;
}

const TARGETS: Record<'User' | 'Group' | 'Role', { target: AttachmentTarget; param: string; max: number; resource: (c: ApiContext, n: string) => Promise<string>; exists: (c: ApiContext, n: string) => Promise<boolean>; missing: (n: string) => Error }> = {
  User: { target: 'user', param: 'UserName', max: 64, resource: userResource, exists: async (c, n) => Boolean(await c.iam.getUser(n)), missing: noUser },
  Group: { target: 'group', param: 'GroupName', max: 128, resource: groupResource, exists: async (c, n) => Boolean(await c.iam.groups.get(n)), missing: noGroup },
  Role: { target: 'role', param: 'RoleName', max: 64, resource: roleResource, exists: async (c, n) => Boolean(await c.iam.roles.get(n)), missing: noRole },
};

function attachments(kind: 'User' | 'Group' | 'Role'): Record<string, QueryOperation> {
  const t = TARGETS[kind];
  const entity = (p: Params) => p.name(t.param, t.max);
  const resource = (c: ApiContext, p: Params) => t.resource(c, entity(p));
  return {
    [`Attach${kind}Policy`]: {
      action: `iam:Attach${kind}Policy`,
      resource,
      async run(c, p) {
        const name = entity(p);
        const arn = policyArnParam(p);
        if (!(await t.exists(c, name))) throw t.missing(name);
        await requirePolicy(c, arn);
        const now = await c.iam.policies.attached(t.target, name);
        if (!now.some((x) => x.arn === arn) && now.length >= MAX_ATTACHED) {
          throw queryError('LimitExceeded', `Cannot exceed quota for PoliciesPerUser: ${MAX_ATTACHED}`.replace('User', kind));
        }
        await mapConflict(c.iam.policies.attach(t.target, name, arn));
        return undefined;
      },
    },
    [`Detach${kind}Policy`]: {
      action: `iam:Detach${kind}Policy`,
      resource,
      async run(c, p) {
        const name = entity(p);
        const arn = policyArnParam(p);
        if (!(await t.exists(c, name))) throw t.missing(name);
        if (!(await c.iam.policies.detach(t.target, name, arn))) throw queryError('NoSuchEntity', `Policy ${arn} was not found.`);
        return undefined;
      },
    },
    [`ListAttached${kind}Policies`]: {
      action: `iam:ListAttached${kind}Policies`,
      resource,
      async run(c, p) {
        const name = entity(p);
        if (!(await t.exists(c, name))) throw t.missing(name);
        const prefix = p.str('PathPrefix');
        const attached = (await c.iam.policies.attached(t.target, name)).filter((x) => prefix === undefined || x.path.startsWith(prefix));
        const pg = namePage(p, attached, (x) => x.policyName);
        return { AttachedPolicies: pg.items.map((x) => ({ PolicyName: x.policyName, PolicyArn: x.arn })), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
      },
    },
  };
}

export const MANAGED_POLICY_OPERATIONS: Record<string, QueryOperation> = {
  CreatePolicy: {
    action: 'iam:CreatePolicy',
    resource: (c, p) => iamArn(c.accountId, 'policy', p.name('PolicyName', 128), p.path()),
    async run(c, p) {
      const policyName = p.name('PolicyName', 128);
      const path = p.path();
      const doc = policyDocument(p, 'PolicyDocument', MAX_BYTES);
      const description = p.str('Description');
      if (description !== undefined && description.length > 1000) throw validationError('description', description, 'Member must have length less than or equal to 1000');
      const rec = { policyName, policyId: newUniqueId('ANPA'), arn: iamArn(c.accountId, 'policy', policyName, path), path, description, createDate: c.now, updateDate: c.now };
      await mapConflict(c.iam.policies.create(rec, doc));
      return { Policy: policyXml(await requirePolicy(c, rec.arn)) };
    },
  },
  GetPolicy: {
    action: 'iam:GetPolicy',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      return { Policy: policyXml(await requirePolicy(c, policyArnParam(p))) };
    },
  },
  ListPolicies: {
    action: 'iam:ListPolicies',
    resource: (c) => iamArn(c.accountId, 'policy', ''),
    async run(c, p) {
      const scope = p.str('Scope') ?? 'All';
      if (!['All', 'AWS', 'Local'].includes(scope)) throw validationError('scope', scope, 'Member must satisfy enum value set: [All, AWS, Local]');
      const { limit, after } = paging(p);
      // The AWS managed policies Coffer knows (aws-managed-policies.ts) are in the store once listed.
      if (scope !== 'Local') await ensureAllAwsManagedPolicies(c);
      const query = { after, pathPrefix: p.str('PathPrefix'), onlyAttached: p.bool('OnlyAttached') };
      const list =
        scope === 'All'
          ? await c.iam.policies.list({ ...query, limit: limit + 1 })
          : (await c.iam.policies.list(query)).filter((x) => isAwsManagedArn(x.arn) === (scope === 'AWS'));
      const pg = page(list, limit, (x) => x.policyName);
      return { Policies: pg.items.map(policyXml), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
    },
  },
  DeletePolicy: {
    action: 'iam:DeletePolicy',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      const arn = policyArnParam(p);
      refuseAwsManagedChange(arn);
      if (!(await mapConflict(c.iam.policies.delete(arn)))) throw noPolicy(arn);
      return undefined;
    },
  },
  CreatePolicyVersion: {
    action: 'iam:CreatePolicyVersion',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      const arn = policyArnParam(p);
      refuseAwsManagedChange(arn);
      const doc = policyDocument(p, 'PolicyDocument', MAX_BYTES);
      await requirePolicy(c, arn);
      const setAsDefault = p.bool('SetAsDefault') ?? false;
      const versionId = await mapConflict(c.iam.policies.createVersion(arn, doc, setAsDefault, MAX_VERSIONS));
      const v = await c.iam.policies.getVersion(arn, versionId);
      return { PolicyVersion: { VersionId: versionId, IsDefaultVersion: setAsDefault, CreateDate: new Date(v?.createDate ?? c.now) } };
    },
  },
  GetPolicyVersion: {
    action: 'iam:GetPolicyVersion',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      const arn = policyArnParam(p);
      const versionId = p.req('VersionId');
      await requirePolicy(c, arn);
      const v = await c.iam.policies.getVersion(arn, versionId);
      if (!v) throw noVersion(arn, versionId);
      return { PolicyVersion: { Document: encodedPolicy(v.document), VersionId: v.versionId, IsDefaultVersion: v.isDefaultVersion, CreateDate: new Date(v.createDate) } };
    },
  },
  ListPolicyVersions: {
    action: 'iam:ListPolicyVersions',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      const arn = policyArnParam(p);
      await requirePolicy(c, arn);
      const versions = await c.iam.policies.listVersions(arn);
      return { Versions: versions.map((v) => ({ VersionId: v.versionId, IsDefaultVersion: v.isDefaultVersion, CreateDate: new Date(v.createDate) })), IsTruncated: false };
    },
  },
  DeletePolicyVersion: {
    action: 'iam:DeletePolicyVersion',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      const arn = policyArnParam(p);
      const versionId = p.req('VersionId');
      refuseAwsManagedChange(arn);
      await requirePolicy(c, arn);
      if (!(await mapConflict(c.iam.policies.deleteVersion(arn, versionId)))) throw noVersion(arn, versionId);
      return undefined;
    },
  },
  SetDefaultPolicyVersion: {
    action: 'iam:SetDefaultPolicyVersion',
    resource: (_c, p) => policyArnParam(p),
    async run(c, p) {
      const arn = policyArnParam(p);
      refuseAwsManagedChange(arn);
      await requirePolicy(c, arn);
      await mapConflict(c.iam.policies.setDefaultVersion(arn, p.req('VersionId')));
      return undefined;
    },
  },
  ...attachments('User'),
  ...attachments('Group'),
  ...attachments('Role'),
};
