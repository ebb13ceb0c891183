// The IamStore contract: every implementation runs this suite through runIamStoreContract
// from its own *.test.ts file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newUserId, userArn } from '../../../src/iam/store/ids.js';
import type { AccessKeyRecord, IamStore, SessionRecord, UserRecord } from '../../../src/iam/store/types.js';
import { IamStoreConflict } from '../../../src/iam/store/types.js';
import { newAccessKeyId } from '../../../src/iam/root-credentials.js';
import { scoped } from '../../helpers/store-files.js';
import { runIamPrincipalsContract } from './iam-principals.contract.js';

export interface IamStoreContractOptions {
  /** Closes `store` and opens the same database again, as a restarted server would. */
  reopen?: (store: IamStore) => Promise<IamStore>;
  /** A second store on `store`'s database, open beside it, as another node (or process) would. */
  twin?: (store: IamStore) => Promise<IamStore>;
}

const ACCOUNT = '111122223333';
const T0 = Date.UTC(2024, 4, 1, 10);
const POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}';

export function userRec(userName: string, over: Partial<UserRecord> = {}): UserRecord {
  const path = over.path ?? '/';
  return { userName, userId: newUserId(), arn: userArn(ACCOUNT, userName, path), path, createDate: T0, tags: [], ...over };
}

export function accessKeyRec(userName: string, over: Partial<AccessKeyRecord> = {}): AccessKeyRecord {
  return { accessKeyId: newAccessKeyId(), userName, status: 'Active', createDate: T0, sealedSecret: randomBytes(70), ...over };
}

export function sessionRec(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    accessKeyId: newAccessKeyId('ASIA'),
    sealedSecret: randomBytes(120),
    principal: `{"kind":"assumed-role","roleName":"r","sessionName":"s","accountId":"${ACCOUNT}"}`,
    createDate: T0,
    expiresAt: T0 + 3_600_000,
    ...over,
  };
}

