// IAM groups: CreateGroup, GetGroup, ListGroups, DeleteGroup, AddUserToGroup,
// RemoveUserFromGroup, ListGroupsForUser. A user's groups' policies apply to the user
// (CredentialDirectory.policySources).

import { iamArn, newUniqueId } from '../store/ids.js';
import type { QueryOperation } from './context.js';
import { groupResource, groupXml, mapConflict, noGroup, noUser, namePage, storePage, userResource, userXml } from './common.js';
import { queryError } from './query.js';

const GROUP_NAME_MAX = 128;

export const GROUP_OPERATIONS: Record<string, QueryOperation> = {
  CreateGroup: {
    action: 'iam:CreateGroup',
    resource: (c, p) => iamArn(c.accountId, 'group', p.name('GroupName', GROUP_NAME_MAX), p.path()),
    async run(c, p) {
      const groupName = p.name('GroupName', GROUP_NAME_MAX);
      const path = p.path();
      const g = { groupName, groupId: newUniqueId('AGPA'), arn: iamArn(c.accountId, 'group', groupName, path), path, createDate: c.now };
      await mapConflict(c.iam.groups.create(g));
      return { Group: groupXml(g) };
    },
  },
  GetGroup: {
    action: 'iam:GetGroup',
    resource: (c, p) => groupResource(c, p.name('GroupName', GROUP_NAME_MAX)),
    async run(c, p) {
      const name = p.name('GroupName', GROUP_NAME_MAX);
      const g = await c.iam.groups.get(name);
      if (!g) throw noGroup(name);
      const pg = namePage(p, await c.iam.groups.members(g.groupName), (u) => u.userName);
      return { Group: groupXml(g), Users: pg.items.map((u) => userXml(u)), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
    },
  },
  ListGroups: {
    action: 'iam:ListGroups',
    resource: (c) => iamArn(c.accountId, 'group', ''),
    async run(c, p) {
      const pg = await storePage(p, (q) => c.iam.groups.list({ ...q, pathPrefix: p.str('PathPrefix') }), (g) => g.groupName);
      return { Groups: pg.items.map(groupXml), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
    },
  },
  DeleteGroup: {
    action: 'iam:DeleteGroup',
    resource: (c, p) => groupResource(c, p.name('GroupName', GROUP_NAME_MAX)),
    async run(c, p) {
      const name = p.name('GroupName', GROUP_NAME_MAX);
      if (!(await mapConflict(c.iam.groups.delete(name)))) throw noGroup(name);
      return undefined;
    },
  },
  AddUserToGroup: {
    action: 'iam:AddUserToGroup',
    resource: (c, p) => groupResource(c, p.name('GroupName', GROUP_NAME_MAX)),
    async run(c, p) {
      const groupName = p.name('GroupName', GROUP_NAME_MAX);
      const userName = p.name('UserName');
      await mapConflict(c.iam.groups.addUser(groupName, userName));
      return undefined;
    },
  },
  RemoveUserFromGroup: {
    action: 'iam:RemoveUserFromGroup',
    resource: (c, p) => groupResource(c, p.name('GroupName', GROUP_NAME_MAX)),
    async run(c, p) {
      const groupName = p.name('GroupName', GROUP_NAME_MAX);
      const userName = p.name('UserName');
      if (!(await c.iam.groups.get(groupName))) throw noGroup(groupName);
      if (!(await c.iam.getUser(userName))) throw noUser(userName);
      if (!(await c.iam.groups.removeUser(groupName, userName))) {
        throw queryError('NoSuchEntity', `The user with name ${userName} is not a member of the group ${groupName}.`);
      }
      return undefined;
    },
  },
  ListGroupsForUser: {
    action: 'iam:ListGroupsForUser',
    resource: (c, p) => userResource(c, p.name('UserName')),
    async run(c, p) {
      const userName = p.name('UserName');
      if (!(await c.iam.getUser(userName))) throw noUser(userName);
      const pg = namePage(p, await c.iam.groups.groupsForUser(userName), (g) => g.groupName);
      return { Groups: pg.items.map(groupXml), IsTruncated: pg.IsTruncated, Marker: pg.Marker };
    },
  },
};
