// Users' long-term access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey,
// DeleteAccessKey, GetAccessKeyLastUsed. The secret is sealed under the root key and
// shown only in CreateAccessKey's answer; an Inactive or deleted key stops working on
// the next request (the credential lookup reads the store each time).

import { sealSecret } from '../credentials.js';
import { newAccessKeyId, newSecretAccessKey } from '../root-credentials.js';
import { IamStoreConflict } from '../store/types.js';
import type { QueryOperation } from './context.js';
import { noUser, requireUserOrCaller, userNameOrCaller, userResource } from './common.js';
import { queryError, validationError } from './query.js';

/** IAM's quota: two access keys per user. */
export const MAX_KEYS_PER_USER = 2;

const noKey = (id: string) => queryError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`);

export const ACCESS_KEY_OPERATIONS: Record<string, QueryOperation> = {
  CreateAccessKey: {
    action: 'iam:CreateAccessKey',
    resource: (c, p) => userResource(c, userNameOrCaller(c, p)),
    async run(c, p) {
      const { userName, user } = await requireUserOrCaller(c, p);
      const accessKeyId = newAccessKeyId();
      const secretAccessKey = newSecretAccessKey();
      try {
        await c.iam.createAccessKey(
          { accessKeyId, userName: user.userName, status: 'Active', createDate: c.now, sealedSecret: await sealSecret(c.rootKey, accessKeyId, secretAccessKey) },
          { maxKeysPerUser: MAX_KEYS_PER_USER },
        );
      } catch (e) {
        if (e instanceof IamStoreConflict && e.kind === 'LimitExceeded') throw queryError('LimitExceeded', `Cannot exceed quota for AccessKeysPerUser: ${MAX_KEYS_PER_USER}`);
        if (e instanceof IamStoreConflict && e.kind === 'NoSuchEntity') throw noUser(userName);
        throw e;
      }
      return { AccessKey: { UserName: user.userName, AccessKeyId: accessKeyId, Status: 'Active', SecretAccessKey: secretAccessKey, CreateDate: new Date(c.now) } };
    },
  },
  ListAccessKeys: {
    action: 'iam:ListAccessKeys',
    resource: (c, p) => userResource(c, userNameOrCaller(c, p)),
    async run(c, p) {
      const { user } = await requireUserOrCaller(c, p);
      const keys = await c.iam.listAccessKeys(user.userName);
      return {
        AccessKeyMetadata: keys.map((k) => ({ UserName: user.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: new Date(k.createDate) })),
        IsTruncated: false,
      };
    },
  },
  UpdateAccessKey: {
    action: 'iam:UpdateAccessKey',
    resource: (c, p) => userResource(c, userNameOrCaller(c, p)),
    async run(c, p) {
      const userName = userNameOrCaller(c, p);
      const id = p.req('AccessKeyId');
      const status = p.req('Status');
      if (status !== 'Active' && status !== 'Inactive') throw validationError('status', status, 'Member must satisfy enum value set: [Active, Inactive]');
      if (!(await c.iam.getUser(userName))) throw noUser(userName);
      if (!(await c.iam.updateAccessKeyStatus(userName, id, status))) throw noKey(id);
      return undefined;
    },
  },
  DeleteAccessKey: {
    action: 'iam:DeleteAccessKey',
    resource: (c, p) => userResource(c, userNameOrCaller(c, p)),
    async run(c, p) {
      const userName = userNameOrCaller(c, p);
      const id = p.req('AccessKeyId');
      if (!(await c.iam.getUser(userName))) throw noUser(userName);
      if (!(await c.iam.deleteAccessKey(userName, id))) throw noKey(id);
      return undefined;
    },
  },
  GetAccessKeyLastUsed: {
    action: 'iam:GetAccessKeyLastUsed',
    // IAM authorizes this on the key's owner; an unknown key is authorized on the account.
    async resource(c, p) {
      const key = await c.iam.getAccessKey(p.req('AccessKeyId'));
      return key ? userResource(c, key.userName) : `arn:aws:iam::${c.accountId}:user/`;
    },
    async run(c, p) {
      const id = p.req('AccessKeyId');
      const key = await c.iam.getAccessKey(id);
      if (!key) throw queryError('AccessDenied', `The Access Key with id ${id} cannot be found.`);
      const used = key.lastUsed;
      return {
        UserName: key.userName,
        AccessKeyLastUsed: used
          ? { LastUsedDate: new Date(used.date), ServiceName: used.service, Region: used.region }
          : { ServiceName: 'N/A', Region: 'N/A' },
      };
    },
  },
};
