// IAM users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser (their tags:
// tags.ts).

import { iamArn, newUserId } from '../store/ids.js';
import type { QueryOperation } from './context.js';
import { mapConflict, noUser, requireUserOrCaller, storePage, tagsParam, userNameOrCaller, userResource, userXml } from './common.js';
import { queryError } from './query.js';
import { IamStoreConflict } from '../store/types.js';

const listResource = (accountId: string) => iamArn(accountId, 'user', '');

export const USER_OPERATIONS: Record<string, QueryOperation> = {
  CreateUser: {
    action: 'iam:CreateUser',
    resource: (c, p) => iamArn(c.accountId, 'user', p.name('UserName'), p.path()),
    async run(c, p) {
      const userName = p.name('UserName');
      const path = p.path();
      const tags = tagsParam(p);
      if (p.has('PermissionsBoundary')) throw queryError('NotImplemented', 'Coffer does not support permissions boundaries.');
      const u = { userName, userId: newUserId(), arn: iamArn(c.accountId, 'user', userName, path), path, createDate: c.now, tags };
      try {
        await c.iam.createUser(u);
      } catch (e) {
        // Only a taken name is EntityAlreadyExists; a failed write (a full disk) stays what it is.
        if (!(e instanceof IamStoreConflict && e.kind === 'EntityAlreadyExists')) throw e;
        const taken = await c.iam.getUser(userName);
        if (taken) throw queryError('EntityAlreadyExists', `User with name ${taken.userName} already exists.`);
        throw queryError('EntityAlreadyExists', `User with name ${userName} already exists.`);
      }
      return { User: userXml(u, true) };
    },
  },
  GetUser: {
    action: 'iam:GetUser',
    resource: (c, p) => userResource(c, userNameOrCaller(c, p)),
    async run(c, p) {
      const { user } = await requireUserOrCaller(c, p);
      return { User: userXml(user, true) };
    },
  },
  ListUsers: {
    action: 'iam:ListUsers',
    resource: (c) => listResource(c.accountId),
    async run(c, p) {
      const pg = await storePage(p, (q) => c.iam.listUsers({ ...q, pathPrefix: p.str('PathPrefix') }), (u) => u.userName);
      return { Users: pg.items.map((u) => userXml(u)), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
    },
  },
  UpdateUser: {
    action: 'iam:UpdateUser',
    resource: (c, p) => userResource(c, p.name('UserName')),
    async run(c, p) {
      const name = p.name('UserName');
      const newName = p.optName('NewUserName');
      const newPath = p.has('NewPath') ? p.path('NewPath') : undefined;
      const u = await c.iam.getUser(name);
      if (!u) throw noUser(name);
      const finalName = newName ?? u.userName;
      const finalPath = newPath ?? u.path;
      const ok = await mapConflict(c.iam.updateUser(name, { newUserName: newName, newPath, newArn: iamArn(c.accountId, 'user', finalName, finalPath) }));
      if (!ok) throw noUser(name);
      return undefined;
    },
  },
  DeleteUser: {
    action: 'iam:DeleteUser',
    resource: (c, p) => userResource(c, p.name('UserName')),
    async run(c, p) {
      const name = p.name('UserName');
      if (!(await c.iam.getUser(name))) throw noUser(name);
      // The checks IAM makes, in its order and words; the store repeats them in its transaction.
      if ((await c.iam.listAccessKeys(name)).length) throw queryError('DeleteConflict', 'Cannot delete entity, must delete access keys first.');
      if ((await c.iam.listUserPolicies(name)).length) throw queryError('DeleteConflict', 'Cannot delete entity, must delete policies first.');
      if ((await c.iam.policies.attached('user', name)).length) throw queryError('DeleteConflict', 'Cannot delete entity, must detach all policies first.');
      if ((await c.iam.groups.groupsForUser(name)).length) throw queryError('DeleteConflict', 'Cannot delete entity, must remove user from all groups first.');
      if (!(await mapConflict(c.iam.deleteUser(name)))) throw noUser(name);
      return undefined;
    },
  },
};
