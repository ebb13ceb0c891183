// The KmsStore contract: every implementation (SQLite now, others later) runs this suite
// through runKmsStoreContract from its own *.test.ts file.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AliasRecord, GrantRecord, KeyMaterialRecord, KmsKeyRecord, KmsStore } from '../../../src/kms/store/types.js';
import { KmsStoreConflict } from '../../../src/kms/store/types.js';
import { scoped } from '../../helpers/store-files.js';

export interface KmsStoreContractOptions {
  /** Closes `store` and opens the same database again, as a restarted server would. */
  reopen?: (store: KmsStore) => Promise<KmsStore>;
  /** A second store on `store`'s database, open beside it, as another node (or process) would. */
  twin?: (store: KmsStore) => Promise<KmsStore>;
}

/** Runs two writes at once; exactly one must succeed and the other fail with `kind`. Returns the index of the winner. */
export async function oneWins(writes: [Promise<unknown>, Promise<unknown>], kind: KmsStoreConflict['kind']): Promise<number> {
  const results = await Promise.allSettled(writes);
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  assert.equal(won.length, 1, `exactly one of two concurrent writes succeeds: ${results.map((r) => r.status === 'rejected' ? String(r.reason) : 'ok').join(', ')}`);
  const lost = results[1 - won[0]!] as PromiseRejectedResult;
  assert.ok(lost.reason instanceof KmsStoreConflict && lost.reason.kind === kind, `the loser gets ${kind}, not ${String(lost.reason)}`);
  return won[0]!;
}

const ACCOUNT = '111122223333';
const T0 = Date.UTC(2024, 4, 1, 10);
const DAY = 86_400_000;

