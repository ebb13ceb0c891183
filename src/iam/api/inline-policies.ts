// Inline policies of users, groups and roles: Put/Get/List/Delete{User,Group,Role}Policy,
// one table of three entity kinds.

import type { InlinePolicyRecord } from '../store/types.js';
import type { ApiContext, QueryOperation } from './context.js';
import { groupResource, mapConflict, noGroup, noRole, noUser, namePage, policyDocument, roleResource, userResource } from './common.js';
import { encodedPolicy, queryError, type Params } from './query.js';

/** IAM's size quotas for inline policies, per entity kind (whitespace not counted). */
const MAX_BYTES = { User: 2048, Group: 5120, Role: 10240 } as const;

type Kind = keyof typeof MAX_BYTES;

interface InlineAccess {
  nameParam: string;
  nameMax: number;
  resource(c: ApiContext, name: string): Promise<string>;
  exists(c: ApiContext, name: string): Promise<boolean>;
  missing(name: string): Error;
  put(c: ApiContext, name: string, policy: string, doc: string): Promise<void>;
  get(c: ApiContext, name: string, policy: string): Promise<InlinePolicyRecord | undefined>;
  list(c: ApiContext, name: string): Promise<string[]>;
  delete(c: ApiContext, name: string, policy: string): Promise<boolean>;
}

const ACCESS: Record<Kind, InlineAccess> = {
  User: {
    nameParam: 'UserName', nameMax: 64, resource: userResource, missing: noUser,
    exists: async (c, n) => Boolean(await c.iam.getUser(n)),
    put: (c, n, pn, d) => c.iam.putUserPolicy(n, pn, d),
    get: async (c, n, pn) => c.iam.getUserPolicy(n, pn),
    list: (c, n) => c.iam.listUserPolicies(n),
    delete: (c, n, pn) => c.iam.deleteUserPolicy(n, pn),
  },
  Group: {
    nameParam: 'GroupName', nameMax: 128, resource: groupResource, missing: noGroup,
    exists: async (c, n) => Boolean(await c.iam.groups.get(n)),
    put: (c, n, pn, d) => c.iam.groups.putPolicy(n, pn, d),
    get: (c, n, pn) => c.iam.groups.getPolicy(n, pn),
    list: (c, n) => c.iam.groups.listPolicies(n),
    delete: (c, n, pn) => c.iam.groups.deletePolicy(n, pn),
  },
  Role: {
    nameParam: 'RoleName', nameMax: 64, resource: roleResource, missing: noRole,
    exists: async (c, n) => Boolean(await c.iam.roles.get(n)),
    put: (c, n, pn, d) => c.iam.roles.putPolicy(n, pn, d),
    get: (c, n, pn) => c.iam.roles.getPolicy(n, pn),
    list: (c, n) => c.iam.roles.listPolicies(n),
    delete: (c, n, pn) => c.iam.roles.deletePolicy(n, pn),
  },
};

function family(kind: Kind): Record<string, QueryOperation> {
  const a = ACCESS[kind];
  const entity = (p: Params) => p.name(a.nameParam, a.nameMax);
  const resource = (c: ApiContext, p: Params) => a.resource(c, entity(p));
  const noPolicy = (name: string) => queryError('NoSuchEntity', `The ${kind.toLowerCase()} policy with name ${name} cannot be found.`);
  return {
    [`Put${kind}Policy`]: {
      action: `iam:Put${kind}Policy`,
      resource,
      async run(c, p) {
        const name = entity(p);
        const policyName = p.name('PolicyName', 128);
        const doc = policyDocument(p, 'PolicyDocument', MAX_BYTES[kind]);
        if (!(await a.exists(c, name))) throw a.missing(name);
        await mapConflict(a.put(c, name, policyName, doc));
        return undefined;
      },
    },
    [`Get${kind}Policy`]: {
      action: `iam:Get${kind}Policy`,
      resource,
      async run(c, p) {
        const name = entity(p);
        const policyName = p.name('PolicyName', 128);
        if (!(await a.exists(c, name))) throw a.missing(name);
        const rec = await a.get(c, name, policyName);
        if (!rec) throw noPolicy(policyName);
        return { [a.nameParam]: name, PolicyName: rec.policyName, PolicyDocument: encodedPolicy(rec.document) };
      },
    },
    [`List${kind}Policies`]: {
      action: `iam:List${kind}Policies`,
      resource,
      async run(c, p) {
        const name = entity(p);
        if (!(await a.exists(c, name))) throw a.missing(name);
        const pg = namePage(p, await a.list(c, name), (n) => n);
        return { PolicyNames: pg.items, IsTruncated: pg.IsTruncated, Marker: pg.Marker };
      },
    },
    [`Delete${kind}Policy`]: {
      action: `iam:Delete${kind}Policy`,
      resource,
      async run(c, p) {
        const name = entity(p);
        const policyName = p.name('PolicyName', 128);
        if (!(await a.exists(c, name))) throw a.missing(name);
        if (!(await a.delete(c, name, policyName))) throw noPolicy(policyName);
        return undefined;
      },
    },
  };
}

export const INLINE_POLICY_OPERATIONS: Record<string, QueryOperation> = { ...family('User'), ...family('Group'), ...family('Role') };
