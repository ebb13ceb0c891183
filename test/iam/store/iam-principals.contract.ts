// The IamStore contract, continued: groups, roles, managed policies, renaming a user,
// and two stores on one database written at once (what a cluster's nodes do).
// runIamStoreContract runs it for every implementation.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iamArn, newUniqueId } from '../../../src/iam/store/ids.js';
import type { GroupRecord, IamStore, ManagedPolicyRecord, RoleRecord } from '../../../src/iam/store/types.js';
import { IamStoreConflict } from '../../../src/iam/store/types.js';
import { accessKeyRec, rejectsWith, userRec } from './iam-store.contract.js';

const ACCOUNT = '111122223333';
const T0 = Date.UTC(2024, 4, 1, 10);
const DOC = (action: string) => `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"${action}","Resource":"*"}]}`;
const TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}';

type WithStore = (fn: (s: IamStore) => Promise<IamStore | void>) => () => Promise<void>;

function groupRec(groupName: string, path = '/'): GroupRecord {
  return { groupName, groupId: newUniqueId('AGPA'), arn: iamArn(ACCOUNT, 'group', groupName, path), path, createDate: T0 };
}

function roleRec(roleName: string, over: Partial<RoleRecord> = {}): RoleRecord {
  return {
    roleName, roleId: newUniqueId('AROA'), arn: iamArn(ACCOUNT, 'role', roleName), path: '/', createDate: T0,
    assumeRolePolicyDocument: TRUST, maxSessionDuration: 3600, tags: [], ...over,
  };
}

function policyRec(policyName: string, path = '/'): Omit<ManagedPolicyRecord, 'defaultVersionId' | 'nextVersion' | 'attachmentCount'> {
  return { policyName, policyId: newUniqueId('ANPA'), arn: iamArn(ACCOUNT, 'policy', policyName, path), path, createDate: T0, updateDate: T0 };
}

/** Two writes at once: exactly one succeeds, the other fails with `kind`. */
async function oneWins(writes: Promise<unknown>[], kind: IamStoreConflict['kind'], winners = 1): Promise<void> {
  const results = await Promise.allSettled(writes);
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(results.length - lost.length, winners, `${winners} of ${results.length} concurrent writes succeed: ${lost.map((r) => String(r.reason)).join(', ')}`);
  for (const r of lost) assert.ok(r.reason instanceof IamStoreConflict && r.reason.kind === kind, `a loser gets ${kind}, not ${String(r.reason)}`);
}

