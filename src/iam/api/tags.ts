// Tags of users and roles: Tag/Untag/List{User,Role}Tags, one table of two entity kinds.
// Tag keys compare without regard to case, as IAM's do (common.ts mergeTags).

import type { IamTag, RoleRecord, UserRecord } from '../store/types.js';
import type { ApiContext, QueryOperation } from './context.js';
import { mergeTags, requireRole, requireUser, roleResource, tagsParam, tagsXml, userResource } from './common.js';
import type { Params } from './query.js';

interface TagAccess<T extends { tags: IamTag[] }> {
  resource(c: ApiContext, p: Params): Promise<string>;
  /** The entity the call names, or NoSuchEntity. */
  require(c: ApiContext, p: Params): Promise<T>;
  setTags(c: ApiContext, entity: T, tags: IamTag[]): Promise<unknown>;
}

const USER: TagAccess<UserRecord> = {
  resource: (c, p) => userResource(c, p.name('UserName')),
  require: requireUser,
  setTags: (c, u, tags) => c.iam.setUserTags(u.userName, tags),
};

const ROLE: TagAccess<RoleRecord> = {
  resource: (c, p) => roleResource(c, p.name('RoleName')),
  require: requireRole,
  setTags: (c, r, tags) => c.iam.roles.update({ ...r, tags }),
};

function family<T extends { tags: IamTag[] }>(kind: 'User' | 'Role', a: TagAccess<T>): Record<string, QueryOperation> {
  return {
    [`Tag${kind}`]: {
      action: `iam:Tag${kind}`,
      resource: a.resource,
      async run(c, p) {
        const e = await a.require(c, p);
        await a.setTags(c, e, mergeTags(e.tags, tagsParam(p)));
        return undefined;
      },
    },
    [`Untag${kind}`]: {
      action: `iam:Untag${kind}`,
      resource: a.resource,
      async run(c, p) {
        const e = await a.require(c, p);
        const drop = new Set(p.list('TagKeys').map((k) => k.toLowerCase()));
        await a.setTags(c, e, e.tags.filter((t) => !drop.has(t.Key.toLowerCase())));
        return undefined;
      },
    },
    [`List${kind}Tags`]: {
      action: `iam:List${kind}Tags`,
      resource: a.resource,
      async run(c, p) {
        return { Tags: tagsXml((await a.require(c, p)).tags), IsTruncated: false };
      },
    },
  };
}

export const TAG_OPERATIONS: Record<string, QueryOperation> = { ...family('User', USER), ...family('Role', ROLE) };
