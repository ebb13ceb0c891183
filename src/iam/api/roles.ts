// IAM roles: CreateRole (with its trust policy), GetRole, ListRoles, UpdateRole,
// UpdateAssumeRolePolicy, DeleteRole (their tags: tags.ts). A role's
// permissions are its inline and attached policies; STS AssumeRole (sts.ts) evaluates
// the trust policy.

import { parsePolicyObject, PolicyDocumentError, type PolicyDocument } from '../policy/index.js';
import { iamArn, newUniqueId } from '../store/ids.js';
import type { QueryOperation } from './context.js';
import { mapConflict, noRole, requireRole, roleResource, roleXml, storePage, tagsParam } from './common.js';
import { queryError, validationError, type Params } from './query.js';

/** IAM's quota for a trust policy (whitespace not counted). */
const TRUST_MAX_BYTES = 2048;

/**
 * A trust policy as the engine reads it: a resource policy whose resource is the role.
 * Trust policies name no Resource (IAM refuses one), so each statement gets "*".
 */
export function parseTrustPolicy(text: string): PolicyDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw queryError('MalformedPolicyDocument', `This policy contains invalid Json: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw queryError('MalformedPolicyDocument', 'The policy must be a JSON object.');
  const o = raw as { Statement?: unknown };
  const list = Array.isArray(o.Statement) ? o.Statement : o.Statement !== undefined ? [o.Statement] : [];
  const statements = list.map((s) => {
    if (typeof s !== 'object' || s === null) return s;
    if ('Resource' in s || 'NotResource' in s) throw queryError('MalformedPolicyDocument', 'Has prohibited field Resource');
    return { ...s, Resource: '*' };
  });
  try {
    return parsePolicyObject({ ...o, Statement: statements }, { kind: 'resource' });
  } catch (e) {
    if (e instanceof PolicyDocumentError) throw queryError('MalformedPolicyDocument', e.message);
    throw e;
  }
}

function trustPolicyParam(p: Params): string {
  // CreateRole names it AssumeRolePolicyDocument, UpdateAssumeRolePolicy PolicyDocument.
  const text = p.req(p.has('AssumeRolePolicyDocument') ? 'AssumeRolePolicyDocument' : 'PolicyDocument');
  if (Buffer.byteLength(text.replace(/\s+/g, ''), 'utf8') > TRUST_MAX_BYTES) throw queryError('LimitExceeded', `Cannot exceed quota for ACLSizePerRole: ${TRUST_MAX_BYTES}`);
  parseTrustPolicy(text);
  return text;
}

function maxSessionParam(p: Params): number | undefined {
  return p.int('MaxSessionDuration', 3600, 43200);
}

export const ROLE_OPERATIONS: Record<string, QueryOperation> = {
  CreateRole: {
    action: 'iam:CreateRole',
    resource: (c, p) => iamArn(c.accountId, 'role', p.name('RoleName'), p.path()),
    async run(c, p) {
      const roleName = p.name('RoleName');
      const path = p.path();
      if (!p.has('AssumeRolePolicyDocument')) throw validationError('assumeRolePolicyDocument', undefined, 'Member must not be null');
      const doc = trustPolicyParam(p);
      const description = p.str('Description');
      if (description !== undefined && description.length > 1000) throw validationError('description', description, 'Member must have length less than or equal to 1000');
      if (p.has('PermissionsBoundary')) throw queryError('NotImplemented', 'Coffer does not support permissions boundaries.');
      const r = {
        roleName, roleId: newUniqueId('AROA'), arn: iamArn(c.accountId, 'role', roleName, path), path, createDate: c.now,
        assumeRolePolicyDocument: doc, description, maxSessionDuration: maxSessionParam(p) ?? 3600, tags: tagsParam(p),
      };
      await mapConflict(c.iam.roles.create(r));
      return { Role: roleXml(r) };
    },
  },
  GetRole: {
    action: 'iam:GetRole',
    resource: (c, p) => roleResource(c, p.name('RoleName')),
    async run(c, p) {
      const r = await requireRole(c, p);
      return { Role: roleXml(r) };
    },
  },
  ListRoles: {
    action: 'iam:ListRoles',
    resource: (c) => iamArn(c.accountId, 'role', ''),
    async run(c, p) {
      const pg = await storePage(p, (q) => c.iam.roles.list({ ...q, pathPrefix: p.str('PathPrefix') }), (r) => r.roleName);
      return { Roles: pg.items.map(roleXml), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
    },
  },
  UpdateRole: {
    action: 'iam:UpdateRole',
    resource: (c, p) => roleResource(c, p.name('RoleName')),
    async run(c, p) {
      const r = await requireRole(c, p);
      const description = p.str('Description');
      await c.iam.roles.update({ ...r, description: description ?? r.description, maxSessionDuration: maxSessionParam(p) ?? r.maxSessionDuration });
      return {};
    },
  },
  UpdateAssumeRolePolicy: {
    action: 'iam:UpdateAssumeRolePolicy',
    resource: (c, p) => roleResource(c, p.name('RoleName')),
    async run(c, p) {
      const name = p.name('RoleName');
      const doc = trustPolicyParam(p);
      const r = await c.iam.roles.get(name);
      if (!r) throw noRole(name);
      await c.iam.roles.update({ ...r, assumeRolePolicyDocument: doc });
      return undefined;
    },
  },
  DeleteRole: {
    action: 'iam:DeleteRole',
    resource: (c, p) => roleResource(c, p.name('RoleName')),
    async run(c, p) {
      const name = p.name('RoleName');
      if (!(await mapConflict(c.iam.roles.delete(name)))) throw noRole(name);
      return undefined;
    },
  },
};