export async function rejectsWith(p: Promise<unknown>, kind: IamStoreConflict['kind']): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof IamStoreConflict, `expected IamStoreConflict(${kind}), got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

export function runIamStoreContract(name: string, make: () => Promise<IamStore>, opts: IamStoreContractOptions = {}): void {
  const withStore = scoped(make);

  describe(`IamStore contract: ${name}`, () => {
    it('ping resolves on an open store', withStore(async (s) => {
      await s.ping();
    }));

    describe('users', () => {
      it('createUser stores every field; getUser finds the user in any case and returns the original spelling', withStore(async (s) => {
        const u = userRec('Alice', { path: '/eng/', tags: [{ Key: 'team', Value: 'x' }, { Key: 'a', Value: '' }] });
        await s.createUser(u);
        assert.deepEqual(await s.getUser('Alice'), u);
        assert.deepEqual(await s.getUser('aLICE'), u);
        assert.equal(await s.getUser('bob'), undefined);
      }));

      it('createUser refuses a name taken in any case, and a taken user id', withStore(async (s) => {
        const u = userRec('alice');
        await s.createUser(u);
        await rejectsWith(s.createUser(userRec('ALICE')), 'EntityAlreadyExists');
        await rejectsWith(s.createUser(userRec('bob', { userId: u.userId })), 'EntityAlreadyExists');
        assert.deepEqual(await s.getUser('alice'), u);
        assert.equal(await s.getUser('bob'), undefined);
      }));

      it('listUsers orders by name without regard to case, pages by name and filters by path prefix', withStore(async (s) => {
        for (const [n, path] of [['carol', '/eng/'], ['Bob', '/'], ['alice', '/eng/web/'], ['dave', '/engineering/'], ['Eve', '/ops/']] as const) {
          await s.createUser(userRec(n, { path }));
        }
        assert.deepEqual((await s.listUsers()).map((u) => u.userName), ['alice', 'Bob', 'carol', 'dave', 'Eve']);
        assert.deepEqual((await s.listUsers({ limit: 2 })).map((u) => u.userName), ['alice', 'Bob']);
        assert.deepEqual((await s.listUsers({ after: 'bob', limit: 2 })).map((u) => u.userName), ['carol', 'dave']);
        assert.deepEqual((await s.listUsers({ after: 'Eve' })).map((u) => u.userName), []);
        assert.deepEqual((await s.listUsers({ pathPrefix: '/eng/' })).map((u) => u.userName), ['alice', 'carol']);
        assert.deepEqual((await s.listUsers({ pathPrefix: '/eng' })).map((u) => u.userName), ['alice', 'carol', 'dave']);
        assert.deepEqual((await s.listUsers({ pathPrefix: '/ENG/' })).map((u) => u.userName), [], 'paths compare with case');
        assert.deepEqual((await s.listUsers({ pathPrefix: '/eng', after: 'alice', limit: 1 })).map((u) => u.userName), ['carol']);
        assert.deepEqual(await s.listUsers({ limit: 0 }), []);
      }));

      it('deleteUser refuses while the user has access keys or policies, then deletes; an absent user is false', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        const k = accessKeyRec('alice');
        await s.createAccessKey(k);
        await s.putUserPolicy('alice', 'p', POLICY);
        await rejectsWith(s.deleteUser('alice'), 'DeleteConflict');
        assert.equal(await s.deleteAccessKey('alice', k.accessKeyId), true);
        await rejectsWith(s.deleteUser('ALICE'), 'DeleteConflict');
        assert.ok(await s.getUser('alice'));
        assert.equal(await s.deleteUserPolicy('alice', 'p'), true);
        assert.equal(await s.deleteUser('ALICE'), true);
        assert.equal(await s.getUser('alice'), undefined);
        assert.equal(await s.deleteUser('alice'), false);
        // The name is free again.
        await s.createUser(userRec('Alice'));
      }));
    });

    describe('access keys', () => {
      it('createAccessKey stores every field; getAccessKey returns the sealed secret byte for byte', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        const sealed = Buffer.concat([Buffer.alloc(4), randomBytes(64), Buffer.alloc(4)]);
        const k = accessKeyRec('alice', { sealedSecret: sealed, status: 'Inactive' });
        await s.createAccessKey(k);
        const got = await s.getAccessKey(k.accessKeyId);
        assert.deepEqual(got, k);
        assert.ok(got!.sealedSecret.equals(sealed));
        assert.equal(await s.getAccessKey('AKIANOTAKEY000000000'), undefined);
      }));

      it('access keys belong to the user as created, whatever case the caller used', withStore(async (s) => {
        await s.createUser(userRec('Alice'));
        const k = accessKeyRec('ALICE');
        await s.createAccessKey(k);
        assert.equal((await s.getAccessKey(k.accessKeyId))?.userName, 'Alice');
        assert.deepEqual((await s.listAccessKeys('alice')).map((x) => x.accessKeyId), [k.accessKeyId]);
      }));

      it('createAccessKey refuses an absent user, a taken key id, and a key beyond maxKeysPerUser', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        await s.createUser(userRec('bob'));
        await rejectsWith(s.createAccessKey(accessKeyRec('nobody')), 'NoSuchEntity');
        const k = accessKeyRec('alice');
        await s.createAccessKey(k, { maxKeysPerUser: 2 });
        await rejectsWith(s.createAccessKey(accessKeyRec('bob', { accessKeyId: k.accessKeyId })), 'EntityAlreadyExists');
        assert.equal((await s.getAccessKey(k.accessKeyId))?.userName, 'alice');
        await s.createAccessKey(accessKeyRec('alice'), { maxKeysPerUser: 2 });
        await rejectsWith(s.createAccessKey(accessKeyRec('alice'), { maxKeysPerUser: 2 }), 'LimitExceeded');
        assert.equal((await s.listAccessKeys('alice')).length, 2);
        // The limit counts the user's own keys only.
        await s.createAccessKey(accessKeyRec('bob'), { maxKeysPerUser: 1 });
        // Without a limit the store does not count.
        await s.createAccessKey(accessKeyRec('alice'));
        assert.equal((await s.listAccessKeys('alice')).length, 3);
      }));

      it('listAccessKeys returns the user\'s keys oldest first, and [] for an unknown user', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        await s.createUser(userRec('bob'));
        const newer = accessKeyRec('alice', { createDate: T0 + 10 });
        const older = accessKeyRec('alice', { createDate: T0 });
        await s.createAccessKey(newer);
        await s.createAccessKey(older);
        await s.createAccessKey(accessKeyRec('bob'));
        assert.deepEqual(await s.listAccessKeys('alice'), [older, newer]);
        assert.deepEqual(await s.listAccessKeys('nobody'), []);
      }));

      it('updateAccessKeyStatus and deleteAccessKey act only on a key of the named user', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        await s.createUser(userRec('bob'));
        const k = accessKeyRec('alice');
        await s.createAccessKey(k);
        assert.equal(await s.updateAccessKeyStatus('bob', k.accessKeyId, 'Inactive'), false);
        assert.equal((await s.getAccessKey(k.accessKeyId))?.status, 'Active');
        assert.equal(await s.updateAccessKeyStatus('ALICE', k.accessKeyId, 'Inactive'), true);
        assert.equal((await s.getAccessKey(k.accessKeyId))?.status, 'Inactive');
        assert.equal(await s.updateAccessKeyStatus('alice', k.accessKeyId, 'Active'), true);
        assert.equal((await s.getAccessKey(k.accessKeyId))?.status, 'Active');
        assert.equal(await s.updateAccessKeyStatus('alice', 'AKIANOTAKEY000000000', 'Active'), false);
        assert.equal(await s.deleteAccessKey('bob', k.accessKeyId), false);
        assert.ok(await s.getAccessKey(k.accessKeyId));
        assert.equal(await s.deleteAccessKey('alice', k.accessKeyId), true);
        assert.equal(await s.getAccessKey(k.accessKeyId), undefined);
        assert.equal(await s.deleteAccessKey('alice', k.accessKeyId), false);
      }));

      it('markAccessKeyUsed records the latest use; an absent key is false', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        const k = accessKeyRec('alice');
        await s.createAccessKey(k);
        assert.equal((await s.getAccessKey(k.accessKeyId))?.lastUsed, undefined);
        assert.equal(await s.markAccessKeyUsed(k.accessKeyId, { date: T0 + 1, service: 's3', region: 'us-east-1' }), true);
        assert.equal(await s.markAccessKeyUsed(k.accessKeyId, { date: T0 + 2, service: 'kms', region: 'eu-west-1' }), true);
        assert.deepEqual((await s.getAccessKey(k.accessKeyId))?.lastUsed, { date: T0 + 2, service: 'kms', region: 'eu-west-1' });
        assert.equal(await s.markAccessKeyUsed('AKIANOTAKEY000000000', { date: T0, service: 's3', region: 'us-east-1' }), false);
      }));
    });

    describe('inline user policies', () => {
      it('putUserPolicy creates and replaces; getUserPolicy ignores the case of both names', withStore(async (s) => {
        await s.createUser(userRec('Alice'));
        await s.putUserPolicy('alice', 'ReadOnly', POLICY);
        assert.deepEqual(await s.getUserPolicy('ALICE', 'readonly'), { userName: 'Alice', policyName: 'ReadOnly', document: POLICY });
        await s.putUserPolicy('Alice', 'READONLY', '{"Version":"2012-10-17","Statement":[]}');
        assert.deepEqual(await s.getUserPolicy('Alice', 'ReadOnly'), {
          userName: 'Alice',
          policyName: 'ReadOnly',
          document: '{"Version":"2012-10-17","Statement":[]}',
        }, 'a replaced policy keeps its first spelling');
        assert.deepEqual(await s.listUserPolicies('alice'), ['ReadOnly']);
        assert.equal(await s.getUserPolicy('Alice', 'other'), undefined);
        assert.equal(await s.getUserPolicy('nobody', 'ReadOnly'), undefined);
      }));

      it('putUserPolicy on an absent user is NoSuchEntity', withStore(async (s) => {
        await rejectsWith(s.putUserPolicy('nobody', 'p', POLICY), 'NoSuchEntity');
        assert.deepEqual(await s.listUserPolicies('nobody'), []);
      }));

      it('listUserPolicies orders names without regard to case and only lists the user\'s own', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        await s.createUser(userRec('bob'));
        for (const p of ['zeta', 'Beta', 'alpha']) await s.putUserPolicy('alice', p, POLICY);
        await s.putUserPolicy('bob', 'gamma', POLICY);
        assert.deepEqual(await s.listUserPolicies('alice'), ['alpha', 'Beta', 'zeta']);
        assert.deepEqual(await s.listUserPolicies('bob'), ['gamma']);
      }));

      it('deleteUserPolicy removes one policy; an absent one is false', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        await s.putUserPolicy('alice', 'a', POLICY);
        await s.putUserPolicy('alice', 'b', POLICY);
        assert.equal(await s.deleteUserPolicy('alice', 'A'), true);
        assert.equal(await s.deleteUserPolicy('alice', 'a'), false);
        assert.equal(await s.deleteUserPolicy('nobody', 'b'), false);
        assert.deepEqual(await s.listUserPolicies('alice'), ['b']);
      }));
    });

    describe('STS sessions', () => {
      it('create stores every field; get finds a session by access key id, exactly', withStore(async (s) => {
        const a = sessionRec({ expiresAt: T0 + 3_600_000 });
        const b = sessionRec({ principal: '{"kind":"user","userName":"bob"}' });
        await s.sessions.create(a);
        await s.sessions.create(b);
        assert.deepEqual(await s.sessions.get(a.accessKeyId), a);
        assert.deepEqual(await s.sessions.get(b.accessKeyId), b);
        assert.equal(await s.sessions.get(a.accessKeyId.toLowerCase()), undefined, 'access key ids compare exactly');
        assert.equal(await s.sessions.get(newAccessKeyId('ASIA')), undefined);
      }));

      it('list pages sessions by access key id; reseal replaces the sealed secret only while it is the expected one (root-key rotation)', withStore(async (s) => {
        const rs = [sessionRec(), sessionRec(), sessionRec()].sort((a, b) => (a.accessKeyId < b.accessKeyId ? -1 : 1));
        for (const r of rs) await s.sessions.create(r);
        assert.deepEqual(await s.sessions.list(undefined, 2), rs.slice(0, 2));
        assert.deepEqual(await s.sessions.list(rs[1]!.accessKeyId, 2), rs.slice(2));
        assert.deepEqual(await s.sessions.list(undefined, 0), [], 'a limit of 0 lists nothing');
        assert.deepEqual(await s.sessions.list(undefined, -1), [], 'nor does a negative one (not "no limit")');
        const next = Buffer.from('resealed');
        assert.equal(await s.sessions.reseal(rs[0]!.accessKeyId, Buffer.from('other'), next), false);
        assert.equal(await s.sessions.reseal(rs[0]!.accessKeyId, rs[0]!.sealedSecret, next), true);
        assert.deepEqual(await s.sessions.get(rs[0]!.accessKeyId), { ...rs[0]!, sealedSecret: next });
      }));

      it('resealAccessKey replaces an access key\'s sealed secret only while it is the expected one (root-key rotation)', withStore(async (s) => {
        await s.createUser(userRec('alice'));
        const k = accessKeyRec('alice');
        await s.createAccessKey(k);
        const next = Buffer.from('resealed');
        assert.equal(await s.resealAccessKey(k.accessKeyId, Buffer.from('other'), next), false);
        assert.equal(await s.resealAccessKey(k.accessKeyId, k.sealedSecret, next), true);
        assert.deepEqual((await s.getAccessKey(k.accessKeyId))!.sealedSecret, next);
        assert.equal(await s.resealAccessKey('AKIANOSUCHKEY0000000', next, k.sealedSecret), false);
      }));

      it('deleteExpired removes the sessions that expired before the given time, counts them, and keeps the rest', withStore(async (s) => {
        const old = sessionRec({ expiresAt: T0 - 1 });
        const older = sessionRec({ expiresAt: T0 - 3_600_000 });
        const atCutoff = sessionRec({ expiresAt: T0 });
        const live = sessionRec({ expiresAt: T0 + 900_000 });
        for (const r of [old, older, atCutoff, live]) await s.sessions.create(r);
        assert.equal(await s.sessions.deleteExpired(T0), 2);
        assert.equal(await s.sessions.get(old.accessKeyId), undefined);
        assert.equal(await s.sessions.get(older.accessKeyId), undefined);
        assert.deepEqual(await s.sessions.get(atCutoff.accessKeyId), atCutoff, 'a session expiring at the cutoff is kept');
        assert.deepEqual(await s.sessions.get(live.accessKeyId), live);
        assert.equal(await s.sessions.deleteExpired(T0), 0);
        assert.equal(await s.sessions.deleteExpired(T0 + 900_001), 2);
        assert.equal(await s.sessions.get(live.accessKeyId), undefined);
      }));

    });

    runIamPrincipalsContract(withStore, opts.twin);

    if (opts.reopen) {
      const reopen = opts.reopen;
      it('everything survives a close and reopen', withStore(async (s0) => {
        const u = userRec('alice', { tags: [{ Key: 'k', Value: 'v' }] });
        await s0.createUser(u);
        const k = accessKeyRec('alice');
        await s0.createAccessKey(k);
        await s0.markAccessKeyUsed(k.accessKeyId, { date: T0 + 5, service: 'sts', region: 'us-east-1' });
        await s0.putUserPolicy('alice', 'p', POLICY);
        const session = sessionRec();
        await s0.sessions.create(session);
        const s = await reopen(s0);
        assert.deepEqual(await s.sessions.get(session.accessKeyId), session);
        assert.deepEqual(await s.getUser('alice'), u);
        assert.deepEqual(await s.getAccessKey(k.accessKeyId), { ...k, lastUsed: { date: T0 + 5, service: 'sts', region: 'us-east-1' } });
        assert.deepEqual(await s.getUserPolicy('alice', 'p'), { userName: 'alice', policyName: 'p', document: POLICY });
        await rejectsWith(s.deleteUser('alice'), 'DeleteConflict');
        return s;
      }));
    }
  });
}