export function keyRec(over: Partial<KmsKeyRecord> = {}): KmsKeyRecord {
  const keyId = over.keyId ?? randomUUID();
  return {
    keyId,
    arn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/${keyId}`,
    accountId: ACCOUNT,
    region: 'us-east-1',
    description: '',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: 'AWS_KMS',
    keyManager: 'CUSTOMER',
    state: 'Enabled',
    creationDate: T0,
    policy: '{"Version":"2012-10-17","Statement":[]}',
    rotationEnabled: false,
    onDemandRotations: 0,
    currentVersion: 1,
    ...over,
  };
}

export function materialRec(keyId: string, version = 1, over: Partial<KeyMaterialRecord> = {}): KeyMaterialRecord {
  return { keyId, version, materialId: randomBytes(32).toString('hex'), sealed: randomBytes(77), createdAt: T0, ...over };
}

export function grantRec(keyId: string, over: Partial<GrantRecord> = {}): GrantRecord {
  return {
    grantId: randomBytes(32).toString('hex'),
    keyId,
    granteePrincipal: `arn:aws:iam::${ACCOUNT}:user/alice`,
    issuingAccount: `arn:aws:iam::${ACCOUNT}:root`,
    operations: ['Decrypt', 'Encrypt'],
    creationDate: T0,
    grantToken: randomBytes(48).toString('base64url'),
    ...over,
  };
}

const aliasRec = (aliasName: string, keyId: string, t = T0): AliasRecord => ({ aliasName, keyId, creationDate: t, lastUpdatedDate: t });

export async function rejectsWith(p: Promise<unknown>, kind: KmsStoreConflict['kind']): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KmsStoreConflict, `expected KmsStoreConflict(${kind}), got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

/** A key record without its revision (which the store sets on every read), to compare with what was written. */
export function bare(k: KmsKeyRecord | undefined): KmsKeyRecord | undefined {
  if (k === undefined) return undefined;
  const { revision: _r, ...rest } = k;
  return rest;
}

/** Creates a key with material v1 and returns both. */
async function newKey(s: KmsStore, over: Partial<KmsKeyRecord> = {}) {
  const key = keyRec(over);
  const material = materialRec(key.keyId);
  await s.createKey(key, material, []);
  return { key, material };
}

export function runKmsStoreContract(name: string, make: () => Promise<KmsStore>, opts: KmsStoreContractOptions = {}): void {
  const withStore = scoped(make);

  describe(`KmsStore contract: ${name}`, () => {
    it('ping resolves on an open store', withStore(async (s) => {
      await s.ping();
    }));

    describe('keys', () => {
      it('createKey stores the key, its first material and its tags; getKey returns it as written', withStore(async (s) => {
        const key = keyRec({ description: 'd', rotationEnabled: true, rotationPeriodInDays: 365, nextRotationDate: T0 + 365 * DAY });
        const material = materialRec(key.keyId, 1, { rotationType: 'AUTOMATIC' });
        await s.createKey(key, material, [{ TagKey: 'b', TagValue: '1' }, { TagKey: 'a', TagValue: '2' }]);
        assert.deepEqual(bare(await s.getKey(key.keyId)), key);
        assert.deepEqual(await s.getMaterial(key.keyId, 1), material);
        assert.deepEqual(await s.getTags(key.keyId), [{ TagKey: 'b', TagValue: '1' }, { TagKey: 'a', TagValue: '2' }]);
        assert.equal(await s.getKey(randomUUID()), undefined);
      }));

      it('createKey refuses a taken key id and leaves the first key untouched', withStore(async (s) => {
        const { key, material } = await newKey(s, { description: 'first' });
        await rejectsWith(s.createKey({ ...key, description: 'second' }, materialRec(key.keyId), [{ TagKey: 'x', TagValue: 'y' }]), 'KeyExists');
        assert.equal((await s.getKey(key.keyId))?.description, 'first');
        assert.deepEqual(await s.getMaterial(key.keyId, 1), material);
        assert.deepEqual(await s.getTags(key.keyId), []);
      }));

      it('createKey refuses material that is not the key\'s current version', withStore(async (s) => {
        const key = keyRec();
        await assert.rejects(s.createKey(key, materialRec(key.keyId, 2), []), RangeError);
        await assert.rejects(s.createKey(key, materialRec(randomUUID(), 1), []), RangeError);
        assert.equal(await s.getKey(key.keyId), undefined);
      }));

      it('updateKey replaces the mutable fields only and reports an absent key', withStore(async (s) => {
        const { key } = await newKey(s);
        const changed: KmsKeyRecord = {
          ...key,
          description: 'new',
          state: 'PendingDeletion',
          deletionDate: T0 + 7 * DAY,
          pendingWindowInDays: 7,
          policy: '{"x":1}',
          rotationEnabled: true,
          rotationPeriodInDays: 90,
          nextRotationDate: T0 + 90 * DAY,
          onDemandRotations: 3,
          currentVersion: 1,
        };
        assert.equal(await s.updateKey({ ...changed, arn: 'arn:other', creationDate: 1, region: 'eu-west-1' }), true);
        assert.deepEqual(bare(await s.getKey(key.keyId)), changed);
        // Optional fields cleared again come back absent, not null.
        assert.equal(await s.updateKey(key), true);
        assert.deepEqual(bare(await s.getKey(key.keyId)), key);
        assert.equal(await s.updateKey(keyRec()), false);
      }));

      it('a key record carries a revision: 1 when created, moved on by every write; a write of a stale revision is Changed and writes nothing', withStore(async (s) => {
        const { key } = await newKey(s);
        const r1 = (await s.getKey(key.keyId))!;
        assert.equal(r1.revision, 1);
        assert.equal(await s.updateKey({ ...r1, description: 'one' }), true);
        const r2 = (await s.getKey(key.keyId))!;
        assert.equal(r2.revision, 2);
        await rejectsWith(s.updateKey({ ...r1, description: 'stale' }), 'Changed');
        assert.equal((await s.getKey(key.keyId))?.description, 'one');
        await rejectsWith(s.addMaterial(materialRec(key.keyId, 2), { ...r1 }), 'Changed');
        assert.equal(await s.getMaterial(key.keyId, 2), undefined, 'a refused addMaterial adds no version');
        const v1 = (await s.getMaterial(key.keyId, 1))!;
        await rejectsWith(s.putMaterial({ ...v1, sealed: Buffer.alloc(0) }, { ...r1, state: 'PendingImport' }), 'Changed');
        assert.deepEqual(await s.getMaterial(key.keyId, 1), v1, 'a refused putMaterial leaves the material');
        await s.addMaterial(materialRec(key.keyId, 2), r2);
        const r3 = (await s.getKey(key.keyId))!;
        assert.deepEqual([r3.revision, r3.currentVersion], [3, 2]);
        await rejectsWith(s.deleteKey(key.keyId, 2), 'Changed');
        assert.ok(await s.getKey(key.keyId), 'a refused deleteKey deletes nothing');
        // Without a revision a write is unconditional (and still moves the revision on).
        assert.equal(await s.updateKey({ ...bare(r1)!, currentVersion: 2 }), true);
        assert.equal((await s.getKey(key.keyId))?.revision, 4);
        assert.equal(await s.deleteKey(key.keyId, 4), true);
        assert.equal(await s.deleteKey(key.keyId, 4), false, 'absent: false, not Changed');
        assert.equal(await s.updateKey(r3), false, 'absent: false, not Changed');
      }));

      it('listKeys orders by creation date then key id and pages without gaps or repeats', withStore(async (s) => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) {
          // Three keys share each creation date, so the id decides among them.
          const { key } = await newKey(s, { creationDate: T0 + Math.floor((6 - i) / 3) * 1000 });
          ids.push(key.keyId);
        }
        const expected = (await Promise.all(ids.map((id) => s.getKey(id))))
          .map((k) => k!)
          .sort((a, b) => a.creationDate - b.creationDate || (a.keyId < b.keyId ? -1 : 1))
          .map((k) => k.keyId);
        assert.deepEqual((await s.listKeys(undefined, 100)).map((k) => k.keyId), expected);
        const paged: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await s.listKeys(after, 2);
          paged.push(...page.map((k) => k.keyId));
          if (page.length < 2) break;
          after = page.at(-1)!.keyId;
        }
        assert.deepEqual(paged, expected);
        assert.deepEqual(await s.listKeys(undefined, 0), []);
      }));

      it('listKeys resumes from a cursor even after the marker key is deleted; an unknown marker id is NotFound', withStore(async (s) => {
        const keys = [];
        for (let i = 0; i < 4; i++) keys.push((await newKey(s, { creationDate: T0 + i })).key);
        const first = await s.listKeys(undefined, 2);
        const last = first.at(-1)!;
        await s.deleteKey(last.keyId);
        const rest = await s.listKeys({ creationDate: last.creationDate, keyId: last.keyId }, 10);
        assert.deepEqual(rest.map((k) => k.keyId), [keys[2]!.keyId, keys[3]!.keyId]);
        await rejectsWith(s.listKeys(last.keyId, 10), 'NotFound');
      }));

      it('deleteKey removes the key with its material, aliases, grants and tags, and nothing of other keys', withStore(async (s) => {
        const { key } = await newKey(s);
        const other = await newKey(s);
        await s.addMaterial(materialRec(key.keyId, 2), { ...key, currentVersion: 2 });
        await s.createAlias(aliasRec('alias/doomed', key.keyId));
        await s.createAlias(aliasRec('alias/kept', other.key.keyId));
        const g = grantRec(key.keyId, { name: 'n', retiringPrincipal: 'arn:aws:iam::111122223333:role/r' });
        const kept = grantRec(other.key.keyId, { name: 'n', retiringPrincipal: 'arn:aws:iam::111122223333:role/r' });
        await s.createGrant(g);
        await s.createGrant(kept);
        await s.setTags(key.keyId, [{ TagKey: 't', TagValue: 'v' }]);
        await s.setTags(other.key.keyId, [{ TagKey: 't', TagValue: 'v' }]);

        assert.equal(await s.deleteKey(key.keyId), true);
        assert.equal(await s.getKey(key.keyId), undefined);
        assert.deepEqual(await s.listMaterials(key.keyId), []);
        assert.equal(await s.getAlias('alias/doomed'), undefined);
        assert.equal(await s.getGrant(g.grantId), undefined);
        assert.equal(await s.findGrantByToken(g.grantToken), undefined);
        assert.equal(await s.findGrantByName(key.keyId, 'n'), undefined);
        assert.deepEqual(await s.getTags(key.keyId), []);
        assert.deepEqual(await s.listGrantsByRetiringPrincipal('arn:aws:iam::111122223333:role/r'), [kept]);
        assert.deepEqual((await s.listAliases()).map((a) => a.aliasName), ['alias/kept']);
        assert.deepEqual(await s.getTags(other.key.keyId), [{ TagKey: 't', TagValue: 'v' }]);
        assert.equal(await s.deleteKey(key.keyId), false);

        // The id is free again and starts clean.
        await s.createKey(key, materialRec(key.keyId), []);
        assert.deepEqual(await s.listGrants(key.keyId), []);
      }));
    });

    describe('material', () => {
      it('addMaterial adds a version, makes it current and writes the key in one go', withStore(async (s) => {
        const { key, material } = await newKey(s, { rotationEnabled: true, nextRotationDate: T0 + DAY });
        const v2 = materialRec(key.keyId, 2, { rotationType: 'ON_DEMAND', createdAt: T0 + 5 });
        await s.addMaterial(v2, { ...key, onDemandRotations: 1, nextRotationDate: T0 + 2 * DAY });
        const got = await s.getKey(key.keyId);
        assert.equal(got?.currentVersion, 2, 'addMaterial sets currentVersion even when the caller did not');
        assert.equal(got?.onDemandRotations, 1);
        assert.equal(got?.nextRotationDate, T0 + 2 * DAY);
        assert.deepEqual(await s.listMaterials(key.keyId), [material, v2]);
        assert.deepEqual(await s.getMaterial(key.keyId, 2), v2);
        assert.equal(await s.getMaterial(key.keyId, 3), undefined);
      }));

      it('sealed material comes back byte for byte, including zero bytes and large blobs', withStore(async (s) => {
        const key = keyRec();
        const sealed = Buffer.concat([Buffer.alloc(8), randomBytes(4096), Buffer.alloc(8)]);
        await s.createKey(key, materialRec(key.keyId, 1, { sealed }), []);
        const got = await s.getMaterial(key.keyId, 1);
        assert.ok(Buffer.isBuffer(got?.sealed));
        assert.ok(got!.sealed.equals(sealed));
      }));

      it('resealMaterial (root-key rotation) replaces the sealed bytes only while they are the expected ones', withStore(async (s) => {
        const key = keyRec();
        const m = materialRec(key.keyId);
        await s.createKey(key, m, []);
        const next = randomBytes(80);
        assert.equal(await s.resealMaterial(key.keyId, 1, randomBytes(77), next), false, 'other expected bytes: no change');
        assert.ok((await s.getMaterial(key.keyId, 1))!.sealed.equals(m.sealed));
        assert.equal(await s.resealMaterial(key.keyId, 1, m.sealed, next), true);
        assert.deepEqual(await s.getMaterial(key.keyId, 1), { ...m, sealed: next }, 'only the sealed bytes change');
        assert.equal(await s.resealMaterial(key.keyId, 2, next, m.sealed), false, 'absent version');
      }));

      it('addMaterial refuses a taken version (without touching the key) and an absent key', withStore(async (s) => {
        const { key, material } = await newKey(s);
        const err = await s.addMaterial(materialRec(key.keyId, 1), { ...key, description: 'changed' }).then(
          () => assert.fail('expected MaterialExists'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof KmsStoreConflict && err.kind === 'MaterialExists');
        // Conflict messages name ids only: never the sealed bytes.
        for (const m of [material.sealed]) {
          assert.ok(!err.message.includes(m.toString('hex')) && !err.message.includes(m.toString('base64')));
        }
        assert.equal((await s.getKey(key.keyId))?.description, '');
        const ghost = keyRec();
        await rejectsWith(s.addMaterial(materialRec(ghost.keyId, 2), ghost), 'NotFound');
        await assert.rejects(s.addMaterial(materialRec(randomUUID(), 2), key), RangeError);
      }));
    });

    describe('aliases', () => {
      it('createAlias, getAlias, updateAlias, deleteAlias', withStore(async (s) => {
        const a = (await newKey(s)).key;
        const b = (await newKey(s)).key;
        await s.createAlias(aliasRec('alias/app', a.keyId));
        assert.deepEqual(await s.getAlias('alias/app'), aliasRec('alias/app', a.keyId));
        assert.equal(await s.getAlias('alias/APP'), undefined, 'alias names are case-sensitive');
        assert.equal(await s.updateAlias('alias/app', b.keyId, T0 + 10), true);
        assert.deepEqual(await s.getAlias('alias/app'), { aliasName: 'alias/app', keyId: b.keyId, creationDate: T0, lastUpdatedDate: T0 + 10 });
        assert.equal(await s.updateAlias('alias/none', b.keyId, T0), false);
        assert.equal(await s.deleteAlias('alias/app'), true);
        assert.equal(await s.deleteAlias('alias/app'), false);
        assert.equal(await s.getAlias('alias/app'), undefined);
      }));

      it('createAlias refuses a taken name (AliasExists) and an absent key (NotFound); updateAlias to an absent key is NotFound', withStore(async (s) => {
        const a = (await newKey(s)).key;
        const b = (await newKey(s)).key;
        await s.createAlias(aliasRec('alias/app', a.keyId));
        await rejectsWith(s.createAlias(aliasRec('alias/app', b.keyId)), 'AliasExists');
        assert.equal((await s.getAlias('alias/app'))?.keyId, a.keyId);
        await rejectsWith(s.createAlias(aliasRec('alias/ghost', randomUUID())), 'NotFound');
        assert.equal(await s.getAlias('alias/ghost'), undefined);
        await rejectsWith(s.updateAlias('alias/app', randomUUID(), T0 + 1), 'NotFound');
        assert.equal((await s.getAlias('alias/app'))?.keyId, a.keyId);
      }));

      it('listAliases orders by name and filters by key', withStore(async (s) => {
        const a = (await newKey(s)).key;
        const b = (await newKey(s)).key;
        for (const [n, k] of [['alias/zeta', a], ['alias/Beta', b], ['alias/alpha', a], ['alias/m', b]] as const) {
          await s.createAlias(aliasRec(n, k.keyId));
        }
        // Binary order: upper case sorts before lower case.
        assert.deepEqual((await s.listAliases()).map((x) => x.aliasName), ['alias/Beta', 'alias/alpha', 'alias/m', 'alias/zeta']);
        assert.deepEqual((await s.listAliases(a.keyId)).map((x) => x.aliasName), ['alias/alpha', 'alias/zeta']);
        assert.deepEqual(await s.listAliases(randomUUID()), []);
      }));
    });

    describe('grants', () => {
      it('createGrant stores every field; lookup by id, token and (key, name)', withStore(async (s) => {
        const { key } = await newKey(s);
        const full = grantRec(key.keyId, {
          name: 'backup',
          retiringPrincipal: 'arn:aws:iam::111122223333:role/retirer',
          constraints: { encryptionContextSubset: { dept: 'eng', b: 'x' } },
        });
        const bare = grantRec(key.keyId);
        await s.createGrant(full);
        await s.createGrant(bare);
        assert.deepEqual(await s.getGrant(full.grantId), full);
        assert.deepEqual(await s.getGrant(bare.grantId), bare, 'absent optional fields stay absent');
        assert.deepEqual(await s.findGrantByToken(full.grantToken), full);
        assert.deepEqual(await s.findGrantByName(key.keyId, 'backup'), full);
        assert.equal(await s.findGrantByName(key.keyId, 'other'), undefined);
        assert.equal(await s.findGrantByName(randomUUID(), 'backup'), undefined);
        assert.equal(await s.getGrant('0'.repeat(64)), undefined);
        assert.equal(await s.findGrantByToken('nope'), undefined);
      }));

      it('createGrant refuses a taken id, token or (key, name) and an absent key; the same name on another key is fine', withStore(async (s) => {
        const { key } = await newKey(s);
        const other = (await newKey(s)).key;
        const g = grantRec(key.keyId, { name: 'n' });
        await s.createGrant(g);
        await rejectsWith(s.createGrant(grantRec(key.keyId, { grantId: g.grantId })), 'GrantExists');
        await rejectsWith(s.createGrant(grantRec(key.keyId, { grantToken: g.grantToken })), 'GrantExists');
        await rejectsWith(s.createGrant(grantRec(key.keyId, { name: 'n' })), 'GrantExists');
        await rejectsWith(s.createGrant(grantRec(randomUUID())), 'NotFound');
        assert.equal((await s.listGrants(key.keyId)).length, 1);
        await s.createGrant(grantRec(other.keyId, { name: 'n' }));
        // Unnamed grants never collide on name.
        await s.createGrant(grantRec(key.keyId));
        await s.createGrant(grantRec(key.keyId));
        assert.equal((await s.listGrants(key.keyId)).length, 3);
      }));

      it('listGrants and listGrantsByRetiringPrincipal return grants in creation order', withStore(async (s) => {
        const a = (await newKey(s)).key;
        const b = (await newKey(s)).key;
        const r = 'arn:aws:iam::111122223333:user/retirer';
        const created: GrantRecord[] = [];
        for (let i = 0; i < 6; i++) {
          // Grant ids are random, so only the store's own creation order can pass this.
          const g = grantRec(i % 2 === 0 ? a.keyId : b.keyId, i % 3 === 0 ? { retiringPrincipal: r } : {});
          await s.createGrant(g);
          created.push(g);
        }
        assert.deepEqual(await s.listGrants(a.keyId), created.filter((g) => g.keyId === a.keyId));
        assert.deepEqual(await s.listGrants(b.keyId), created.filter((g) => g.keyId === b.keyId));
        assert.deepEqual(await s.listGrantsByRetiringPrincipal(r), created.filter((g) => g.retiringPrincipal === r));
        assert.deepEqual(await s.listGrantsByRetiringPrincipal('arn:aws:iam::111122223333:user/nobody'), []);
        assert.deepEqual(await s.listGrants(randomUUID()), []);
      }));

      it('deleteGrant removes one grant, frees its name and token, and reports an absent grant', withStore(async (s) => {
        const { key } = await newKey(s);
        const g = grantRec(key.keyId, { name: 'n' });
        const keep = grantRec(key.keyId);
        await s.createGrant(g);
        await s.createGrant(keep);
        assert.equal(await s.deleteGrant(g.grantId), true);
        assert.equal(await s.deleteGrant(g.grantId), false);
        assert.deepEqual(await s.listGrants(key.keyId), [keep]);
        await s.createGrant(grantRec(key.keyId, { name: 'n', grantToken: g.grantToken }));
      }));
    });

    describe('synchronous reads (optional: a store that has them)', () => {
      it('getKeyNow, getAliasNow and listGrantsNow answer what getKey, getAlias and listGrants do, after every write', withStore(async (s) => {
        if (!s.getKeyNow || !s.getAliasNow || !s.listGrantsNow) return; // leaves them out (PostgreSQL): nothing to hold
        const same = async (keyId: string, alias: string) => {
          assert.deepEqual(s.getKeyNow!(keyId), await s.getKey(keyId));
          assert.deepEqual(s.getAliasNow!(alias), await s.getAlias(alias));
          assert.deepEqual(s.listGrantsNow!(keyId), await s.listGrants(keyId));
        };
        const { key } = await newKey(s);
        await same(key.keyId, 'alias/now');
        await s.createAlias(aliasRec('alias/now', key.keyId));
        const g = grantRec(key.keyId);
        await s.createGrant(g);
        await same(key.keyId, 'alias/now');
        const stored = (await s.getKey(key.keyId))!;
        assert.equal(await s.updateKey({ ...stored, state: 'Disabled', description: 'now' }), true);
        assert.equal(s.getKeyNow(key.keyId)?.state, 'Disabled', 'an update is seen at once');
        await same(key.keyId, 'alias/now');
        assert.equal(await s.deleteGrant(g.grantId), true);
        assert.deepEqual(s.listGrantsNow(key.keyId), [], 'a deleted grant is gone at once');
        assert.equal(await s.deleteAlias('alias/now'), true);
        await same(key.keyId, 'alias/now');
        assert.equal(await s.deleteKey(key.keyId), true);
        assert.equal(s.getKeyNow(key.keyId), undefined, 'a deleted key is gone at once');
        await same(key.keyId, 'alias/now');
        // Callers get copies: changing what one read returned changes nothing stored.
        const other = (await newKey(s)).key;
        s.getKeyNow(other.keyId)!.state = 'Disabled';
        assert.equal((await s.getKey(other.keyId))?.state, 'Enabled');
      }));
    });

    describe('tags', () => {
      it('setTags adds in order and replaces values in place; removeTags ignores unknown keys', withStore(async (s) => {
        const { key } = await newKey(s);
        await s.setTags(key.keyId, [{ TagKey: 'z', TagValue: '1' }, { TagKey: 'a', TagValue: '2' }]);
        await s.setTags(key.keyId, [{ TagKey: 'm', TagValue: '3' }, { TagKey: 'z', TagValue: 'new' }]);
        assert.deepEqual(await s.getTags(key.keyId), [
          { TagKey: 'z', TagValue: 'new' },
          { TagKey: 'a', TagValue: '2' },
          { TagKey: 'm', TagValue: '3' },
        ]);
        await s.removeTags(key.keyId, ['a', 'nope']);
        await s.setTags(key.keyId, [{ TagKey: 'a', TagValue: 'back' }]);
        assert.deepEqual(await s.getTags(key.keyId), [
          { TagKey: 'z', TagValue: 'new' },
          { TagKey: 'm', TagValue: '3' },
          { TagKey: 'a', TagValue: 'back' },
        ], 'a removed tag key comes back last');
        assert.deepEqual(await s.getTags(randomUUID()), []);
      }));

      it('tag keys are case-sensitive and one key\'s tags do not touch another\'s', withStore(async (s) => {
        const a = (await newKey(s)).key;
        const b = (await newKey(s)).key;
        await s.setTags(a.keyId, [{ TagKey: 'Env', TagValue: '1' }, { TagKey: 'env', TagValue: '2' }]);
        await s.setTags(b.keyId, [{ TagKey: 'Env', TagValue: 'b' }]);
        await s.removeTags(b.keyId, ['Env']);
        assert.deepEqual(await s.getTags(a.keyId), [{ TagKey: 'Env', TagValue: '1' }, { TagKey: 'env', TagValue: '2' }]);
        assert.deepEqual(await s.getTags(b.keyId), []);
      }));

      it('setTags and removeTags on an absent key are NotFound', withStore(async (s) => {
        const ghost = randomUUID();
        await rejectsWith(s.setTags(ghost, [{ TagKey: 'a', TagValue: 'b' }]), 'NotFound');
        await rejectsWith(s.removeTags(ghost, ['a']), 'NotFound');
        assert.deepEqual(await s.getTags(ghost), []);
      }));
    });

    describe('imported material', () => {
      it('createKey without material makes a key waiting for its first import', withStore(async (s) => {
        const key = keyRec({ origin: 'EXTERNAL', state: 'PendingImport' });
        await s.createKey(key, undefined, [{ TagKey: 't', TagValue: 'v' }]);
        assert.deepEqual(bare(await s.getKey(key.keyId)), key);
        assert.deepEqual(await s.listMaterials(key.keyId), []);
        assert.deepEqual(await s.getTags(key.keyId), [{ TagKey: 't', TagValue: 'v' }]);
      }));

      it('putMaterial inserts or replaces a version and writes the key, currentVersion as given', withStore(async (s) => {
        const key = keyRec({ origin: 'EXTERNAL', state: 'PendingImport' });
        await s.createKey(key, undefined, []);
        const tokens = [{ id: 'ab'.repeat(16), validTo: T0 + DAY }];
        const v1 = materialRec(key.keyId, 1);
        const imported = { ...key, state: 'Enabled' as const, expirationModel: 'KEY_MATERIAL_EXPIRES' as const, validTo: T0 + 2 * DAY, importTokens: tokens };
        await s.putMaterial(v1, imported);
        assert.deepEqual(bare(await s.getKey(key.keyId)), imported);
        assert.deepEqual(await s.listMaterials(key.keyId), [v1]);
        // A pending version does not become current.
        const v2 = materialRec(key.keyId, 2);
        await s.putMaterial(v2, { ...imported, pendingVersion: 2 });
        assert.equal((await s.getKey(key.keyId))?.currentVersion, 1);
        assert.equal((await s.getKey(key.keyId))?.pendingVersion, 2);
        // Deleting material empties the sealed bytes and keeps the row and its id.
        const deleted = { ...v1, sealed: Buffer.alloc(0) };
        const { expirationModel: _e, validTo: _v, importTokens: _t, ...pendingImport } = { ...imported, state: 'PendingImport' as const, pendingVersion: 2 };
        await s.putMaterial(deleted, pendingImport);
        const got = await s.getMaterial(key.keyId, 1);
        assert.equal(got?.sealed.length, 0);
        assert.equal(got?.materialId, v1.materialId);
        assert.deepEqual(bare(await s.getKey(key.keyId)), pendingImport, 'cleared import fields read back absent');
        const ghost = keyRec();
        await rejectsWith(s.putMaterial(materialRec(ghost.keyId, 1), ghost), 'NotFound');
      }));

      it('dueForExpiry returns Enabled or Disabled keys whose material expires by now, soonest first', withStore(async (s) => {
        const exp = (validTo: number, over: Partial<KmsKeyRecord> = {}) => ({ origin: 'EXTERNAL' as const, expirationModel: 'KEY_MATERIAL_EXPIRES' as const, validTo, ...over });
        const b = (await newKey(s, exp(T0 + 20))).key;
        const a = (await newKey(s, exp(T0 + 10, { state: 'Disabled' }))).key;
        await newKey(s, exp(T0 + 31));
        await newKey(s, exp(T0, { state: 'PendingImport' }));
        await newKey(s, exp(T0, { state: 'PendingDeletion', deletionDate: T0 + DAY }));
        await newKey(s);
        assert.deepEqual((await s.dueForExpiry(T0 + 30)).map((k) => k.keyId), [a.keyId, b.keyId]);
      }));
    });

    describe('sweeps', () => {
      it('dueForDeletion returns PendingDeletion keys whose date has come, soonest first', withStore(async (s) => {
        const pending = (d: number) => ({ state: 'PendingDeletion' as const, deletionDate: d, pendingWindowInDays: 7 });
        const late = (await newKey(s, pending(T0 + 2000))).key;
        const early = (await newKey(s, pending(T0 + 1000))).key;
        const exact = (await newKey(s, pending(T0 + 3000))).key;
        await newKey(s, pending(T0 + 3001));
        // A cancelled deletion whose record still carries a date is not due.
        await newKey(s, { state: 'Disabled', deletionDate: T0 });
        await newKey(s);
        assert.deepEqual((await s.dueForDeletion(T0 + 3000)).map((k) => k.keyId), [early.keyId, late.keyId, exact.keyId]);
        assert.deepEqual(await s.dueForDeletion(T0), []);
      }));

      it('dueForRotation returns enabled keys with rotation on whose date has come, soonest first', withStore(async (s) => {
        const rot = (d: number, over: Partial<KmsKeyRecord> = {}) => ({ rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: d, ...over });
        const b = (await newKey(s, rot(T0 + 20))).key;
        const a = (await newKey(s, rot(T0 + 10))).key;
        await newKey(s, rot(T0 + 31));
        await newKey(s, rot(T0, { rotationEnabled: false }));
        await newKey(s, rot(T0, { state: 'Disabled' }));
        await newKey(s, rot(T0, { state: 'PendingDeletion', deletionDate: T0 + DAY }));
        assert.deepEqual((await s.dueForRotation(T0 + 30)).map((k) => k.keyId), [a.keyId, b.keyId]);
        await s.addMaterial(materialRec(a.keyId, 2, { rotationType: 'AUTOMATIC' }), { ...a, nextRotationDate: T0 + 90 * DAY });
        assert.deepEqual((await s.dueForRotation(T0 + 30)).map((k) => k.keyId), [b.keyId], 'a rotated key is due again only at its next date');
      }));
    });

    if (opts.twin) {
      const twin = opts.twin;
      // Two stores on one database, written at once: what a cluster's nodes do. Each
      // conflict is raced a few times so the writes overlap in some round.
      const withTwins = (fn: (s: KmsStore, t: KmsStore) => Promise<void>) => withStore(async (s) => {
        const t = await twin(s);
        try {
          await fn(s, t);
        } finally {
          await t.close();
        }
      });
      describe('two stores on one database', () => {
        it('createAlias of one name from both at once: exactly one wins, the other is AliasExists', withTwins(async (s, t) => {
          const a = (await newKey(s)).key;
          const b = (await newKey(t)).key;
          for (let i = 0; i < 5; i++) {
            const name = `alias/race-${i}`;
            const w = await oneWins([s.createAlias(aliasRec(name, a.keyId)), t.createAlias(aliasRec(name, b.keyId))], 'AliasExists');
            assert.equal((await t.getAlias(name))?.keyId, [a, b][w]!.keyId);
            assert.equal((await s.getAlias(name))?.keyId, [a, b][w]!.keyId);
          }
        }));

        it('createGrant of one name on one key from both at once: exactly one wins, the other is GrantExists', withTwins(async (s, t) => {
          const { key } = await newKey(s);
          for (let i = 0; i < 5; i++) {
            const g = [grantRec(key.keyId, { name: `n${i}` }), grantRec(key.keyId, { name: `n${i}` })] as const;
            const w = await oneWins([s.createGrant(g[0]), t.createGrant(g[1])], 'GrantExists');
            assert.deepEqual(await t.findGrantByName(key.keyId, `n${i}`), g[w]);
          }
          assert.equal((await s.listGrants(key.keyId)).length, 5);
        }));

        it('addMaterial of one version from both at once: exactly one wins, the other is MaterialExists', withTwins(async (s, t) => {
          for (let i = 0; i < 3; i++) {
            const { key } = await newKey(s);
            const m = [materialRec(key.keyId, 2), materialRec(key.keyId, 2)] as const;
            const w = await oneWins([s.addMaterial(m[0], key), t.addMaterial(m[1], key)], 'MaterialExists');
            assert.deepEqual(await t.getMaterial(key.keyId, 2), m[w]);
            assert.equal((await s.getKey(key.keyId))?.currentVersion, 2);
          }
        }));

        it('updateKey of one key read by both, written by both at once: exactly one wins, the other is Changed; nothing is lost', withTwins(async (s, t) => {
          const { key } = await newKey(s);
          for (let i = 0; i < 5; i++) {
            const [a, b] = await Promise.all([s.getKey(key.keyId), t.getKey(key.keyId)]);
            assert.equal(a!.revision, b!.revision);
            // Different fields: without the revision, the later write would undo the earlier one.
            const w = await oneWins([s.updateKey({ ...a!, description: `d${i}` }), t.updateKey({ ...b!, state: i % 2 ? 'Enabled' : 'Disabled' })], 'Changed');
            const now = (await s.getKey(key.keyId))!;
            if (w === 0) assert.equal(now.description, `d${i}`);
            else assert.equal(now.state, i % 2 ? 'Enabled' : 'Disabled');
            assert.equal(now.revision, a!.revision! + 1);
          }
        }));

        it('putMaterial of one key read by both (an import with one token on two nodes): exactly one wins, the other is Changed', withTwins(async (s, t) => {
          for (let i = 0; i < 3; i++) {
            const key = keyRec({ origin: 'EXTERNAL', state: 'PendingImport', importTokens: [{ id: 'cd'.repeat(16), validTo: T0 + DAY }] });
            await s.createKey(key, undefined, []);
            const [a, b] = await Promise.all([s.getKey(key.keyId), t.getKey(key.keyId)]);
            const m = [materialRec(key.keyId, 1), materialRec(key.keyId, 1)] as const;
            const used = (k: KmsKeyRecord): KmsKeyRecord => ({ ...k, state: 'Enabled', importTokens: [] });
            const w = await oneWins([s.putMaterial(m[0], used(a!)), t.putMaterial(m[1], used(b!))], 'Changed');
            assert.deepEqual(await t.getMaterial(key.keyId, 1), m[w], 'the winner\'s material, not the loser\'s');
            assert.equal((await s.getKey(key.keyId))?.importTokens, undefined);
          }
        }));

        it('deleteKey while the other store adds an alias, a grant and tags to the key: nothing of the key is left, the adds succeed or are NotFound', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const { key } = await newKey(s);
            const g = grantRec(key.keyId);
            const adds = await Promise.allSettled([
              t.createAlias(aliasRec(`alias/doomed-${i}`, key.keyId)),
              t.createGrant(g),
              t.setTags(key.keyId, [{ TagKey: 'a', TagValue: 'b' }]),
              s.deleteKey(key.keyId),
            ]);
            for (const r of adds) {
              if (r.status === 'rejected') assert.ok(r.reason instanceof KmsStoreConflict && r.reason.kind === 'NotFound', String(r.reason));
            }
            assert.equal(adds[3]!.status, 'fulfilled');
            assert.equal(await t.getKey(key.keyId), undefined);
            assert.equal(await t.getAlias(`alias/doomed-${i}`), undefined);
            assert.equal(await t.getGrant(g.grantId), undefined);
            assert.deepEqual(await t.getTags(key.keyId), []);
          }
        }));

        it('setTags on one key from both at once: both land, each tag key at its own position', withTwins(async (s, t) => {
          const { key } = await newKey(s);
          for (let i = 0; i < 3; i++) {
            const mine = [{ TagKey: `s${i}a`, TagValue: '1' }, { TagKey: `s${i}b`, TagValue: '2' }];
            const theirs = [{ TagKey: `t${i}a`, TagValue: '3' }, { TagKey: `t${i}b`, TagValue: '4' }];
            await Promise.all([s.setTags(key.keyId, mine), t.setTags(key.keyId, theirs)]);
            const got = await t.getTags(key.keyId);
            const round = got.slice(i * 4);
            // One call's tags come before the other's, each pair in its own order.
            assert.ok(
              JSON.stringify(round) === JSON.stringify([...mine, ...theirs]) || JSON.stringify(round) === JSON.stringify([...theirs, ...mine]),
              JSON.stringify(round),
            );
          }
          assert.equal((await s.getTags(key.keyId)).length, 12);
        }));
      });
    }

    if (opts.reopen) {
      const reopen = opts.reopen;
      it('everything survives a close and reopen', withStore(async (s0) => {
        const { key, material } = await newKey(s0, { description: 'persisted' });
        const v2 = materialRec(key.keyId, 2);
        await s0.addMaterial(v2, key);
        await s0.createAlias(aliasRec('alias/p', key.keyId));
        const g = grantRec(key.keyId, { name: 'g', constraints: { encryptionContextEquals: { a: '1' } } });
        await s0.createGrant(g);
        await s0.setTags(key.keyId, [{ TagKey: 'k', TagValue: 'v' }]);
        const s = await reopen(s0);
        assert.deepEqual(bare(await s.getKey(key.keyId)), { ...key, currentVersion: 2 });
        assert.deepEqual(await s.listMaterials(key.keyId), [material, v2]);
        assert.deepEqual(await s.getAlias('alias/p'), aliasRec('alias/p', key.keyId));
        assert.deepEqual(await s.findGrantByName(key.keyId, 'g'), g);
        assert.deepEqual(await s.getTags(key.keyId), [{ TagKey: 'k', TagValue: 'v' }]);
        // Creation order carries on after a restart.
        const g2 = grantRec(key.keyId);
        await s.createGrant(g2);
        assert.deepEqual(await s.listGrants(key.keyId), [g, g2]);
        return s;
      }));
    }
  });
}