export function runIamPrincipalsContract(withStore: WithStore, twin?: (s: IamStore) => Promise<IamStore>): void {
  describe('groups', () => {
    it('create, get in any case, list by folded name with paging and path prefix; a name taken in any case or a taken id is refused', withStore(async (s) => {
      const g = groupRec('Admins', '/ops/');
      await s.groups.create(g);
      await s.groups.create(groupRec('backup'));
      await s.groups.create(groupRec('Cats'));
      assert.deepEqual(await s.groups.get('ADMINS'), g);
      assert.equal(await s.groups.get('nobody'), undefined);
      await rejectsWith(s.groups.create(groupRec('admins')), 'EntityAlreadyExists');
      await rejectsWith(s.groups.create({ ...groupRec('other'), groupId: g.groupId }), 'EntityAlreadyExists');
      assert.deepEqual((await s.groups.list()).map((x) => x.groupName), ['Admins', 'backup', 'Cats']);
      assert.deepEqual((await s.groups.list({ after: 'admins', limit: 1 })).map((x) => x.groupName), ['backup']);
      assert.deepEqual((await s.groups.list({ pathPrefix: '/ops/' })).map((x) => x.groupName), ['Admins']);
    }));

    it('members: addUser is idempotent and needs both ends; members and groupsForUser order by folded name', withStore(async (s) => {
      for (const u of ['bob', 'Alice']) await s.createUser(userRec(u));
      await s.groups.create(groupRec('devs'));
      await s.groups.create(groupRec('Admins'));
      await s.groups.addUser('DEVS', 'BOB');
      await s.groups.addUser('devs', 'bob');
      await s.groups.addUser('devs', 'alice');
      await s.groups.addUser('admins', 'bob');
      await rejectsWith(s.groups.addUser('nope', 'bob'), 'NoSuchEntity');
      await rejectsWith(s.groups.addUser('devs', 'nobody'), 'NoSuchEntity');
      assert.deepEqual((await s.groups.members('devs')).map((u) => u.userName), ['Alice', 'bob']);
      assert.deepEqual((await s.groups.groupsForUser('BOB')).map((g) => g.groupName), ['Admins', 'devs']);
      assert.equal(await s.groups.removeUser('Devs', 'Bob'), true);
      assert.equal(await s.groups.removeUser('devs', 'bob'), false);
      assert.deepEqual((await s.groups.groupsForUser('bob')).map((g) => g.groupName), ['Admins']);
    }));

    it('inline policies: put replaces, names ignore case; delete refuses while members or policies remain', withStore(async (s) => {
      await s.createUser(userRec('bob'));
      await s.groups.create(groupRec('devs'));
      await s.groups.putPolicy('devs', 'Read', DOC('s3:GetObject'));
      await s.groups.putPolicy('DEVS', 'read', DOC('s3:ListBucket'));
      await s.groups.putPolicy('devs', 'a', DOC('kms:Decrypt'));
      await rejectsWith(s.groups.putPolicy('nope', 'p', DOC('x:y')), 'NoSuchEntity');
      assert.deepEqual(await s.groups.getPolicy('devs', 'READ'), { policyName: 'Read', document: DOC('s3:ListBucket') });
      assert.deepEqual(await s.groups.listPolicies('devs'), ['a', 'Read']);
      await s.groups.addUser('devs', 'bob');
      await rejectsWith(s.groups.delete('devs'), 'DeleteConflict');
      await rejectsWith(s.deleteUser('bob'), 'DeleteConflict');
      await s.groups.removeUser('devs', 'bob');
      await rejectsWith(s.groups.delete('devs'), 'DeleteConflict');
      assert.equal(await s.groups.deletePolicy('devs', 'read'), true);
      assert.equal(await s.groups.deletePolicy('devs', 'A'), true);
      assert.equal(await s.groups.deletePolicy('devs', 'a'), false);
      assert.equal(await s.groups.delete('Devs'), true);
      assert.equal(await s.groups.delete('devs'), false);
    }));
  });

  describe('roles', () => {
    it('create, get in any case, update the mutable fields, inline policies, delete refuses while policies remain', withStore(async (s) => {
      const r = roleRec('Deployer', { description: 'd', tags: [{ Key: 'k', Value: 'v' }] });
      await s.roles.create(r);
      await s.roles.create(roleRec('app'));
      await rejectsWith(s.roles.create(roleRec('DEPLOYER')), 'EntityAlreadyExists');
      assert.deepEqual(await s.roles.get('deployer'), r);
      assert.deepEqual((await s.roles.list()).map((x) => x.roleName), ['app', 'Deployer']);
      const changed: RoleRecord = { ...r, assumeRolePolicyDocument: DOC('sts:AssumeRole'), maxSessionDuration: 7200, tags: [] };
      delete changed.description;
      assert.equal(await s.roles.update({ ...changed, roleName: 'DEPLOYER' }), true);
      assert.deepEqual(await s.roles.get('Deployer'), changed);
      assert.equal(await s.roles.update(roleRec('ghost')), false);
      await s.roles.putPolicy('deployer', 'p', DOC('s3:*'));
      await rejectsWith(s.roles.putPolicy('ghost', 'p', DOC('s3:*')), 'NoSuchEntity');
      assert.deepEqual(await s.roles.listPolicies('DEPLOYER'), ['p']);
      assert.deepEqual(await s.roles.getPolicy('deployer', 'P'), { policyName: 'p', document: DOC('s3:*') });
      await rejectsWith(s.roles.delete('deployer'), 'DeleteConflict');
      assert.equal(await s.roles.deletePolicy('deployer', 'p'), true);
      assert.equal(await s.roles.delete('deployer'), true);
      assert.equal(await s.roles.get('deployer'), undefined);
    }));
  });

  describe('managed policies', () => {
    it('create makes v1 the default; a name taken in any case is refused; versions up to the limit, newest first', withStore(async (s) => {
      const p = policyRec('ReadAll');
      await s.policies.create({ ...p, description: 'reads' }, DOC('s3:GetObject'));
      await rejectsWith(s.policies.create(policyRec('READALL'), DOC('x:y')), 'EntityAlreadyExists');
      assert.deepEqual(await s.policies.get(p.arn), { ...p, description: 'reads', defaultVersionId: 'v1', nextVersion: 2, attachmentCount: 0 });
      assert.equal(await s.policies.createVersion(p.arn, DOC('s3:ListBucket'), false, 3), 'v2');
      assert.equal(await s.policies.createVersion(p.arn, DOC('s3:PutObject'), true, 3), 'v3');
      await rejectsWith(s.policies.createVersion(p.arn, DOC('s3:*'), false, 3), 'LimitExceeded');
      await rejectsWith(s.policies.createVersion(iamArn(ACCOUNT, 'policy', 'ghost'), DOC('s3:*'), false, 3), 'NoSuchEntity');
      assert.equal((await s.policies.get(p.arn))?.defaultVersionId, 'v3');
      assert.deepEqual((await s.policies.listVersions(p.arn)).map((v) => [v.versionId, v.isDefaultVersion]), [['v3', true], ['v2', false], ['v1', false]]);
      assert.equal((await s.policies.getVersion(p.arn, 'v2'))?.document, DOC('s3:ListBucket'));
      assert.equal(await s.policies.getVersion(p.arn, 'v9'), undefined);
      await rejectsWith(s.policies.deleteVersion(p.arn, 'v3'), 'DeleteConflict');
      await rejectsWith(s.policies.setDefaultVersion(p.arn, 'v9'), 'NoSuchEntity');
      await s.policies.setDefaultVersion(p.arn, 'v1');
      await rejectsWith(s.policies.delete(p.arn), 'DeleteConflict');
      assert.equal(await s.policies.deleteVersion(p.arn, 'v3'), true);
      assert.equal(await s.policies.deleteVersion(p.arn, 'v2'), true);
      assert.equal(await s.policies.deleteVersion(p.arn, 'v2'), false);
      assert.equal(await s.policies.createVersion(p.arn, DOC('s3:*'), false, 3), 'v4', 'version numbers are never reused');
      await s.policies.deleteVersion(p.arn, 'v4');
      assert.equal(await s.policies.delete(p.arn), true);
      assert.equal(await s.policies.get(p.arn), undefined);
      assert.equal(await s.policies.delete(p.arn), false);
    }));

    it('attach to users, groups and roles by any case; attached and attachedDocuments by name; detach; delete refuses while attached', withStore(async (s) => {
      await s.createUser(userRec('Bob'));
      await s.groups.create(groupRec('devs'));
      await s.roles.create(roleRec('app'));
      const a = policyRec('Beta');
      const b = policyRec('alpha');
      await s.policies.create(a, DOC('s3:GetObject'));
      await s.policies.create(b, DOC('kms:Decrypt'));
      await s.policies.create(policyRec('unused'), DOC('x:y'));
      await s.policies.attach('user', 'bob', a.arn);
      await s.policies.attach('user', 'BOB', a.arn);
      await s.policies.attach('user', 'bob', b.arn);
      await s.policies.attach('group', 'DEVS', a.arn);
      await s.policies.attach('role', 'App', b.arn);
      await rejectsWith(s.policies.attach('user', 'nobody', a.arn), 'NoSuchEntity');
      await rejectsWith(s.policies.attach('role', 'app', iamArn(ACCOUNT, 'policy', 'ghost')), 'NoSuchEntity');
      assert.deepEqual((await s.policies.attached('user', 'bob')).map((p) => p.policyName), ['alpha', 'Beta']);
      assert.deepEqual(await s.policies.attachedDocuments('user', 'Bob'), [
        { policyName: 'alpha', arn: b.arn, document: DOC('kms:Decrypt') },
        { policyName: 'Beta', arn: a.arn, document: DOC('s3:GetObject') },
      ]);
      await s.policies.createVersion(a.arn, DOC('s3:PutObject'), true, 5);
      assert.equal((await s.policies.attachedDocuments('group', 'devs'))[0]?.document, DOC('s3:PutObject'), 'the default version is what applies');
      assert.equal((await s.policies.get(a.arn))?.attachmentCount, 2);
      assert.deepEqual((await s.policies.list({ onlyAttached: true })).map((p) => p.policyName), ['alpha', 'Beta']);
      assert.deepEqual((await s.policies.list()).map((p) => p.policyName), ['alpha', 'Beta', 'unused']);
      await rejectsWith(s.deleteUser('bob'), 'DeleteConflict');
      await rejectsWith(s.roles.delete('app'), 'DeleteConflict');
      await rejectsWith(s.policies.delete(b.arn), 'DeleteConflict');
      assert.equal(await s.policies.detach('role', 'APP', b.arn), true);
      assert.equal(await s.policies.detach('role', 'app', b.arn), false);
      assert.equal(await s.roles.delete('app'), true);
      assert.deepEqual(await s.policies.attached('role', 'app'), []);
    }));
  });

  describe('renaming a user', () => {
    it('updateUser renames and moves; keys, policies, memberships and attachments follow; a taken name is refused', withStore(async (s) => {
      await s.createUser(userRec('bob'));
      await s.createUser(userRec('carol'));
      const k = accessKeyRec('bob');
      await s.createAccessKey(k);
      await s.putUserPolicy('bob', 'p', DOC('s3:*'));
      await s.groups.create(groupRec('devs'));
      await s.groups.addUser('devs', 'bob');
      const pol = policyRec('pol');
      await s.policies.create(pol, DOC('s3:*'));
      await s.policies.attach('user', 'bob', pol.arn);
      await rejectsWith(s.updateUser('bob', { newUserName: 'CAROL' }), 'EntityAlreadyExists');
      const arn = iamArn(ACCOUNT, 'user', 'Robert', '/eng/');
      assert.equal(await s.updateUser('BOB', { newUserName: 'Robert', newPath: '/eng/', newArn: arn }), true);
      assert.equal(await s.getUser('bob'), undefined);
      const u = await s.getUser('robert');
      assert.deepEqual([u?.userName, u?.path, u?.arn], ['Robert', '/eng/', arn]);
      assert.equal((await s.getAccessKey(k.accessKeyId))?.userName, 'Robert');
      assert.deepEqual(await s.listUserPolicies('robert'), ['p']);
      assert.deepEqual((await s.groups.members('devs')).map((m) => m.userName), ['Robert']);
      assert.deepEqual((await s.policies.attached('user', 'robert')).map((p) => p.policyName), ['pol']);
      assert.equal(await s.updateUser('robert', { newUserName: 'ROBERT' }), true, 'a change of case only is a rename');
      assert.equal((await s.getUser('robert'))?.userName, 'ROBERT');
      assert.equal(await s.updateUser('ghost', { newUserName: 'x' }), false);
    }));
  });

  if (twin) {
    const withTwins = (fn: (s: IamStore, t: IamStore) => Promise<void>) => withStore(async (s) => {
      const t = await twin(s);
      try {
        await fn(s, t);
      } finally {
        await t.close();
      }
    });
    describe('two stores on one database', () => {
      it('createUser of one name (in two cases) from both at once: exactly one wins, the other is EntityAlreadyExists', withTwins(async (s, t) => {
        for (let i = 0; i < 5; i++) {
          await oneWins([s.createUser(userRec(`user${i}`)), t.createUser(userRec(`USER${i}`))], 'EntityAlreadyExists');
        }
        assert.equal((await s.listUsers()).length, 5);
      }));

      it('createAccessKey beyond maxKeysPerUser from both at once: only the allowed number land', withTwins(async (s, t) => {
        for (let i = 0; i < 3; i++) {
          await s.createUser(userRec(`u${i}`));
          const make = (st: IamStore) => st.createAccessKey(accessKeyRec(`u${i}`), { maxKeysPerUser: 2 });
          await oneWins([make(s), make(t), make(s), make(t)], 'LimitExceeded', 2);
          assert.equal((await t.listAccessKeys(`u${i}`)).length, 2);
        }
      }));

      it('version(), where a store has one, moves on with every write a credential or identity policy depends on, seen from the other store too', withTwins(async (s, t) => {
        if (!s.version || !t.version) return;
        const seen = async () => [await s.version!(), await t.version!()];
        let before = await seen();
        const moves = async (what: string, write: () => Promise<unknown>) => {
          await write();
          const now = await seen();
          assert.notEqual(now[0], before[0], `${what}: the writer's version moves on`);
          assert.notEqual(now[1], before[1], `${what}: the other store's version moves on`);
          before = now;
        };
        const key = accessKeyRec('vera');
        const p = policyRec('vera-read');
        await moves('createUser', () => s.createUser(userRec('vera')));
        await moves('createAccessKey', () => s.createAccessKey(key, { maxKeysPerUser: 2 }));
        await moves('updateAccessKeyStatus', () => s.updateAccessKeyStatus('vera', key.accessKeyId, 'Inactive'));
        await moves('putUserPolicy', () => s.putUserPolicy('vera', 'p', DOC('s3:*')));
        await moves('deleteUserPolicy', () => s.deleteUserPolicy('vera', 'p'));
        await moves('groups.create', () => s.groups.create(groupRec('vera-group')));
        await moves('groups.addUser', () => s.groups.addUser('vera-group', 'vera'));
        await moves('groups.putPolicy', () => s.groups.putPolicy('vera-group', 'g', DOC('s3:*')));
        await moves('groups.removeUser', () => s.groups.removeUser('vera-group', 'vera'));
        await moves('policies.create', () => s.policies.create(p, DOC('s3:GetObject')));
        await moves('policies.attach', () => s.policies.attach('user', 'vera', p.arn));
        await moves('policies.createVersion (default)', () => s.policies.createVersion(p.arn, DOC('s3:*'), true, 5));
        await moves('policies.detach', () => s.policies.detach('user', 'vera', p.arn));
        await moves('roles.create', () => s.roles.create(roleRec('vera-role')));
        await moves('roles.putPolicy', () => s.roles.putPolicy('vera-role', 'r', DOC('s3:*')));
        await moves('deleteAccessKey', () => s.deleteAccessKey('vera', key.accessKeyId));
      }));

      it('createVersion of one policy from both at once: every call gets its own version id', withTwins(async (s, t) => {
        const p = policyRec('shared');
        await s.policies.create(p, DOC('s3:*'));
        const ids = await Promise.all([s, t, s, t].map((st, i) => st.policies.createVersion(p.arn, DOC(`s3:Get${i}`), false, 10)));
        assert.deepEqual([...ids].sort(), ['v2', 'v3', 'v4', 'v5']);
        assert.equal((await s.policies.listVersions(p.arn)).length, 5);
      }));

      it('addUser to a group while another store deletes the user: never a member that does not exist', withTwins(async (s, t) => {
        await s.groups.create(groupRec('devs'));
        for (let i = 0; i < 5; i++) {
          await s.createUser(userRec(`m${i}`));
          await Promise.allSettled([t.groups.addUser('devs', `m${i}`), s.deleteUser(`m${i}`)]);
          const user = await s.getUser(`m${i}`);
          const member = (await s.groups.members('devs')).some((m) => m.userName === `m${i}`);
          const inGroups = (await t.groups.groupsForUser(`m${i}`)).length > 0;
          assert.equal(inGroups, member);
          if (user === undefined) assert.equal(member, false, 'a deleted user is in no group');
        }
      }));
    });
  }
}
